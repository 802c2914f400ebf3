//! In-memory store for tests and benchmarks. Durable only as long as the process lives.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
};

use async_trait::async_trait;
use minoots_proto::v1::{Timer, TimerEvent, TimerEventType, TimerStatus};

use super::{
    EventBounds, ListQuery, Mutation, Outcome, PendingTimer, Store, created_at, event, finished_at,
    fire_at, transition,
};
use crate::{clock::Micros, error::Result};

#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// (tenant, id) -> timer and its request fingerprint.
    timers: BTreeMap<(String, String), (Timer, String)>,
    tenant_of: HashMap<String, String>,
    idempotency: HashMap<(String, String), String>,
    events: BTreeMap<(String, u64), TimerEvent>,
    sequences: HashMap<String, u64>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl State {
    fn next_sequence(&mut self, tenant: &str) -> u64 {
        let sequence = self.sequences.entry(tenant.to_owned()).or_default();
        *sequence += 1;
        *sequence
    }

    fn record(&mut self, event: &TimerEvent) {
        self.events
            .insert((event.tenant_id.clone(), event.sequence), event.clone());
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn apply(&self, mutations: Vec<Mutation>) -> Result<Vec<Outcome>> {
        // Nothing below can fail half-way, so applying in place under the lock is atomic.
        let mut state = self.state.lock().unwrap();
        let outcomes = mutations
            .into_iter()
            .map(|mutation| match mutation {
                Mutation::Create(new) => {
                    let tenant = new.timer.tenant_id.clone();
                    let key = new.timer.idempotency_key.clone();
                    if !key.is_empty()
                        && let Some(existing_id) =
                            state.idempotency.get(&(tenant.clone(), key.clone()))
                    {
                        let (timer, fingerprint) =
                            &state.timers[&(tenant.clone(), existing_id.clone())];
                        return if *fingerprint == new.fingerprint {
                            Outcome::Existing(timer.clone())
                        } else {
                            Outcome::Conflict {
                                existing_id: existing_id.clone(),
                            }
                        };
                    }
                    let sequence = state.next_sequence(&tenant);
                    let event = event(
                        &new.timer,
                        TimerEventType::Scheduled,
                        sequence,
                        created_at(&new.timer),
                    );
                    state.record(&event);
                    if !key.is_empty() {
                        state
                            .idempotency
                            .insert((tenant.clone(), key), new.timer.id.clone());
                    }
                    state.tenant_of.insert(new.timer.id.clone(), tenant.clone());
                    state.timers.insert(
                        (tenant, new.timer.id.clone()),
                        (new.timer.clone(), new.fingerprint),
                    );
                    Outcome::Created(new.timer, event)
                }
                Mutation::Transition(t) => {
                    let Some(tenant) = state.tenant_of.get(&t.timer_id).cloned() else {
                        return Outcome::NotFound;
                    };
                    let mut timer = state.timers[&(tenant.clone(), t.timer_id.clone())]
                        .0
                        .clone();
                    match transition(&mut timer, &t) {
                        Err(outcome) => outcome,
                        Ok(event_type) => {
                            let sequence = state.next_sequence(&tenant);
                            let event = event(&timer, event_type, sequence, t.at);
                            state.record(&event);
                            state.timers.get_mut(&(tenant, t.timer_id)).unwrap().0 = timer.clone();
                            Outcome::Transitioned(timer, event)
                        }
                    }
                }
            })
            .collect();
        Ok(outcomes)
    }

    async fn get(&self, tenant_id: &str, id: &str) -> Result<Option<Timer>> {
        let state = self.state.lock().unwrap();
        Ok(state
            .timers
            .get(&(tenant_id.to_owned(), id.to_owned()))
            .map(|(timer, _)| timer.clone()))
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Timer>> {
        let state = self.state.lock().unwrap();
        let start = (
            query.tenant_id.clone(),
            query.after_id.clone().unwrap_or_default(),
        );
        Ok(state
            .timers
            .range(start..)
            .take_while(|((tenant, _), _)| *tenant == query.tenant_id)
            .filter(|((_, id), _)| query.after_id.as_ref() != Some(id))
            .map(|(_, (timer, _))| timer)
            .filter(|timer| {
                (query.statuses.is_empty()
                    || query.statuses.iter().any(|s| *s as i32 == timer.status))
                    && timer.name.starts_with(&query.name_prefix)
                    && query.selector.matches(&timer.labels)
            })
            .take(query.limit)
            .cloned()
            .collect())
    }

    async fn events_after(
        &self,
        tenant_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<TimerEvent>> {
        let state = self.state.lock().unwrap();
        Ok(state
            .events
            .range((tenant_id.to_owned(), after + 1)..(tenant_id.to_owned(), u64::MAX))
            .take(limit)
            .map(|(_, event)| event.clone())
            .collect())
    }

    async fn event_bounds(&self, tenant_id: &str) -> Result<EventBounds> {
        let state = self.state.lock().unwrap();
        let oldest = state
            .events
            .range((tenant_id.to_owned(), 0)..(tenant_id.to_owned(), u64::MAX))
            .next()
            .map(|((_, s), _)| *s);
        Ok(EventBounds {
            oldest,
            last: state.sequences.get(tenant_id).copied().unwrap_or(0),
        })
    }

    async fn pending(&self) -> Result<Vec<PendingTimer>> {
        let state = self.state.lock().unwrap();
        Ok(state
            .timers
            .values()
            .filter_map(|(timer, _)| {
                let status = TimerStatus::try_from(timer.status).ok()?;
                matches!(
                    status,
                    TimerStatus::Scheduled | TimerStatus::Armed | TimerStatus::Fired
                )
                .then(|| PendingTimer {
                    id: timer.id.clone(),
                    tenant_id: timer.tenant_id.clone(),
                    status,
                    fire_at: fire_at(timer),
                })
            })
            .collect())
    }

    async fn purge(&self, timers_before: Micros, events_before: Micros) -> Result<(u64, u64)> {
        let mut state = self.state.lock().unwrap();
        let expired: Vec<(String, String)> = state
            .timers
            .iter()
            .filter(|(_, (timer, _))| finished_at(timer).is_some_and(|at| at < timers_before))
            .map(|(key, _)| key.clone())
            .collect();
        for key in &expired {
            let (timer, _) = state.timers.remove(key).unwrap();
            state.tenant_of.remove(&timer.id);
            if !timer.idempotency_key.is_empty() {
                state
                    .idempotency
                    .remove(&(timer.tenant_id.clone(), timer.idempotency_key.clone()));
            }
        }
        let before = state.events.len();
        state.events.retain(|_, event| {
            event
                .occurred_at
                .as_ref()
                .map(crate::clock::from_timestamp)
                .unwrap_or(0)
                >= events_before
        });
        Ok((expired.len() as u64, (before - state.events.len()) as u64))
    }
}
