//! Publishing events to NATS JetStream through a durable outbox.
//!
//! The event log in the store is the outbox: each tenant has a publish cursor (the last sequence
//! JetStream acknowledged). The publisher reads events after the cursor, in sequence order,
//! publishes each to `<prefix>.<event type>` (`minoots.timer.fired`) with `Nats-Msg-Id` set to its
//! dedupe key and the Standard Webhooks headers, and moves the cursor once JetStream acknowledged.
//! Events written while NATS is unreachable stay behind the cursor and go out when it is back;
//! a re-publish after a crash between acknowledgement and cursor write is dropped by JetStream's
//! duplicate window. A `timer.failed` event is followed by the timer's dead letters on
//! `<prefix>.dlq`.

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_nats::jetstream::{self, message::PublishMessage, stream};
use minoots_proto::v1::{TimerEvent, TimerEventType};
use tokio::sync::Notify;

use crate::{Inner, backoff::Backoff, error::Result, signing::Signer};

/// Where and how events are published.
#[derive(Clone)]
pub struct Publishing {
    pub client: async_nats::Client,
    /// JetStream stream, created or updated on start: `MINOOTS_TIMER`.
    pub stream: String,
    /// Subject prefix: events go to `<prefix>.<type>` (`minoots.timer.fired`), dead letters to
    /// `<prefix>.dlq`.
    pub subject_prefix: String,
    /// Every event to this one subject instead (the original `NATS_SUBJECT`).
    pub event_subject: Option<String>,
    /// Dead letters to this subject instead of `<prefix>.dlq` (the original `NATS_DLQ_SUBJECT`).
    pub dead_letter_subject: Option<String>,
    pub signer: Signer,
}

impl std::fmt::Debug for Publishing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publishing")
            .field("stream", &self.stream)
            .field("subject_prefix", &self.subject_prefix)
            .finish_non_exhaustive()
    }
}

/// Events published per JetStream round trip window.
const WINDOW: usize = 256;

impl Publishing {
    pub fn subject(&self, event_type: TimerEventType) -> String {
        if let Some(subject) = &self.event_subject {
            return subject.clone();
        }
        let name = event_type.wire_name();
        let short = name.strip_prefix("timer.").unwrap_or(name);
        format!("{}.{short}", self.subject_prefix)
    }

    pub fn dlq_subject(&self) -> String {
        self.dead_letter_subject
            .clone()
            .unwrap_or_else(|| format!("{}.dlq", self.subject_prefix))
    }

    /// What the stream captures: the prefix, and the configured subjects outside it.
    fn stream_subjects(&self) -> Vec<String> {
        let prefix = format!("{}.", self.subject_prefix);
        let mut subjects = vec![format!("{}.>", self.subject_prefix)];
        for subject in [&self.event_subject, &self.dead_letter_subject]
            .into_iter()
            .flatten()
        {
            if !subject.starts_with(&prefix) && !subjects.contains(subject) {
                subjects.push(subject.clone());
            }
        }
        subjects
    }

    async fn ensure_stream(&self, js: &jetstream::Context) -> Result<(), String> {
        let config = stream::Config {
            name: self.stream.clone(),
            subjects: self.stream_subjects(),
            duplicate_window: Duration::from_secs(600),
            ..Default::default()
        };
        js.create_or_update_stream(config)
            .await
            .map(|_| ())
            .map_err(|e| format!("creating or updating stream {}: {e}", self.stream))
    }

    fn message(&self, id: &str, payload: Vec<u8>) -> PublishMessage {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("content-type", "application/json");
        if let Some(signed) = self.signer.sign_now(id, &payload) {
            for (name, value) in signed.headers() {
                headers.insert(name, value.as_str());
            }
        }
        PublishMessage::build()
            .payload(payload.into())
            .headers(headers)
            .message_id(id)
    }
}

