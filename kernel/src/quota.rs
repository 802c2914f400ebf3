//! Per-tenant quotas: active timers (`burst`: SCHEDULED or ARMED at once) and timers scheduled
//! per UTC day (`daily`).
//!
//! The kernel owns the counts because it owns the timers: the group-commit writer checks and
//! reserves before each write and settles the reservation from the write's outcomes, so the
//! check and the write cannot race. The leader seeds the counts from the store when it takes the
//! lead (active: the pending timers it loads anyway; daily: timers whose UUIDv7 id was minted
//! since UTC midnight).

use std::collections::HashMap;

use minoots_proto::v1::TimerEventType;

use crate::{
    clock::Micros,
    error::{KernelError, LimitType},
    store::{Mutation, Outcome},
};

pub const DAY_MICROS: Micros = 86_400_000_000;

/// A tenant's limits; `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub active_timers: Option<u64>,
    pub daily_timers: Option<u64>,
}

impl Limits {
    /// Fields of `self` that are set win over `defaults`.
    pub fn or(self, defaults: Limits) -> Limits {
        Limits {
            active_timers: self.active_timers.or(defaults.active_timers),
            daily_timers: self.daily_timers.or(defaults.daily_timers),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Usage {
    defaults: Limits,
    overrides: HashMap<String, Limits>,
    /// UTC day (days since the epoch) that `daily` counts.
    day: i64,
    active: HashMap<String, u64>,
    daily: HashMap<String, u64>,
}

impl Usage {
    pub fn new(defaults: Limits) -> Self {
        Self {
            defaults,
            ..Self::default()
        }
    }

    pub fn limits(&self, tenant: &str) -> Limits {
        self.overrides
            .get(tenant)
            .copied()
            .unwrap_or_default()
            .or(self.defaults)
    }

    pub fn set_overrides(&mut self, overrides: HashMap<String, Limits>) {
        self.overrides = overrides;
    }

    pub fn set_override(&mut self, tenant: &str, limits: Limits) {
        self.overrides.insert(tenant.to_owned(), limits);
    }

    /// Replaces the counts with what the store holds, when taking the lead.
    /// Starts over from the store: `active` SCHEDULED or ARMED timers and `today`'s creates per
    /// tenant.
    pub fn seed(&mut self, active: HashMap<String, u64>, today: HashMap<String, u64>, now: Micros) {
        self.active = active;
        self.day = now.div_euclid(DAY_MICROS);
        self.daily = today;
    }

    fn roll(&mut self, now: Micros) {
        let day = now.div_euclid(DAY_MICROS);
        if day != self.day {
            self.day = day;
            self.daily.clear();
        }
    }

    /// Checks one all-or-nothing request and reserves its creates. On refusal nothing is
    /// reserved.
    pub fn reserve(&mut self, mutations: &[Mutation], now: Micros) -> Result<(), KernelError> {
        self.roll(now);
        let mut creates: HashMap<&str, u64> = HashMap::new();
        for mutation in mutations {
            if let Mutation::Create(new) = mutation {
                *creates.entry(new.timer.tenant_id.as_str()).or_default() += 1;
            }
        }
        for (&tenant, &count) in &creates {
            let limits = self.limits(tenant);
            // Daily first: when both are exceeded, waiting for timers to finish does not help.
            let checks = [
                (LimitType::Daily, limits.daily_timers, &self.daily),
                (LimitType::Burst, limits.active_timers, &self.active),
            ];
            for (limit_type, limit, used) in checks {
                let used = used.get(tenant).copied().unwrap_or(0);
                if let Some(limit) = limit
                    && used + count > limit
                {
                    return Err(KernelError::QuotaExceeded {
                        tenant: tenant.to_owned(),
                        limit_type,
                        limit,
                    });
                }
            }
        }
        for (tenant, count) in creates {
            *self.active.entry(tenant.to_owned()).or_default() += count;
            *self.daily.entry(tenant.to_owned()).or_default() += count;
        }
        Ok(())
    }

    /// Gives back every reservation of a batch that was not written.
    pub fn release(&mut self, tenants: &[Option<String>]) {
        for tenant in tenants.iter().flatten() {
            decrement(&mut self.active, tenant);
            decrement(&mut self.daily, tenant);
        }
    }

    /// Settles reservations from a committed batch: creates that were not written are given
    /// back; timers that fired or were cancelled stop counting as active.
    pub fn settle(&mut self, tenants: &[Option<String>], outcomes: &[Outcome]) {
        for (tenant, outcome) in tenants.iter().zip(outcomes) {
            match (tenant, outcome) {
                (Some(_), Outcome::Created(..)) => {}
                (Some(tenant), _) => {
                    decrement(&mut self.active, tenant);
                    decrement(&mut self.daily, tenant);
                }
                (None, Outcome::Transitioned(timer, event))
                    if event.event_type == TimerEventType::Fired as i32
                        || event.event_type == TimerEventType::Cancelled as i32 =>
                {
                    decrement(&mut self.active, &timer.tenant_id);
                }
                // Failed without firing: it no longer counts as active.
                (None, Outcome::Quarantined { timer, from, .. })
                    if !from.is_final() && *from != minoots_proto::v1::TimerStatus::Fired =>
                {
                    decrement(&mut self.active, &timer.tenant_id);
                }
                _ => {}
            }
        }
    }
}

/// The tenant of each create in `mutations` (None for transitions), for [`Usage::settle`].
pub(crate) fn create_tenants(mutations: &[Mutation]) -> Vec<Option<String>> {
    mutations
        .iter()
        .map(|m| match m {
            Mutation::Create(new) => Some(new.timer.tenant_id.clone()),
            Mutation::Transition(_) | Mutation::Change(_) | Mutation::Schedule(_) => None,
        })
        .collect()
}

fn decrement(counts: &mut HashMap<String, u64>, tenant: &str) {
    if let Some(count) = counts.get_mut(tenant) {
        *count = count.saturating_sub(1);
    }
}

/// The smallest UUIDv7 (as text) minted at or after `at`: ids compare as text in time order.
pub fn uuid_v7_floor(at: Micros) -> String {
    let millis = (at.max(0) / 1_000) as u64;
    uuid::Builder::from_unix_timestamp_millis(millis, &[0; 10])
        .into_uuid()
        .to_string()
}
