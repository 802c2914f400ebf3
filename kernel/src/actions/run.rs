//! One attempt of one action, per kind.

use std::{path::Component, time::Duration};

use minoots_proto::v1::{
    Action, AgentAdapter, AgentPromptAction, CommandAction, FileAction, FileWriteMode, Timer,
    WebhookAction, action::Kind,
};
use serde_json::{Value, json};

use super::{Attempt, Executor, Failure, to_std};
use crate::json::{struct_to_json, timer_to_json};

fn truncate(mut text: String, limit: usize) -> String {
    if text.len() > limit {
        let mut cut = limit;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("…[truncated]");
    }
    text
}

/// An error with its causes, which reqwest keeps in `source()`.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A failure retrying cannot fix.
fn refused(why: impl Into<String>) -> Attempt {
    Err(Failure {
        detail: why.into(),
        output: String::new(),
        permanent: true,
    })
}

/// A failure another attempt may not have.
fn failed(detail: impl Into<String>, output: String) -> Attempt {
    Err(Failure {
        detail: detail.into(),
        output,
        permanent: false,
    })
}

impl Executor {
    pub(crate) async fn attempt(&self, timer: &Timer, action: &Action, key: &str) -> Attempt {
        match &action.kind {
            Some(Kind::Webhook(webhook)) => self.webhook(timer, webhook, key).await,
            Some(Kind::Command(command)) => self.command(timer, command, key).await,
            Some(Kind::File(file)) => self.file(timer, file, key).await,
            Some(Kind::AgentPrompt(prompt)) => match prompt.adapter() {
                AgentAdapter::Mcp => self.mcp(timer, prompt, key).await,
                AgentAdapter::Http => self.agent_http(timer, prompt, key).await,
                AgentAdapter::Nats => self.agent_nats(timer, prompt, key).await,
                AgentAdapter::Unspecified => refused("agent_prompt.adapter is not set"),
            },
            None => refused("the action has no kind"),
        }
    }

    fn timeout(&self, requested: Option<&prost_types::Duration>) -> Duration {
        to_std(requested).unwrap_or(self.inner.config.default_timeout)
    }

    /// Parses and screens an outbound URL.
    fn target(&self, url: &str) -> Result<reqwest::Url, String> {
        let url = reqwest::Url::parse(url).map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        self.inner.config.address_policy.check_url(&url)?;
        Ok(url)
    }

