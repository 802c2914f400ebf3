//! The live side of the event log. Events are published here only after their transaction
//! committed, in sequence order; the durable side (replay, resume) is the store.

use std::sync::Arc;

use minoots_proto::v1::TimerEvent;
use tokio::sync::broadcast;

#[derive(Clone)]
pub(crate) struct EventBus {
    tx: broadcast::Sender<Arc<TimerEvent>>,
    /// Counted here: every committed event passes through `publish` exactly once.
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        Self {
            tx: broadcast::channel(capacity).0,
            metrics: Arc::default(),
        }
    }

    pub fn publish(&self, event: TimerEvent) {
        self.metrics.record(&event);
        // No subscriber is fine: the event is already durable.
        let _ = self.tx.send(Arc::new(event));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<TimerEvent>> {
        self.tx.subscribe()
    }

    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}
