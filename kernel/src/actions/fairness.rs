//! Fair delivery: how many action attempts run at once, so that one tenant's slow or dead
//! receivers never delay another tenant beyond that tenant's own limits.
//!
//! An attempt takes three permits, narrowest first: one of its tenant's slots at its destination
//! (the host and port of a webhook or HTTP/MCP agent, the subject of a NATS agent; local kinds
//! have none), then one of its tenant's slots, then one of the global slots. Waiting for a narrow
//! permit holds no wider one, so a tenant at its own limit queues on its own semaphores and never
//! sits on global slots; the global cap only bounds the total. Every semaphore is FIFO, and the
//! order is the same for every attempt, so none can deadlock. Permits are held for one attempt
//! only (not across the backoff between retries). Per-key semaphores exist only while in use.
//! A caller's own flow control ([`super::flow`]) is narrower still and is waited for first.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use minoots_proto::v1::{Action, AgentAdapter, action::Kind};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Concurrency limits of action attempts. 0 for a per-tenant or per-destination limit means
/// none of its own (the global cap still holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concurrency {
    /// Attempts running at once across every tenant.
    pub global: usize,
    /// Attempts of one tenant running at once.
    pub per_tenant: usize,
    /// Attempts of one tenant to one destination running at once.
    pub per_destination: usize,
}

impl Default for Concurrency {
    fn default() -> Self {
        Self {
            global: 256,
            per_tenant: 64,
            per_destination: 32,
        }
    }
}

/// Where an action waits on a remote: the key its per-destination limit counts under.
pub(crate) fn destination(action: &Action) -> Option<String> {
    let host_of = |url: &str| {
        let url = reqwest::Url::parse(url).ok()?;
        Some(format!(
            "{}:{}",
            url.host_str()?,
            url.port_or_known_default().unwrap_or(0)
        ))
    };
    match action.kind.as_ref()? {
        Kind::Webhook(webhook) => host_of(&webhook.url),
        Kind::AgentPrompt(prompt) => match prompt.adapter() {
            AgentAdapter::Nats => Some(format!("nats:{}", prompt.target)),
            // A registered agent named instead of a URL counts under its name.
            _ => host_of(&prompt.target).or_else(|| Some(format!("agent:{}", prompt.target))),
        },
        Kind::Command(_) | Kind::File(_) => None,
    }
}

/// The caller's flow control of a webhook or agent prompt, if it set one.
pub(crate) fn flow_control(action: &Action) -> Option<&minoots_proto::v1::FlowControl> {
    match action.kind.as_ref()? {
        Kind::Webhook(webhook) => webhook.flow_control.as_ref(),
        Kind::AgentPrompt(prompt) => prompt.flow_control.as_ref(),
        Kind::Command(_) | Kind::File(_) => None,
    }
}

pub(crate) struct Limits {
    global: Arc<Semaphore>,
    per_tenant: Arc<Keyed>,
    per_destination: Arc<Keyed>,
}

/// What an attempt holds while it runs; dropping it frees the slots.
pub(crate) struct Permit {
    _global: OwnedSemaphorePermit,
    _tenant: Option<Slot>,
    _destination: Option<Slot>,
}

impl Limits {
    pub(crate) fn new(concurrency: Concurrency) -> Self {
        Self {
            global: Arc::new(Semaphore::new(concurrency.global.max(1))),
            per_tenant: Keyed::new(concurrency.per_tenant),
            per_destination: Keyed::new(concurrency.per_destination),
        }
    }

    /// Waits for the slots of one attempt of `tenant` at `destination`.
    pub(crate) async fn acquire(&self, tenant: &str, destination: Option<&str>) -> Permit {
        let destination = match destination {
            Some(d) => Keyed::acquire(&self.per_destination, format!("{tenant}\n{d}")).await,
            None => None,
        };
        let tenant = Keyed::acquire(&self.per_tenant, tenant.to_owned()).await;
        let global = self
            .global
            .clone()
            .acquire_owned()
            .await
            .expect("the global semaphore is never closed");
        Permit {
            _global: global,
            _tenant: tenant,
            _destination: destination,
        }
    }

    /// Semaphores currently kept per tenant and per destination (for tests: they are dropped
    /// once unused).
    #[cfg(test)]
    fn kept(&self) -> (usize, usize) {
        (self.per_tenant.len(), self.per_destination.len())
    }
}

