//! Agent prompt actions: a prompt (with arguments and the timer) handed to an agent through one
//! of three adapters, each in its own file: `mcp` (a `tools/call` over streamable HTTP), `http`
//! (a signed JSON POST) or `nats` (a request that the agent acknowledges).

mod http;
mod mcp;
mod nats;

use minoots_proto::v1::{AgentAdapter, AgentPromptAction, Timer};
use serde_json::{Value, json};

use super::{Attempt, Executor, flow, net, refused, validate_timeout};
use crate::{
    error::{KernelError, Result},
    json::{struct_to_json, timer_to_json},
};

pub(super) fn validate(prompt: &AgentPromptAction, at: &dyn Fn(&str) -> String) -> Result<()> {
    let adapter = AgentAdapter::try_from(prompt.adapter)
        .ok()
        .filter(|a| *a != AgentAdapter::Unspecified)
        .ok_or_else(|| {
            KernelError::invalid(at("agent_prompt.adapter"), "must be MCP, HTTP or NATS")
        })?;
    match adapter {
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
    if adapter == AgentAdapter::Mcp && prompt.tool.is_empty() {
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
