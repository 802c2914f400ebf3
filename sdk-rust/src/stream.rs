use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use minoots_proto::v1::{StreamTimerEventsRequest, TimerEvent, TimerEventType};
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tonic::Streaming;

use crate::{Error, client::TimerClient};

/// Which events to stream.
#[derive(Debug, Clone, Default)]
pub struct StreamOptions {
    /// Replay retained events after this sequence, then go live. `None`: live events only.
    pub after_sequence: Option<u64>,
    /// Only these types; empty means all.
    pub event_types: Vec<TimerEventType>,
    /// `key=value,!other`, as in lists.
    pub label_selector: String,
}

impl StreamOptions {
    pub fn after_sequence(mut self, sequence: u64) -> Self {
        self.after_sequence = Some(sequence);
        self
    }

    pub fn event_types(mut self, types: impl IntoIterator<Item = TimerEventType>) -> Self {
        self.event_types.extend(types);
        self
    }

    /// Event types by name (`fired` or `timer.fired`); an unknown name is an
    /// [`Error::InvalidArgument`] for `event_types`.
    pub fn event_type_names<S: AsRef<str>>(
        mut self,
        names: impl IntoIterator<Item = S>,
    ) -> Result<Self, Error> {
        for name in names {
            let name = name.as_ref();
            self.event_types
                .push(TimerEventType::from_wire_name(name).ok_or_else(|| {
                    Error::InvalidArgument {
                        field: "event_types".into(),
                        message: format!("unknown event type {name:?}"),
                    }
                })?);
        }
        Ok(self)
    }

    pub fn label_selector(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = selector.into();
        self
    }

    pub(crate) fn request(&self, after_sequence: Option<u64>) -> StreamTimerEventsRequest {
        StreamTimerEventsRequest {
            tenant_id: String::new(),
            after_sequence,
            event_types: self.event_types.iter().map(|t| *t as i32).collect(),
            label_selector: self.label_selector.clone(),
        }
    }
}

/// How a broken event stream reconnects: exponential backoff with jitter, from `initial` up to
/// `max`, for as long as the stream is held.
#[derive(Debug, Clone, Copy)]
pub struct Reconnect {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Reconnect {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }
}

/// A tenant's lifecycle events that survives broken connections: after a retryable failure it
/// reconnects with backoff and resumes after the last sequence it delivered, so nothing retained
/// is missed or repeated. It ends with an error only for failures that a retry cannot fix
/// (`Unauthenticated`, `PermissionDenied`, ...). Dropping it stops the background task.
///
/// A stream opened live (no `after_sequence`) resumes exactly once it has delivered an event;
/// with the region `*` sequences are per region, so resume after a break is live.
#[derive(Debug)]
pub struct EventStream {
    events: mpsc::Receiver<Result<TimerEvent, Error>>,
    task: tokio::task::JoinHandle<()>,
}

impl EventStream {
    /// Takes over the first subscription (opened by the caller, so a bad key fails there
    /// rather than in the stream) and keeps it going.
    pub(crate) fn start(
        client: TimerClient,
        options: StreamOptions,
        reconnect: Reconnect,
        spans_regions: bool,
        first: Streaming<TimerEvent>,
    ) -> Self {
        let (tx, events) = mpsc::channel(256);
        let producer = Producer {
            client,
            options,
            reconnect,
            resumable: !spans_regions,
            tx,
        };
        let task = tokio::spawn(producer.run(first));
        Self { events, task }
    }

    /// The next event; `None` once the stream has ended (after an error it could not recover
    /// from).
    pub async fn next_event(&mut self) -> Option<Result<TimerEvent, Error>> {
        self.events.recv().await
    }

    /// Stops the stream; later calls to [`EventStream::next_event`] return what was already
    /// received, then `None`.
    pub fn close(&mut self) {
        self.task.abort();
        self.events.close();
    }

    /// A handle that stops the stream from elsewhere (another task or thread), even while a
    /// reader waits in [`EventStream::next_event`]: the reader then gets `None`.
    pub fn close_handle(&self) -> CloseHandle {
        CloseHandle(self.task.abort_handle())
    }
}

/// Stops an [`EventStream`]; see [`EventStream::close_handle`].
#[derive(Debug, Clone)]
pub struct CloseHandle(tokio::task::AbortHandle);

impl CloseHandle {
    pub fn close(&self) {
        self.0.abort();
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stream for EventStream {
    type Item = Result<TimerEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.poll_recv(cx)
    }
}

struct Producer {
    client: TimerClient,
    options: StreamOptions,
    reconnect: Reconnect,
    resumable: bool,
    tx: mpsc::Sender<Result<TimerEvent, Error>>,
}

impl Producer {
    async fn run(self, first: Streaming<TimerEvent>) {
        let mut last = self.options.after_sequence;
        let mut current = Some(first);
        let mut backoff = self.reconnect.initial;
        loop {
            let outcome = match current.take() {
                Some(stream) => self.forward(stream, &mut last, &mut backoff).await,
                None => {
                    let after = if self.resumable { last } else { None };
                    match self
                        .client
                        .clone()
                        .stream_timer_events(self.options.request(after))
                        .await
                    {
                        Ok(response) => {
                            current = Some(response.into_inner());
                            continue;
                        }
                        Err(status) => Err(Error::from(status)),
                    }
                }
            };
            match outcome {
                Ok(()) | Err(Error::Unavailable { .. } | Error::Transport(_)) => {}
                Err(fatal) => {
                    let _ = self.tx.send(Err(fatal)).await;
                    return;
                }
            }
            tokio::select! {
                _ = self.tx.closed() => return,
                _ = tokio::time::sleep(jittered(backoff)) => {}
            }
            backoff = (backoff * 2).min(self.reconnect.max);
        }
    }

    /// Forwards events until the server ends the stream (`Ok`) or it fails.
    async fn forward(
        &self,
        mut stream: Streaming<TimerEvent>,
        last: &mut Option<u64>,
        backoff: &mut Duration,
    ) -> Result<(), Error> {
        loop {
            let message = tokio::select! {
                _ = self.tx.closed() => return Ok(()),
                message = stream.message() => message?,
            };
            let Some(event) = message else {
                return Ok(());
            };
            *backoff = self.reconnect.initial;
            *last = Some(event.sequence);
            if self.tx.send(Ok(event)).await.is_err() {
                return Ok(());
            }
        }
    }
}

/// 50–100 % of `d`, so clients cut off together do not reconnect together.
fn jittered(d: Duration) -> Duration {
    use std::hash::{BuildHasher, RandomState};
    let fraction =
        (RandomState::new().hash_one(std::time::Instant::now()) % 1_000) as f64 / 2_000.0;
    d.mul_f64(0.5 + fraction)
}
