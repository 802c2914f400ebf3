//! A timer's way from ARMED to its end. The `scheduler` owns the timing [`wheel`] and turns
//! due timers into FIRED transitions; every transition goes through the group-commit `writer`,
//! which answers callers and publishes events only after the commit; `dispatch` takes what
//! fired, runs its actions and settles or fails it.
//!
//! One path for every write keeps the contract simple: a transition and its event are one
//! durable write, and nobody hears of a transition before it committed.

pub(crate) mod dispatch;
pub(crate) mod scheduler;
pub mod wheel;
pub(crate) mod writer;
