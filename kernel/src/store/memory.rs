//! In-memory store for tests and benchmarks. Durable only as long as the process lives.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
};

use async_trait::async_trait;
use futures_util::{StreamExt as _, stream::BoxStream};
use minoots_proto::v1::{DeadLetter, Timer, TimerEvent, TimerStatus};

use super::{
    ApiKey, EventBounds, Limits, ListQuery, Loaded, Mutation, Outcome, PendingTimer, SideTables,
    Store, finished_at, fire_at, has_actions, key_taken, plan, to_load,
};
use crate::{
    clock::{Micros, from_timestamp},
    error::Result,
};

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
    floor: u64,
    limits: HashMap<String, Limits>,
    api_keys: BTreeMap<String, ApiKey>,
    dead_letters: BTreeMap<String, DeadLetter>,
    publish_cursors: HashMap<String, u64>,
    /// Timers to treat as read from a damaged record (memory has no records to damage; tests
    /// plant it), with what was lost.
    damaged: HashMap<String, String>,
    rate_buckets: HashMap<String, (f64, Micros)>,
    paused_tenants: HashMap<String, super::PausedTenant>,
    /// (tenant, id) -> schedule and its request fingerprint.
    schedules: BTreeMap<(String, String), (minoots_proto::v1::Schedule, String)>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the timer read as if its stored record could not be decoded, as a damaged SQL row
    /// would, until a write replaces it.
    #[cfg(any(test, feature = "testing"))]
    pub fn damage(&self, id: &str, what: &str) {
        let mut state = self.state.lock().unwrap();
        state.damaged.insert(id.to_owned(), what.to_owned());
    }

    fn shown(state: &State, timer: &Timer) -> Timer {
        let mut timer = timer.clone();
        if let Some(damage) = state.damaged.get(&timer.id) {
            timer.failure_reason = format!("{}{damage}", super::QUARANTINE_PREFIX);
        }
        timer
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn apply(&self, mutations: Vec<Mutation>) -> Result<Vec<Outcome>> {
        let mut state = self.state.lock().unwrap();
        let (ids, keys) = to_load(&mutations);
        let mut loaded = Loaded::default();
        for id in ids {
            if let Some(tenant) = state.tenant_of.get(&id) {
                if let Some(damage) = state.damaged.get(&id) {
                    loaded.damaged.insert(id.clone(), damage.clone());
                }
                loaded
                    .timers
                    .insert(id.clone(), state.timers[&(tenant.clone(), id)].0.clone());
            }
        }
        for key in keys {
            if let Some(id) = state.idempotency.get(&key) {
                loaded.idempotency.insert(
                    key.clone(),
                    state.timers[&(key.0.clone(), id.clone())].clone(),
                );
            }
        }
        loaded.sequences = state.sequences.clone();
        loaded.floor = state.floor;
        if super::creates(&mutations) {
            loaded.paused_tenants = state.paused_tenants.keys().cloned().collect();
        }
        let plan = plan(mutations, loaded);
        for (id, key, fingerprint) in plan.rekeyed {
            let Some(tenant) = state.tenant_of.get(&id).cloned() else {
                continue;
            };
            let entry = state.timers.get_mut(&(tenant.clone(), id.clone())).unwrap();
            entry.1 = fingerprint;
            let old = (tenant.clone(), entry.0.idempotency_key.clone());
            match key {
                Some(key) => {
                    state.idempotency.insert((tenant, key), id);
                }
                None if state.idempotency.get(&old) == Some(&id) => {
                    state.idempotency.remove(&old);
                }
                None => {}
            }
        }
        // Nothing below can fail half-way, so writing in place under the lock is atomic.
        for (timer, fingerprint) in plan.inserts {
            if !timer.idempotency_key.is_empty() {
                state.idempotency.insert(
                    (timer.tenant_id.clone(), timer.idempotency_key.clone()),
                    timer.id.clone(),
                );
            }
            state
                .tenant_of
                .insert(timer.id.clone(), timer.tenant_id.clone());
            state.timers.insert(
                (timer.tenant_id.clone(), timer.id.clone()),
                (timer, fingerprint),
            );
        }
        for timer in plan.updates {
            state.damaged.remove(&timer.id);
            let key = (timer.tenant_id.clone(), timer.id.clone());
            state.timers.get_mut(&key).unwrap().0 = timer;
        }
        for letter in plan.dead_letters {
            state.dead_letters.insert(letter.id.clone(), letter);
        }
        for (schedule, fingerprint) in plan.schedules {
            let key = (schedule.tenant_id.clone(), schedule.id.clone());
            let fingerprint = match state.schedules.remove(&key) {
                Some((_, first)) => first,
                None => fingerprint,
            };
            state.schedules.insert(key, (schedule, fingerprint));
        }
        for event in plan.events {
            state.events.insert(
                (event.tenant_id.clone(), event.sequence),
                std::sync::Arc::unwrap_or_clone(event),
            );
        }
        state.sequences.extend(plan.sequences);
        Ok(plan.outcomes)
    }

    async fn get(&self, tenant_id: &str, id: &str) -> Result<Option<Timer>> {
        let state = self.state.lock().unwrap();
        Ok(state
            .timers
            .get(&(tenant_id.to_owned(), id.to_owned()))
            .map(|(timer, _)| Self::shown(&state, timer)))
    }

    async fn id_for_key(&self, tenant_id: &str, key: &str) -> Result<Option<String>> {
        let state = self.state.lock().unwrap();
        Ok(state
            .idempotency
            .get(&(tenant_id.to_owned(), key.to_owned()))
            .cloned())
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
            .map(|timer| Self::shown(&state, timer))
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
            last: state
                .sequences
                .get(tenant_id)
                .copied()
                .unwrap_or(state.floor),
        })
    }

    async fn skip_sequences(&self, skip: u64) -> Result<u64> {
        let mut state = self.state.lock().unwrap();
        let highest = state.sequences.values().copied().max().unwrap_or(0);
        let floor = highest.max(state.floor).saturating_add(skip);
        state.floor = floor;
        for last in state.sequences.values_mut() {
            *last = floor;
        }
        Ok(floor)
    }

    fn pending(&self) -> BoxStream<'_, Result<PendingTimer>> {
        let state = self.state.lock().unwrap();
        let pending: Vec<_> = state
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
                    has_actions: has_actions(timer),
                })
            })
            .map(Ok)
            .collect();
        futures_util::stream::iter(pending).boxed()
    }

    async fn purge(
        &self,
        timers_before: Micros,
        events_before: Micros,
        keep_unpublished: bool,
    ) -> Result<(u64, u64)> {
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
            let key = (timer.tenant_id.clone(), timer.idempotency_key.clone());
            // The key may have moved to a newer timer (KeyPolicy::Replace).
            if state.idempotency.get(&key) == Some(&timer.id) {
                state.idempotency.remove(&key);
            }
        }
        let before = state.events.len();
        let cursors = state.publish_cursors.clone();
        state.events.retain(|(tenant, sequence), event| {
            let recent = event
                .occurred_at
                .as_ref()
                .map(crate::clock::from_timestamp)
                .unwrap_or(0)
                >= events_before;
            let unpublished =
                keep_unpublished && *sequence > cursors.get(tenant).copied().unwrap_or(0);
            recent || unpublished
        });
        Ok((expired.len() as u64, (before - state.events.len()) as u64))
    }

    async fn take_rate_token(
        &self,
        bucket: &str,
        per_second: f64,
        burst: f64,
        now: Micros,
    ) -> Result<super::RateToken> {
        let mut state = self.state.lock().unwrap();
        let (tokens, at) = state
            .rate_buckets
            .get(bucket)
            .copied()
            .unwrap_or((burst, now));
        let (token, at) = super::refill_and_take(tokens, at, per_second, burst, now);
        state
            .rate_buckets
            .insert(bucket.to_owned(), (token.tokens, at));
        Ok(token)
    }
}