    /// Sends a signed JSON request and reads the answer (truncated).
    async fn post_signed(
        &self,
        request: reqwest::RequestBuilder,
        key: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Attempt {
        let Some(signed) = self.inner.config.signer.sign_now(key, &body) else {
            return refused(
                "no signing secret is configured (MINOOTS_SIGNING_SECRETS); deliveries are never sent unsigned",
            );
        };
        let mut request = request
            .timeout(timeout)
            .header("content-type", "application/json")
            .header("idempotency-key", key);
        // The receiver continues the trace from this action's span.
        if let Some(traceparent) = crate::trace::current_traceparent() {
            request = request.header("traceparent", traceparent);
        }
        for (name, value) in signed.headers() {
            request = request.header(name, value);
        }
        let response = match request.body(body).send().await {
            Ok(response) => response,
            // The guard refusing an address surfaces here, from the resolver.
            Err(error) if describe(&error).contains("refused: ") => {
                return refused(describe(&error));
            }
            Err(error) => return failed(describe(&error), String::new()),
        };
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let output = truncate(text, self.inner.config.output_limit);
        let detail = format!("HTTP {}", status.as_u16());
        if status.is_success() {
            Ok((detail, output))
        } else {
            failed(detail, output)
        }
    }

    async fn webhook(&self, timer: &Timer, webhook: &WebhookAction, key: &str) -> Attempt {
        let url = match self.target(&webhook.url) {
            Ok(url) => url,
            Err(why) => return refused(why),
        };
        let method = match webhook.method.as_str() {
            "" => reqwest::Method::POST,
            m => match reqwest::Method::from_bytes(m.to_ascii_uppercase().as_bytes()) {
                Ok(method) => method,
                Err(_) => return refused(format!("invalid HTTP method {m:?}")),
            },
        };
        let body = match &webhook.body {
            Some(body) => serde_json::to_vec(&struct_to_json(body)).expect("JSON value"),
            None => Self::delivery_body(timer, key),
        };
        let mut request = self.inner.http.request(method, url);
        for (name, value) in &webhook.headers {
            request = request.header(name, value);
        }
        self.post_signed(request, key, body, self.timeout(webhook.timeout.as_ref()))
            .await
    }

    async fn command(&self, timer: &Timer, command: &CommandAction, key: &str) -> Attempt {
        let config = &self.inner.config;
        if !config.commands.contains(&command.program) {
            return refused(format!(
                "refused: {:?} is not an allow-listed command (MINOOTS_COMMAND_ALLOW)",
                command.program
            ));
        }
        let mut process = tokio::process::Command::new(&command.program);
        process
            .args(&command.args)
            // No shell, and no environment of the kernel's beyond PATH.
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(&command.env)
            .env("MINOOTS_TIMER_ID", &timer.id)
            .env("MINOOTS_TIMER_NAME", &timer.name)
            .env("MINOOTS_TENANT_ID", &timer.tenant_id)
            .env("MINOOTS_IDEMPOTENCY_KEY", key)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        if !command.working_dir.is_empty() {
            process.current_dir(&command.working_dir);
        }
        let timeout = self.timeout(command.timeout.as_ref());
        let output = match tokio::time::timeout(timeout, process.output()).await {
            Err(_) => {
                return failed(
                    format!("timed out after {timeout:?} (killed)"),
                    String::new(),
                );
            }
            Ok(Err(error)) => {
                return refused(format!("could not start {:?}: {error}", command.program));
            }
            Ok(Ok(output)) => output,
        };
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        let text = truncate(text, config.output_limit);
        let detail = output.status.to_string();
        if output.status.success() {
            Ok((detail, text))
        } else {
            failed(detail, text)
        }
    }

    async fn file(&self, timer: &Timer, file: &FileAction, key: &str) -> Attempt {
        let Some(sandbox) = &self.inner.config.file_sandbox else {
            return refused(
                "refused: file actions need a sandbox directory (MINOOTS_FILE_SANDBOX)",
            );
        };
        // The path may use the same placeholders as the content; the rendered path is checked.
        let rendered_path = render(&file.path, timer, key);
        let relative = std::path::Path::new(&rendered_path);
        let escapes = relative.components().any(|c| {
            matches!(
                c,
                Component::ParentDir | Component::RootDir | Component::Prefix(_)
            )
        });
        if rendered_path.is_empty() || escapes {
            return refused(format!(
                "refused: path {rendered_path:?} must stay inside the sandbox (relative, no `..`)"
            ));
        }
        let content = if file.content.is_empty() {
            let mut body = Self::delivery_body(timer, key);
            body.push(b'\n');
            body
        } else {
            render(&file.content, timer, key).into_bytes()
        };
        let path = sandbox.join(relative);
        let written = async {
            let parent = path.parent().unwrap_or(sandbox);
            tokio::fs::create_dir_all(parent).await?;
            // A symlink inside the sandbox must not lead out of it.
            let root = tokio::fs::canonicalize(sandbox).await?;
            if !tokio::fs::canonicalize(parent).await?.starts_with(&root)
                || tokio::fs::symlink_metadata(&path)
                    .await
                    .is_ok_and(|m| m.file_type().is_symlink())
            {
                return Err(std::io::Error::other(
                    "refused: the path leaves the sandbox through a symlink",
                ));
            }
            let mut options = tokio::fs::OpenOptions::new();
            match file.mode() {
                FileWriteMode::Append => options.append(true).create(true),
                FileWriteMode::Write | FileWriteMode::Unspecified => {
                    options.write(true).create(true).truncate(true)
                }
            };
            let mut handle = options.open(&path).await?;
            tokio::io::AsyncWriteExt::write_all(&mut handle, &content).await?;
            tokio::io::AsyncWriteExt::flush(&mut handle).await?;
            handle.sync_data().await
        }
        .await;
        match written {
            Ok(()) => Ok((
                format!("wrote {} bytes to {}", content.len(), file.path),
                String::new(),
            )),
            Err(error) if error.to_string().starts_with("refused") => refused(error.to_string()),
            Err(error) => failed(error.to_string(), String::new()),
        }
    }

    fn prompt_body(timer: &Timer, prompt: &AgentPromptAction, key: &str) -> Value {
        json!({
            "input": prompt.prompt,
            "prompt": prompt.prompt,
            "arguments": prompt.arguments.as_ref().map(struct_to_json).unwrap_or(json!({})),
            "timer": timer_to_json(timer),
            "idempotencyKey": key,
        })
    }

    async fn agent_http(&self, timer: &Timer, prompt: &AgentPromptAction, key: &str) -> Attempt {
        let url = match self.target(&prompt.target) {
            Ok(url) => url,
            Err(why) => return refused(why),
        };
        let body = serde_json::to_vec(&Self::prompt_body(timer, prompt, key)).expect("JSON value");
        let request = self.inner.http.post(url);
        self.post_signed(
            request,
            key,
            body,
            self.timeout(prompt.ack_timeout.as_ref()),
        )
        .await
    }

    async fn agent_nats(&self, timer: &Timer, prompt: &AgentPromptAction, key: &str) -> Attempt {
        let Some(nats) = &self.inner.config.nats else {
            return refused("refused: no NATS connection is configured (MINOOTS_NATS_URL)");
        };
        let body = serde_json::to_vec(&Self::prompt_body(timer, prompt, key)).expect("JSON value");
        let mut headers = async_nats::HeaderMap::new();
        if let Some(signed) = self.inner.config.signer.sign_now(key, &body) {
            for (name, value) in signed.headers() {
                headers.insert(name, value.as_str());
            }
        }
        headers.insert("Nats-Msg-Id", key);
        let timeout = self.timeout(prompt.ack_timeout.as_ref());
        let request = async_nats::Request::new()
            .payload(body.into())
            .headers(headers)
            .timeout(Some(timeout));
        match nats.send_request(prompt.target.clone(), request).await {
            Ok(reply) => Ok((
                format!("acknowledged on {}", prompt.target),
                truncate(
                    String::from_utf8_lossy(&reply.payload).into_owned(),
                    self.inner.config.output_limit,
                ),
            )),
            Err(error) => failed(
                format!("no acknowledgement on {}: {error}", prompt.target),
                String::new(),
            ),
        }
    }

    /// MCP over streamable HTTP: `initialize`, `notifications/initialized`, then `tools/call`.
    async fn mcp(&self, timer: &Timer, prompt: &AgentPromptAction, key: &str) -> Attempt {
        let url = match self.target(&prompt.target) {
            Ok(url) => url,
            Err(why) => return refused(why),
        };
        if prompt.tool.is_empty() {
            return refused("agent_prompt.tool names the MCP tool to call");
        }
        let timeout = self.timeout(prompt.ack_timeout.as_ref());
        let session = McpSession {
            http: &self.inner.http,
            url,
            timeout,
        };
        let called =
            async {
                let (init, session_id) = session
                .call(None, None, json!({
                    "jsonrpc": "2.0", "id": 1, "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-03-26",
                        "capabilities": {},
                        "clientInfo": {"name": "minoots", "version": env!("CARGO_PKG_VERSION")},
                    },
                }))
                .await?;
                let version = init
                    .pointer("/result/protocolVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("2025-03-26")
                    .to_owned();
                session
                    .notify(
                        session_id.as_deref(),
                        &version,
                        json!({
                            "jsonrpc": "2.0", "method": "notifications/initialized",
                        }),
                    )
                    .await?;
                let mut arguments = prompt
                    .arguments
                    .as_ref()
                    .map(struct_to_json)
                    .unwrap_or(json!({}));
                if let Some(object) = arguments.as_object_mut() {
                    if !prompt.prompt.is_empty() {
                        object.entry("prompt").or_insert(json!(prompt.prompt));
                    }
                    object.entry("timer_id").or_insert(json!(timer.id));
                    object.entry("idempotency_key").or_insert(json!(key));
                }
                let (result, _) = session
                    .call(
                        session_id.as_deref(),
                        Some(&version),
                        json!({
                            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
                            "params": {"name": prompt.tool, "arguments": arguments},
                        }),
                    )
                    .await?;
                Ok::<Value, String>(result)
            };
        let result = match tokio::time::timeout(timeout, called).await {
            Err(_) => {
                return failed(
                    format!("MCP call timed out after {timeout:?}"),
                    String::new(),
                );
            }
            Ok(Err(why)) if why.contains("refused: ") => return refused(why),
            Ok(Err(why)) => return failed(why, String::new()),
            Ok(Ok(result)) => result,
        };
        if let Some(error) = result.get("error") {
            return failed(format!("MCP error: {error}"), String::new());
        }
        let text: String = result
            .pointer("/result/content")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|c| c.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default();
        let output = truncate(text, self.inner.config.output_limit);
        let tool = &prompt.tool;
        if result.pointer("/result/isError").and_then(Value::as_bool) == Some(true) {
            failed(format!("MCP tool {tool} reported an error"), output)
        } else {
            Ok((format!("MCP tool {tool} called"), output))
        }
    }
}

struct McpSession<'a> {
    http: &'a reqwest::Client,
    url: reqwest::Url,
    timeout: Duration,
}

