//! A timer's way from ARMED to its end. The `scheduler` owns the timing [`wheel`]: it settles
//! due timers without actions in one FIRED+SETTLED write, and hands those with actions to
//! `dispatch`, which reads each, runs its actions and writes FIRED with SETTLED or FAILED in
//! one commit (`firing` decides, in memory, a caller's write racing such a fire). Every
//! transition goes through the group-commit `writer`, which answers callers and publishes
//! events only after the commit.
//!
//! One path for every write keeps the contract simple: a transition and its event are one
//! durable write, and nobody hears of a transition before it committed.

pub(crate) mod dispatch;
pub(crate) mod firing;
pub(crate) mod scheduler;
pub mod wheel;
pub(crate) mod writer;
