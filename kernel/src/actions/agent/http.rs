//! The HTTP adapter: the prompt as a JSON POST to the agent's URL, signed like a webhook.

use minoots_proto::v1::{AgentPromptAction, Timer};

use crate::actions::{Attempt, Executor, refused};

impl Executor {
    pub(super) async fn agent_http(
        &self,
        timer: &Timer,
        prompt: &AgentPromptAction,
        key: &str,
        follows: Option<&serde_json::Value>,
    ) -> Attempt {
        let url = match self.agent_endpoint(prompt) {
            Ok((url, _)) => url,
            Err(why) => return refused(why),
        };
        let body = serde_json::to_vec(&Self::prompt_body(timer, prompt, key, follows))
            .expect("JSON value");
        let request = self.inner.http.post(url);
        self.post_signed(
            request,
            key,
            body,
            self.timeout(prompt.ack_timeout.as_ref()),
        )
        .await
    }
}