impl McpSession<'_> {
    fn request(
        &self,
        session: Option<&str>,
        version: Option<&str>,
        body: &Value,
    ) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .post(self.url.clone())
            .timeout(self.timeout)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        if let Some(version) = version {
            request = request.header("mcp-protocol-version", version);
        }
        if let Some(traceparent) = crate::trace::current_traceparent() {
            request = request.header("traceparent", traceparent);
        }
        request
    }

    /// A JSON-RPC request; the answer may come as JSON or as a server-sent event stream.
    async fn call(
        &self,
        session: Option<&str>,
        version: Option<&str>,
        body: Value,
    ) -> Result<(Value, Option<String>), String> {
        let id = body["id"].clone();
        let response = self
            .request(session, version, &body)
            .send()
            .await
            .map_err(|e| format!("MCP {}: {}", body["method"], describe(&e)))?;
        let status = response.status();
        let session_id = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| session.map(str::to_owned));
        let is_sse = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("text/event-stream"));
        let text = response.text().await.map_err(|e| describe(&e))?;
        if !status.is_success() {
            return Err(format!(
                "MCP {}: HTTP {}: {}",
                body["method"],
                status.as_u16(),
                truncate(text, 300)
            ));
        }
        let messages: Vec<Value> = if is_sse {
            sse_data(&text)
                .iter()
                .filter_map(|data| serde_json::from_str(data).ok())
                .collect()
        } else {
            match serde_json::from_str(&text) {
                Ok(Value::Array(items)) => items,
                Ok(one) => vec![one],
                Err(e) => return Err(format!("MCP {}: not JSON: {e}", body["method"])),
            }
        };
        messages
            .into_iter()
            .find(|m| m.get("id") == Some(&id))
            .map(|m| (m, session_id))
            .ok_or_else(|| format!("MCP {}: no response with id {id}", body["method"]))
    }

    async fn notify(
        &self,
        session: Option<&str>,
        version: &str,
        body: Value,
    ) -> Result<(), String> {
        let response = self
            .request(session, Some(version), &body)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!(
                "MCP {}: HTTP {}",
                body["method"],
                response.status().as_u16()
            ))
        }
    }
}

