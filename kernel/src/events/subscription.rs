//! Event streams to clients: one task per subscriber that first sends what the store holds after
//! the resume point, then follows the live bus, falling back to the store after a gap or a lag.
//! Streams end with UNAVAILABLE on shutdown and with FAILED_PRECONDITION (not leader) when the
//! lease is lost, so clients reconnect to the new leader and resume.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use minoots_proto::v1::{StreamTimerEventsRequest, TimerEvent, TimerEventType};
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_util::sync::CancellationToken;

use crate::{Inner, KernelError, Result, labels::LabelSelector, store::Store, validate};

/// Opens an event stream. Validation and the resume check happen before this returns, so a
/// bad request fails the call instead of the first message.
pub(crate) async fn subscribe(
    inner: &Inner,
    tenant: &str,
    request: StreamTimerEventsRequest,
) -> Result<mpsc::Receiver<Result<TimerEvent>>> {
    inner.ensure_leader()?;
    validate::tenant_id(tenant)?;
    let event_types = request
        .event_types
        .iter()
        .map(|t| {
            TimerEventType::try_from(*t)
                .ok()
                .filter(|t| *t != TimerEventType::Unspecified)
                .map(|t| t as i32)
                .ok_or_else(|| {
                    KernelError::invalid("event_types", format!("{t} is not an event type"))
                })
        })
        .collect::<Result<Vec<_>>>()?;
    let selector = LabelSelector::parse(&request.label_selector)
        .map_err(|m| KernelError::invalid("label_selector", m))?;
    // Subscribe before reading the log, so nothing committed in between is missed.
    let live = inner.bus.subscribe();
    let bounds = inner.store.event_bounds(tenant).await?;
    let cursor = match request.after_sequence {
        None => bounds.last,
        Some(after) => {
            let oldest = bounds.oldest.unwrap_or(bounds.last + 1);
            // A resume point past the last sequence, or one no stored event has, names events
            // this store does not hold: lost in a restore from backup (or never sent by this
            // deployment). Resuming there would miss them silently; the client must re-list.
            let unknown = after > bounds.last
                || (after >= oldest
                    && inner
                        .store
                        .events_after(tenant, after - 1, 1)
                        .await?
                        .first()
                        .is_none_or(|event| event.sequence != after));
            if after + 1 < oldest || unknown {
                return Err(KernelError::OutOfRange {
                    requested: after,
                    oldest,
                });
            }
            after
        }
    };
    let (tx, rx) = mpsc::channel(1_024);
    let stream = EventStream {
        tenant: tenant.to_owned(),
        event_types,
        selector,
        cursor,
        store: inner.store.clone(),
        tx,
        closed: inner.streams.lock().unwrap().clone(),
        leader: inner.leader.clone(),
        retry_after_ms: inner.retry_after_ms,
    };
    tokio::spawn(stream.run(live));
    Ok(rx)
}

impl Inner {
    /// Ends every open event stream with UNAVAILABLE; called before a graceful shutdown.
    pub(crate) fn close_streams(&self) {
        self.streams.lock().unwrap().cancel();
    }
}

struct EventStream {
    tenant: String,
    event_types: Vec<i32>,
    selector: LabelSelector,
    cursor: u64,
    store: Arc<dyn Store>,
    tx: mpsc::Sender<Result<TimerEvent>>,
    closed: CancellationToken,
    leader: Arc<AtomicBool>,
    retry_after_ms: u64,
}

impl EventStream {
    async fn run(mut self, mut live: tokio::sync::broadcast::Receiver<Arc<TimerEvent>>) {
        if self.catch_up().await.is_err() {
            return;
        }
        loop {
            let received = tokio::select! {
                () = self.closed.cancelled() => {
                    // Closed by a lost lease (reconnect to the new leader) or by shutdown.
                    let error = if self.leader.load(Ordering::SeqCst) {
                        KernelError::ShuttingDown
                    } else {
                        KernelError::NotLeader { retry_after_ms: self.retry_after_ms }
                    };
                    let _ = self.tx.send(Err(error)).await;
                    return;
                }
                () = self.tx.closed() => return,
                received = live.recv() => received,
            };
            let result = match received {
                Ok(event) if event.tenant_id != self.tenant || event.sequence <= self.cursor => {
                    Ok(())
                }
                Ok(event) if event.sequence == self.cursor + 1 => self.deliver(&event).await,
                // A gap or a lag: the store has everything that was published.
                Ok(_) | Err(RecvError::Lagged(_)) => self.catch_up().await,
                Err(RecvError::Closed) => return,
            };
            if result.is_err() {
                return;
            }
        }
    }

    /// Sends every stored event after the cursor. Err means the client is gone.
    async fn catch_up(&mut self) -> Result<(), ()> {
        loop {
            let page = match self
                .store
                .events_after(&self.tenant, self.cursor, 1_000)
                .await
            {
                Ok(page) => page,
                Err(error) => {
                    let _ = self.tx.send(Err(error)).await;
                    return Err(());
                }
            };
            let full = page.len() == 1_000;
            for event in &page {
                self.deliver(event).await?;
            }
            if !full {
                return Ok(());
            }
        }
    }

    async fn deliver(&mut self, event: &TimerEvent) -> Result<(), ()> {
        self.cursor = event.sequence;
        let wanted = (self.event_types.is_empty() || self.event_types.contains(&event.event_type))
            && (self.selector.is_empty()
                || event
                    .timer
                    .as_ref()
                    .map(|t| &t.labels)
                    .or(event.schedule.as_ref().map(|s| &s.labels))
                    .is_some_and(|labels| self.selector.matches(labels)));
        if wanted {
            self.tx.send(Ok(event.clone())).await.map_err(|_| ())?;
        }
        Ok(())
    }
}