#[async_trait]
impl SideTables for MemoryStore {
    async fn created_since(&self, since: Micros) -> Result<HashMap<String, u64>> {
        let floor = crate::quota::uuid_v7_floor(since);
        let state = self.state.lock().unwrap();
        let mut counts = HashMap::new();
        for (tenant, id) in state.timers.keys() {
            if *id >= floor {
                *counts.entry(tenant.clone()).or_default() += 1;
            }
        }
        Ok(counts)
    }

    async fn tenant_limits(&self) -> Result<HashMap<String, Limits>> {
        Ok(self.state.lock().unwrap().limits.clone())
    }

    async fn put_tenant_limits(&self, tenant_id: &str, limits: Limits) -> Result<()> {
        let mut state = self.state.lock().unwrap();
        state.limits.insert(tenant_id.to_owned(), limits);
        Ok(())
    }

    async fn put_api_key(&self, key: &ApiKey) -> Result<()> {
        let mut state = self.state.lock().unwrap();
        if state.api_keys.contains_key(&key.id)
            || state.api_keys.values().any(|k| k.digest == key.digest)
        {
            return Err(key_taken(key));
        }
        state.api_keys.insert(key.id.clone(), key.clone());
        Ok(())
    }

    async fn find_api_key(&self, digest: &str) -> Result<Option<ApiKey>> {
        let state = self.state.lock().unwrap();
        Ok(state
            .api_keys
            .values()
            .find(|k| k.digest == digest)
            .cloned())
    }

    async fn list_api_keys(&self, tenant_id: Option<&str>) -> Result<Vec<ApiKey>> {
        let state = self.state.lock().unwrap();
        Ok(state
            .api_keys
            .values()
            .filter(|k| tenant_id.is_none_or(|t| k.tenant_id == t))
            .cloned()
            .collect())
    }

    async fn revoke_api_key(&self, id: &str, at: Micros) -> Result<Option<ApiKey>> {
        let mut state = self.state.lock().unwrap();
        Ok(state.api_keys.get_mut(id).map(|key| {
            key.revoked_at.get_or_insert(at);
            key.clone()
        }))
    }

