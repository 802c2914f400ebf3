//! Agent prompt actions: a prompt (with arguments and the timer) handed to an agent through one
//! of three adapters, each in its own file: `mcp` (a `tools/call` over streamable HTTP), `http`
//! (a signed JSON POST) or `nats` (a request that the agent acknowledges).

mod http;
mod mcp;
mod nats;

use std::collections::HashMap;

use minoots_proto::v1::{AgentAdapter, AgentPromptAction, Timer};
use serde_json::{Value, json};

use super::{Attempt, Executor, flow, net, refused, validate_timeout};
use crate::{
    error::{KernelError, Result},
    json::{struct_to_json, timer_to_json},
};

/// Agents the operator registered by name (`--agent NAME=URL[#TOOL]`), so that an MCP or HTTP
/// agent prompt may name its target as the original control plane did (`"target":
/// "demo-agent"`) instead of giving a URL. For MCP the fragment names the tool to call when the
/// prompt names none (a fragment is never sent to the server).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentRegistry(HashMap<String, (String, String)>);

impl AgentRegistry {
    /// `demo-agent=http://127.0.0.1:9000/mcp#remind,other=https://agent.example/hook`.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut agents = HashMap::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, url) = entry
                .split_once('=')
                .ok_or_else(|| format!("agent {entry:?}: expected NAME=URL"))?;
            if !is_agent_name(name) {
                return Err(format!(
                    "agent name {name:?}: letters, digits, '.', '_' and '-', starting with a letter or digit"
                ));
            }
            let mut url = reqwest::Url::parse(url)
                .map_err(|e| format!("agent {name}: invalid URL {url:?}: {e}"))?;
            let tool = url.fragment().unwrap_or_default().to_owned();
            url.set_fragment(None);
            agents.insert(name.to_owned(), (url.to_string(), tool));
        }
        Ok(Self(agents))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A target that names a registered agent rather than giving a URL.
pub(crate) fn is_agent_name(target: &str) -> bool {
    target.len() <= 128
        && target
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && target
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub(super) fn validate(prompt: &AgentPromptAction, at: &dyn Fn(&str) -> String) -> Result<()> {
    let adapter = AgentAdapter::try_from(prompt.adapter)
        .ok()
        .filter(|a| *a != AgentAdapter::Unspecified)
        .ok_or_else(|| {
            KernelError::invalid(at("agent_prompt.adapter"), "must be MCP, HTTP or NATS")
        })?;
    match adapter {
        // A registered agent's name; which agents exist is the server's to say when it runs.
        AgentAdapter::Mcp | AgentAdapter::Http if is_agent_name(&prompt.target) => {}
        AgentAdapter::Mcp | AgentAdapter::Http => {
            net::validate_url(&at("agent_prompt.target"), &prompt.target)?
        }
        _ if prompt.target.is_empty() => {
            return Err(KernelError::invalid(
                at("agent_prompt.target"),
                "is required (a NATS subject)",
            ));
        }
        _ => {}
    }
    if adapter == AgentAdapter::Mcp && prompt.tool.is_empty() && !is_agent_name(&prompt.target) {
        return Err(KernelError::invalid(
            at("agent_prompt.tool"),
            "is required for the MCP adapter",
        ));
    }
    validate_timeout(&at("agent_prompt.ack_timeout"), prompt.ack_timeout.as_ref())?;
    if let Some(flow) = &prompt.flow_control {
        flow::validate(flow, &at("agent_prompt.flow_control"))?;
    }
    Ok(())
}

impl Executor {
    /// Where an MCP or HTTP prompt goes, and the MCP tool: its URL target, or the registered
    /// agent it names (whose tool applies when the prompt names none).
    fn agent_endpoint(
        &self,
        prompt: &AgentPromptAction,
    ) -> std::result::Result<(reqwest::Url, String), String> {
        if !is_agent_name(&prompt.target) {
            return Ok((self.target(&prompt.target)?, prompt.tool.clone()));
        }
        let (url, tool) = self.inner.config.agents.0.get(&prompt.target).ok_or_else(|| {
            format!(
                "agent_prompt.target: no agent {:?} is registered on this server (start it with --agent {}=URL)",
                prompt.target, prompt.target
            )
        })?;
        let tool = if prompt.tool.is_empty() {
            tool.clone()
        } else {
            prompt.tool.clone()
        };
        Ok((self.target(url)?, tool))
    }

    pub(super) async fn agent_prompt(
        &self,
        timer: &Timer,
        prompt: &AgentPromptAction,
        key: &str,
        follows: Option<&Value>,
    ) -> Attempt {
        match prompt.adapter() {
            AgentAdapter::Mcp => self.mcp(timer, prompt, key).await,
            AgentAdapter::Http => self.agent_http(timer, prompt, key, follows).await,
            AgentAdapter::Nats => self.agent_nats(timer, prompt, key, follows).await,
            AgentAdapter::Unspecified => refused("agent_prompt.adapter is not set"),
        }
    }

    /// The prompt an HTTP or NATS agent receives; a callback's adds `callback` and `outcome`
    /// (what it follows), as a callback webhook's delivery does.
    fn prompt_body(
        timer: &Timer,
        prompt: &AgentPromptAction,
        key: &str,
        follows: Option<&Value>,
    ) -> Value {
        let mut body = json!({
            "input": prompt.prompt,
            "prompt": prompt.prompt,
            "arguments": prompt.arguments.as_ref().map(struct_to_json).unwrap_or(json!({})),
            "timer": timer_to_json(timer),
            "idempotencyKey": key,
        });
        if let Some(Value::Object(follows)) = follows {
            for (name, value) in follows {
                body[name] = value.clone();
            }
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_agents_parse_with_their_tool_and_bad_entries_are_named() {
        let agents = AgentRegistry::parse(
            "demo-agent=http://127.0.0.1:9000/mcp#remind, hook=https://a.example/x",
        )
        .unwrap();
        assert_eq!(
            agents.0["demo-agent"],
            ("http://127.0.0.1:9000/mcp".to_owned(), "remind".to_owned())
        );
        assert_eq!(agents.0["hook"].1, "");
        assert!(AgentRegistry::parse("").unwrap().is_empty());
        for (bad, says) in [
            ("demo-agent", "expected NAME=URL"),
            ("-x=http://a", "agent name"),
            ("x=not a url", "invalid URL"),
        ] {
            let error = AgentRegistry::parse(bad).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
        }
        // A name is accepted as a target without a tool; a URL-looking target must be a URL.
        let prompt = |target: &str| AgentPromptAction {
            adapter: AgentAdapter::Mcp as i32,
            target: target.into(),
            ..Default::default()
        };
        let at = |f: &str| f.to_owned();
        assert!(validate(&prompt("demo-agent"), &at).is_ok());
        assert!(
            validate(&prompt("http://x/mcp"), &at).is_err(),
            "MCP URL without a tool"
        );
        assert!(validate(&prompt("not a name"), &at).is_err());
    }
}