/// The `data` of each event of a server-sent event stream.
fn sse_data(text: &str) -> Vec<String> {
    let mut events = Vec::new();
    let mut data: Vec<&str> = Vec::new();
    for line in text.lines().chain(std::iter::once("")) {
        if line.is_empty() {
            if !data.is_empty() {
                events.push(data.join("\n"));
                data.clear();
            }
        } else if let Some(rest) = line.strip_prefix("data:") {
            data.push(rest.strip_prefix(' ').unwrap_or(rest));
        }
    }
    events
}

/// `{{timer.id}}`, `{{timer.name}}`, `{{timer.tenant_id}}`, `{{timer.fired_at}}`,
/// `{{idempotency_key}}` and `{{payload}}` (the delivery JSON) in file contents.
pub fn render(template: &str, timer: &Timer, key: &str) -> String {
    let fired_at = timer
        .fired_at
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let mut text = template
        .replace("{{timer.id}}", &timer.id)
        .replace("{{timer.name}}", &timer.name)
        .replace("{{timer.tenant_id}}", &timer.tenant_id)
        .replace("{{timer.fired_at}}", &fired_at)
        .replace("{{idempotency_key}}", key);
    if text.contains("{{payload}}") {
        let payload =
            String::from_utf8(Executor::delivery_body(timer, key)).expect("JSON is UTF-8");
        text = text.replace("{{payload}}", &payload);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_are_split_and_joined() {
        let text = "event: message\ndata: {\"a\":1}\n\ndata: {\"id\":2,\ndata: \"x\":3}\n\n";
        assert_eq!(sse_data(text), ["{\"a\":1}", "{\"id\":2,\n\"x\":3}"]);
    }

    #[test]
    fn templates_render_timer_fields_and_output_is_truncated() {
        let timer = Timer {
            id: "t1".into(),
            name: "standup".into(),
            tenant_id: "acme".into(),
            ..Timer::default()
        };
        assert_eq!(
            render(
                "{{timer.name}} ({{timer.id}}) {{idempotency_key}}",
                &timer,
                "k"
            ),
            "standup (t1) k"
        );
        assert!(render("{{payload}}", &timer, "k").contains("\"type\":\"timer.fired\""));
        assert_eq!(truncate("ééé".into(), 3), "é…[truncated]");
    }
}