    async fn put_dead_letters(&self, letters: &[DeadLetter]) -> Result<()> {
        let mut state = self.state.lock().unwrap();
        for letter in letters {
            state.dead_letters.insert(letter.id.clone(), letter.clone());
        }
        Ok(())
    }

    async fn list_dead_letters(
        &self,
        tenant_id: &str,
        since: Micros,
        include_resolved: bool,
        limit: usize,
    ) -> Result<Vec<DeadLetter>> {
        let state = self.state.lock().unwrap();
        let mut letters: Vec<DeadLetter> = state
            .dead_letters
            .values()
            .filter(|l| {
                l.tenant_id == tenant_id
                    && l.created_at.as_ref().map_or(0, from_timestamp) >= since
                    && (include_resolved || l.resolved_at.is_none())
            })
            .cloned()
            .collect();
        letters.sort_by_key(|l| {
            (
                l.created_at.as_ref().map_or(0, from_timestamp),
                l.id.clone(),
            )
        });
        letters.truncate(limit);
        Ok(letters)
    }

    async fn get_dead_letter(&self, tenant_id: &str, id: &str) -> Result<Option<DeadLetter>> {
        let state = self.state.lock().unwrap();
        Ok(state
            .dead_letters
            .get(id)
            .filter(|l| l.tenant_id == tenant_id)
            .cloned())
    }

    async fn timer_dead_letters(&self, timer_id: &str) -> Result<Vec<DeadLetter>> {
        let state = self.state.lock().unwrap();
        let mut letters: Vec<DeadLetter> = state
            .dead_letters
            .values()
            .filter(|l| l.timer_id == timer_id)
            .cloned()
            .collect();
        letters.sort_by_key(|l| l.action_index);
        Ok(letters)
    }

    async fn publish_cursors(&self) -> Result<HashMap<String, u64>> {
        Ok(self.state.lock().unwrap().publish_cursors.clone())
    }

    async fn set_publish_cursor(&self, tenant_id: &str, sequence: u64) -> Result<()> {
        let mut state = self.state.lock().unwrap();
        state.publish_cursors.insert(tenant_id.to_owned(), sequence);
        Ok(())
    }

    async fn event_heads(&self) -> Result<HashMap<String, u64>> {
        Ok(self.state.lock().unwrap().sequences.clone())
    }

    async fn tenant_pause(&self, tenant_id: &str) -> Result<Option<super::PausedTenant>> {
        Ok(self
            .state
            .lock()
            .unwrap()
            .paused_tenants
            .get(tenant_id)
            .cloned())
    }

    async fn set_tenant_pause(
        &self,
        tenant_id: &str,
        pause: Option<&super::PausedTenant>,
    ) -> Result<()> {
        let mut state = self.state.lock().unwrap();
        match pause {
            Some(pause) => {
                state
                    .paused_tenants
                    .entry(tenant_id.to_owned())
                    .or_insert_with(|| pause.clone());
            }
            None => {
                state.paused_tenants.remove(tenant_id);
            }
        }
        Ok(())
    }

    async fn get_schedule(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<Option<minoots_proto::v1::Schedule>> {
        let state = self.state.lock().unwrap();
        Ok(state
            .schedules
            .get(&(tenant_id.to_owned(), id.to_owned()))
            .map(|(s, _)| s.clone()))
    }

    async fn schedule_for_key(
        &self,
        tenant_id: &str,
        key: &str,
    ) -> Result<Option<(minoots_proto::v1::Schedule, String)>> {
        let state = self.state.lock().unwrap();
        Ok(state
            .schedules
            .range((tenant_id.to_owned(), String::new())..)
            .take_while(|((tenant, _), _)| tenant == tenant_id)
            .find(|(_, (s, _))| s.idempotency_key == key)
            .map(|(_, entry)| entry.clone()))
    }

    async fn list_schedules(
        &self,
        tenant_id: &str,
        after_id: &str,
        limit: usize,
    ) -> Result<Vec<minoots_proto::v1::Schedule>> {
        let state = self.state.lock().unwrap();
        Ok(state
            .schedules
            .range((tenant_id.to_owned(), after_id.to_owned())..)
            .take_while(|((tenant, _), _)| tenant == tenant_id)
            .filter(|((_, id), _)| id.as_str() > after_id)
            .take(limit)
            .map(|(_, (s, _))| s.clone())
            .collect())
    }

    async fn live_schedules(&self) -> Result<Vec<minoots_proto::v1::Schedule>> {
        let state = self.state.lock().unwrap();
        Ok(state
            .schedules
            .values()
            .map(|(s, _)| s)
            .filter(|s| {
                matches!(
                    minoots_proto::v1::ScheduleState::try_from(s.state),
                    Ok(minoots_proto::v1::ScheduleState::Active
                        | minoots_proto::v1::ScheduleState::Paused)
                )
            })
            .cloned()
            .collect())
    }
}
