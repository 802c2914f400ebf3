//! W3C trace context (`traceparent`) between requests, timers, events and actions, so one trace
//! runs from the schedule call to the action. Spans are `tracing` spans; the process that
//! installs an OpenTelemetry layer (the `minoots` binary, when `OTEL_EXPORTER_OTLP_ENDPOINT` is
//! set) exports them. Without one, all of this costs a few no-op calls.

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::TraceContextExt as _,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct One(Option<String>);

impl Injector for One {
    fn set(&mut self, key: &str, value: String) {
        if key == "traceparent" {
            self.0 = Some(value);
        }
    }
}

struct Text<'a>(&'a str);

impl Extractor for Text<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent").then_some(self.0)
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

/// The trace context a request carries in `traceparent` (an empty context if none).
pub fn from_headers(headers: &http::HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&Headers(headers))
}

/// The context of a stored `traceparent`.
pub fn from_traceparent(traceparent: &str) -> Context {
    TraceContextPropagator::new().extract(&Text(traceparent))
}

/// The current span as a `traceparent`, when it is part of a sampled trace.
pub fn current_traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut one = One(None);
    TraceContextPropagator::new().inject_context(&context, &mut one);
    one.0
}

/// The trace id (32 hex digits) of a `traceparent`.
pub fn trace_id(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.split('-');
    let (_, id) = (parts.next()?, parts.next()?);
    (id.len() == 32).then_some(id)
}

/// Makes `span` a child of the context in `traceparent` (no-op when empty or malformed).
pub fn set_parent(span: &tracing::Span, traceparent: &str) {
    if !traceparent.is_empty() {
        let _ = span.set_parent(from_traceparent(traceparent));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_round_trip() {
        let text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = from_traceparent(text);
        assert!(context.span().span_context().is_remote());
        assert_eq!(
            context.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(trace_id(text), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert!(!from_traceparent("garbage").span().span_context().is_valid());
        assert_eq!(current_traceparent(), None, "no layer, no trace");
    }
}