/// One semaphore per key, created on first use and dropped when nobody holds or waits for it.
struct Keyed {
    limit: usize,
    semaphores: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Keyed {
    fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            semaphores: Mutex::new(HashMap::new()),
        })
    }

    /// A slot under `key`; None when this limit is off.
    async fn acquire(this: &Arc<Self>, key: String) -> Option<Slot> {
        if this.limit == 0 {
            return None;
        }
        let semaphore = this
            .semaphores
            .lock()
            .expect("limits lock")
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(this.limit)))
            .clone();
        // The slot exists before the wait, so a cancelled wait also drops the semaphore if it
        // was the last user.
        let mut slot = Slot {
            keyed: this.clone(),
            key,
            semaphore,
            permit: None,
        };
        slot.permit = Some(
            slot.semaphore
                .clone()
                .acquire_owned()
                .await
                .expect("keyed semaphores are never closed"),
        );
        Some(slot)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.semaphores.lock().expect("limits lock").len()
    }
}

struct Slot {
    keyed: Arc<Keyed>,
    key: String,
    semaphore: Arc<Semaphore>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut semaphores = self.keyed.semaphores.lock().expect("limits lock");
        // New users clone the semaphore only under this lock: if the map and this slot are its
        // only holders, nobody holds a permit of it or waits for one.
        if Arc::strong_count(&self.semaphore) == 2
            && semaphores
                .get(&self.key)
                .is_some_and(|kept| Arc::ptr_eq(kept, &self.semaphore))
        {
            semaphores.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ready;

    #[test]
    fn a_tenant_at_its_limits_holds_no_global_slot_while_it_waits() {
        let limits = Limits::new(Concurrency {
            global: 3,
            per_tenant: 2,
            per_destination: 1,
        });
        let a1 = ready(limits.acquire("a", Some("slow:80"))).unwrap();
        // A's second attempt at the same destination waits, holding nothing else.
        assert!(ready(limits.acquire("a", Some("slow:80"))).is_none());
        let a2 = ready(limits.acquire("a", Some("other:80"))).unwrap();
        // A is at its tenant limit; B still finds a global slot.
        assert!(ready(limits.acquire("a", Some("third:80"))).is_none());
        let b1 = ready(limits.acquire("b", Some("slow:80"))).unwrap();
        // Now the global cap binds everyone.
        assert!(ready(limits.acquire("b", None)).is_none());
        drop((a1, a2, b1));
        assert_eq!(limits.kept(), (0, 0), "unused semaphores are dropped");
        let _again = ready(limits.acquire("a", Some("slow:80"))).unwrap();
        assert_eq!(limits.kept(), (1, 1));
    }

    #[test]
    fn zero_turns_a_per_key_limit_off() {
        let limits = Limits::new(Concurrency {
            global: 2,
            per_tenant: 0,
            per_destination: 0,
        });
        let _one = ready(limits.acquire("a", Some("x:80"))).unwrap();
        let _two = ready(limits.acquire("a", Some("x:80"))).unwrap();
        assert!(ready(limits.acquire("b", None)).is_none());
        assert_eq!(limits.kept(), (0, 0));
    }

    #[test]
    fn destinations_are_hosts_and_ports_or_subjects() {
        let webhook = |url: &str| Action {
            id: String::new(),
            kind: Some(Kind::Webhook(minoots_proto::v1::WebhookAction {
                url: url.into(),
                ..Default::default()
            })),
        };
        assert_eq!(
            destination(&webhook("https://Hooks.Example.com/a?b")).as_deref(),
            Some("hooks.example.com:443")
        );
        assert_eq!(
            destination(&webhook("http://127.0.0.1:8080/x")).as_deref(),
            Some("127.0.0.1:8080")
        );
        let nats = Action {
            id: String::new(),
            kind: Some(Kind::AgentPrompt(minoots_proto::v1::AgentPromptAction {
                adapter: AgentAdapter::Nats as i32,
                target: "agents.ops".into(),
                ..Default::default()
            })),
        };
        assert_eq!(destination(&nats).as_deref(), Some("nats:agents.ops"));
        let named = Action {
            id: String::new(),
            kind: Some(Kind::AgentPrompt(minoots_proto::v1::AgentPromptAction {
                adapter: AgentAdapter::Mcp as i32,
                target: "demo-agent".into(),
                ..Default::default()
            })),
        };
        assert_eq!(destination(&named).as_deref(), Some("agent:demo-agent"));
    }
}
