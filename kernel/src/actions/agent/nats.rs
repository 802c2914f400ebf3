//! The NATS adapter: the prompt as a NATS request on the target subject, signed when a secret
//! is configured, with `Nats-Msg-Id` set to the idempotency key; a reply is the acknowledgement.

use minoots_proto::v1::{AgentPromptAction, Timer};

use crate::actions::{Attempt, Executor, failed, refused, truncate};

impl Executor {
    pub(super) async fn agent_nats(
        &self,
        timer: &Timer,
        prompt: &AgentPromptAction,
        key: &str,
        follows: Option<&serde_json::Value>,
    ) -> Attempt {
        let Some(nats) = &self.inner.config.nats else {
            return refused("refused: no NATS connection is configured (MINOOTS_NATS_URL)");
        };
        let body = serde_json::to_vec(&Self::prompt_body(timer, prompt, key, follows))
            .expect("JSON value");
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
}
