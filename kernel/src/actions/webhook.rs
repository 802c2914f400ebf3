//! Webhook actions: an HTTP request (POST by default) to the target URL with the delivery body
//! or the action's own JSON body, signed with the Standard Webhooks scheme; any 2xx is success.
//! An optional `flow_control` limits this tenant's deliveries to the destination ([`flow`]).

use minoots_proto::v1::{Timer, WebhookAction};

use super::{Attempt, Executor, flow, net, refused, validate_timeout};
use crate::{
    error::{KernelError, Result},
    json::struct_to_json,
};

pub(super) fn validate(webhook: &WebhookAction, at: &dyn Fn(&str) -> String) -> Result<()> {
    net::validate_url(&at("webhook.url"), &webhook.url)?;
    if !webhook.method.is_empty()
        && !["GET", "POST", "PUT", "PATCH", "DELETE"]
            .contains(&webhook.method.to_ascii_uppercase().as_str())
    {
        return Err(KernelError::invalid(
            at("webhook.method"),
            "must be GET, POST, PUT, PATCH or DELETE",
        ));
    }
    // The same checks the HTTP client makes when it sends: a header it would refuse at fire
    // time (a CR or LF that could split the request, other control bytes) is refused here.
    for (name, value) in &webhook.headers {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(KernelError::invalid(
                at("webhook.headers"),
                format!(
                    "{:?} is not a header name (letters, digits and !#$%&'*+-.^_`|~ only)",
                    name.chars().take(64).collect::<String>()
                ),
            ));
        }
        if http::HeaderValue::from_str(value).is_err() {
            return Err(KernelError::invalid(
                at(&format!("webhook.headers.{name}")),
                "contains a control character (CR, LF, NUL, ...); header values must be visible text",
            ));
        }
    }
    validate_timeout(&at("webhook.timeout"), webhook.timeout.as_ref())?;
    if let Some(flow) = &webhook.flow_control {
        flow::validate(flow, &at("webhook.flow_control"))?;
    }
    Ok(())
}

impl Executor {
    pub(super) async fn webhook(
        &self,
        timer: &Timer,
        webhook: &WebhookAction,
        key: &str,
        follows: Option<&serde_json::Value>,
    ) -> Attempt {
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
            None => Self::delivery_body(timer, key, follows),
        };
        let mut request = self.inner.http.request(method, url);
        for (name, value) in &webhook.headers {
            request = request.header(name, value);
        }
        self.post_signed(request, key, body, self.timeout(webhook.timeout.as_ref()))
            .await
    }
}
