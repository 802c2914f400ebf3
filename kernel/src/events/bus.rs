//! The live side of the event log. Events are published here only after their transaction
//! committed, in sequence order; the durable side (replay, resume) is the store.

use std::sync::Arc;

use minoots_proto::v1::TimerEvent;
use tokio::sync::broadcast;

#[derive(Clone)]
pub(crate) struct EventBus {
    tx: broadcast::Sender<Arc<TimerEvent>>,
    /// Receivers the kernel holds itself (the schedule runner), left out of the subscriber count.
    internal: Arc<std::sync::atomic::AtomicUsize>,
    /// Counted here: every committed event passes through `publish` exactly once.
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        Self {
            tx: broadcast::channel(capacity).0,
            internal: Arc::default(),
            metrics: Arc::default(),
        }
    }

    pub fn publish(&self, event: impl Into<Arc<TimerEvent>>) {
        let event = event.into();
        self.metrics.record(&event);
        // No subscriber is fine: the event is already durable.
        let _ = self.tx.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<TimerEvent>> {
        self.tx.subscribe()
    }

    /// A receiver for the kernel itself, not counted as a stream; held for the kernel's life.
    pub fn subscribe_internal(&self) -> broadcast::Receiver<Arc<TimerEvent>> {
        self.internal
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.tx.subscribe()
    }

    /// Open client streams.
    pub fn subscribers(&self) -> usize {
        self.tx
            .receiver_count()
            .saturating_sub(self.internal.load(std::sync::atomic::Ordering::SeqCst))
    }
}
