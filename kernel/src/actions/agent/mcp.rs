//! The MCP adapter: calls the agent's tool over MCP streamable HTTP (`initialize`,
//! `notifications/initialized`, then `tools/call`), reading answers sent as JSON or as a
//! server-sent event stream.

use std::time::Duration;

use minoots_proto::v1::{AgentPromptAction, Timer};
use serde_json::{Value, json};

use crate::{
    actions::{Attempt, Executor, failed, net::describe, refused, truncate},
    json::struct_to_json,
};

impl Executor {
    /// MCP over streamable HTTP: `initialize`, `notifications/initialized`, then `tools/call`.
    pub(super) async fn mcp(
        &self,
        timer: &Timer,
        prompt: &AgentPromptAction,
        key: &str,
    ) -> Attempt {
        let (url, tool) = match self.agent_endpoint(prompt) {
            Ok(endpoint) => endpoint,
            Err(why) => return refused(why),
        };
        if tool.is_empty() {
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
                            "params": {"name": tool, "arguments": arguments},
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_are_split_and_joined() {
        let text = "event: message\ndata: {\"a\":1}\n\ndata: {\"id\":2,\ndata: \"x\":3}\n\n";
        assert_eq!(sse_data(text), ["{\"a\":1}", "{\"id\":2,\n\"x\":3}"]);
    }
}