/// Runs while the kernel lives; publishes only while it leads.
pub(crate) async fn run(inner: Arc<Inner>, publishing: Publishing) {
    let js = jetstream::new(publishing.client.clone());
    let wake = Arc::new(Notify::new());
    // Any new event wakes the publisher; it reads what to send from the store.
    let mut events = inner.bus.subscribe();
    let waker = {
        let wake = wake.clone();
        let stop = inner.stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    received = events.recv() => match received {
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => wake.notify_one(),
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                }
            }
        })
    };
    let mut stream_ready = false;
    let mut backoff = Backoff::new(Duration::from_millis(100), 2.0, Duration::from_secs(5));
    loop {
        tokio::select! {
            () = inner.stop.cancelled() => break,
            () = wake.notified() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if !inner.leader.load(std::sync::atomic::Ordering::SeqCst) {
            continue;
        }
        let round = async {
            if !stream_ready {
                publishing.ensure_stream(&js).await?;
                stream_ready = true;
                tracing::info!(stream = %publishing.stream, "NATS JetStream stream ready");
            }
            drain(&inner, &publishing, &js).await
        };
        match round.await {
            Ok(()) => backoff.reset(),
            Err(error) => {
                let retry_in = backoff.next();
                tracing::warn!(%error, ?retry_in, "publishing events to NATS failed; they stay in the outbox");
                tokio::select! {
                    () = inner.stop.cancelled() => break,
                    () = tokio::time::sleep(retry_in) => {}
                }
                wake.notify_one();
            }
        }
    }
    waker.abort();
}

/// Publishes everything behind the cursors.
async fn drain(
    inner: &Inner,
    publishing: &Publishing,
    js: &jetstream::Context,
) -> Result<(), String> {
    let store = &inner.store;
    let heads = store.event_heads().await.map_err(|e| e.to_string())?;
    let cursors = store.publish_cursors().await.map_err(|e| e.to_string())?;
    for (tenant, head) in heads {
        let mut cursor = cursors.get(&tenant).copied().unwrap_or(0);
        while cursor < head {
            let events = store
                .events_after(&tenant, cursor, WINDOW)
                .await
                .map_err(|e| e.to_string())?;
            let Some(last) = events.last().map(|e| e.sequence) else {
                break;
            };
            publish_window(inner, publishing, js, &events).await?;
            cursor = last;
            store
                .set_publish_cursor(&tenant, cursor)
                .await
                .map_err(|e| e.to_string())?;
            inner.bus.metrics.events_published.add(events.len() as u64);
        }
    }
    Ok(())
}

/// Sends a window of events (and the dead letters of failed timers), then waits for every
/// acknowledgement.
async fn publish_window(
    inner: &Inner,
    publishing: &Publishing,
    js: &jetstream::Context,
    events: &[TimerEvent],
) -> Result<(), String> {
    let mut acks = Vec::with_capacity(events.len());
    for event in events {
        let event_type = TimerEventType::try_from(event.event_type).unwrap_or_default();
        let message = publishing.message(&event.dedupe_key, event.payload.clone());
        let ack = js
            .send_publish(publishing.subject(event_type), message)
            .await
            .map_err(|e| format!("publishing {}: {e}", event.dedupe_key))?;
        acks.push(ack);
        if event_type == TimerEventType::Failed {
            for letter in inner
                .store
                .timer_dead_letters(&event.timer_id)
                .await
                .map_err(|e| e.to_string())?
            {
                let payload = dead_letter_json(&letter);
                let id = format!("dlq:{}:{}", letter.id, letter.replays);
                let ack = js
                    .send_publish(publishing.dlq_subject(), publishing.message(&id, payload))
                    .await
                    .map_err(|e| format!("publishing dead letter {}: {e}", letter.id))?;
                acks.push(ack);
            }
        }
    }
    for ack in acks {
        ack.await
            .map_err(|e| format!("JetStream did not acknowledge: {e}"))?;
    }
    Ok(())
}

pub fn dead_letter_json(letter: &minoots_proto::v1::DeadLetter) -> Vec<u8> {
    serde_json::to_vec(&crate::json::dead_letter_to_json(letter)).expect("JSON value")
}

/// Counts events behind the cursor, per tenant (for tests and diagnostics).
pub async fn backlog(store: &dyn crate::store::Store) -> Result<HashMap<String, u64>> {
    let heads = store.event_heads().await?;
    let cursors = store.publish_cursors().await?;
    Ok(heads
        .into_iter()
        .map(|(tenant, head)| {
            let behind = head.saturating_sub(cursors.get(&tenant).copied().unwrap_or(0));
            (tenant, behind)
        })
        .filter(|(_, behind)| *behind > 0)
        .collect())
}
