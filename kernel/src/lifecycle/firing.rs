//! Who decides a race between a fire and a caller's write, now that a due timer is delivered
//! before its fire is written.
//!
//! The scheduler hands a due timer with actions straight to the dispatcher, which reads the
//! timer, runs its actions and only then writes FIRED and SETTLED (or FAILED) in one commit. So
//! the store can no longer be the one to refuse a cancel that comes while the webhook is on
//! its way; this does, in memory, on the leader (followers take no writes):
//!
//! - the writer [`Firing::hold`]s every timer a caller's write names for as long as that write
//!   is being committed, and refuses the write (the timer is FIRED) if the timer is in flight;
//! - the scheduler [`Firing::start`]s a due timer: it is in flight unless a caller's write holds
//!   it, in which case it fires the old way (FIRED written first, the store decides);
//! - the dispatcher [`Firing::finish`]es it once its outcome is committed.
//!
//! Both checks take one lock, so a caller's write and a fire never both pass. A write that
//! committed before the fire started is seen by the dispatcher, which reads the timer after it
//! started (a cancelled, paused or moved timer is not delivered).

use std::{
    collections::{HashMap, HashSet},
    sync::Mutex,
};

use uuid::Uuid;

use crate::store::Mutation;

/// A timer id as two integers (ids are UUIDs).
pub(crate) type TimerKey = (u64, u64);

pub(crate) fn key_of(id: &str) -> Option<TimerKey> {
    Uuid::try_parse(id).ok().map(|u| u.as_u64_pair())
}

#[derive(Default)]
pub(crate) struct Firing {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    in_flight: HashSet<TimerKey>,
    /// Timers named by caller writes being committed, with how many such writes.
    held: HashMap<TimerKey, u32>,
}

/// The timer a caller's write names, if it names one (the scheduler's and the dispatcher's own
/// transitions carry no tenant and are not callers').
pub(crate) fn named_by_caller(mutation: &Mutation) -> Option<&str> {
    match mutation {
        Mutation::Transition(t) if t.tenant_id.is_some() => Some(&t.timer_id),
        Mutation::Change(change) => Some(&change.timer_id),
        _ => None,
    }
}

impl Firing {
    /// Holds the timers the caller writes in `mutations` name, except those in flight: returns
    /// a flag per mutation, true where the write must be refused (its timer is firing), and the
    /// keys now held, for [`Firing::release`] once the write is committed or failed.
    pub fn hold(&self, mutations: &[Mutation]) -> (Vec<bool>, Vec<TimerKey>) {
        let mut refused = vec![false; mutations.len()];
        let mut held = Vec::new();
        let mut state = self.state.lock().unwrap();
        for (i, mutation) in mutations.iter().enumerate() {
            let Some(key) = named_by_caller(mutation).and_then(key_of) else {
                continue;
            };
            if state.in_flight.contains(&key) {
                refused[i] = true;
            } else {
                *state.held.entry(key).or_default() += 1;
                held.push(key);
            }
        }
        (refused, held)
    }

    pub fn release(&self, held: &[TimerKey]) {
        if held.is_empty() {
            return;
        }
        let mut state = self.state.lock().unwrap();
        for key in held {
            if let Some(count) = state.held.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    state.held.remove(key);
                }
            }
        }
    }

    /// Takes a due timer in flight: false when a caller's write holds it (fire it through the
    /// store instead) or it is in flight already.
    pub fn start(&self, key: TimerKey) -> bool {
        let mut state = self.state.lock().unwrap();
        !state.held.contains_key(&key) && state.in_flight.insert(key)
    }

    pub fn finish(&self, key: TimerKey) {
        self.state.lock().unwrap().in_flight.remove(&key);
    }

    pub fn in_flight(&self, key: TimerKey) -> bool {
        self.state.lock().unwrap().in_flight.contains(&key)
    }
}

#[cfg(test)]
mod tests {
    use minoots_proto::v1::TimerStatus;

    use super::*;
    use crate::store::Transition;

    fn cancel(id: &str) -> Mutation {
        Mutation::Transition(Transition {
            timer_id: id.to_owned(),
            tenant_id: Some("acme".to_owned()),
            to: TimerStatus::Cancelled,
            at: 0,
            reason: String::new(),
            actor: String::new(),
            results: Vec::new(),
        })
    }

    #[test]
    fn a_caller_write_and_a_fire_never_both_pass() {
        let firing = Firing::default();
        let a = Uuid::now_v7().to_string();
        let b = Uuid::now_v7().to_string();
        let (ka, kb) = (key_of(&a).unwrap(), key_of(&b).unwrap());

        // A held timer does not start: it fires through the store.
        let (refused, held) = firing.hold(&[cancel(&a)]);
        assert_eq!(refused, [false]);
        assert!(!firing.start(ka));
        firing.release(&held);
        assert!(firing.start(ka), "free again once the write is committed");
        assert!(!firing.start(ka), "in flight once");

        // A timer in flight refuses caller writes; others pass and are held.
        let (refused, held) = firing.hold(&[cancel(&a), cancel(&b)]);
        assert_eq!(refused, [true, false]);
        assert_eq!(held, [kb]);
        assert!(!firing.start(kb));
        firing.release(&held);
        firing.finish(ka);
        assert!(!firing.in_flight(ka));
        let (refused, _) = firing.hold(&[cancel(&a)]);
        assert_eq!(refused, [false], "finished: the store decides again");

        // System transitions (no tenant) are never held or refused.
        let system = Mutation::Transition(Transition {
            tenant_id: None,
            ..match cancel(&b) {
                Mutation::Transition(t) => t,
                _ => unreachable!(),
            }
        });
        assert!(firing.start(kb));
        assert_eq!(firing.hold(&[system]), (vec![false], vec![]));
    }
}
