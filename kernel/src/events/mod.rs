//! The event log's readers. Every transition writes one event in the same commit (the store is
//! the durable log); after the commit the writer publishes it on the in-process `bus`.
//! Subscribers (`subscription`) read the store to catch up and then follow the bus, so a
//! stream resumed "after sequence N" misses nothing; the [`outbox`] publishes the same log to
//! NATS JetStream.

mod bus;
pub mod outbox;
mod subscription;

pub(crate) use bus::EventBus;
pub(crate) use subscription::subscribe;
