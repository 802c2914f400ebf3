//! One conformance suite for every store. `store_conformance!(module, async { store })` expands
//! to the same tests for each implementation.

use minoots_proto::v1::{DeadLetter, Timer, TimerEventType, TimerStatus};

use super::*;
use crate::{clock::to_timestamp, labels::LabelSelector, validate::NewTimer};

pub const T0: Micros = 1_763_900_000_000_000;

pub fn new_timer(tenant: &str, name: &str, labels: &[(&str, &str)], key: &str) -> NewTimer {
    new_timer_with(tenant, name, labels, key, "fp-1")
}

pub fn new_timer_with(
    tenant: &str,
    name: &str,
    labels: &[(&str, &str)],
    key: &str,
    fingerprint: &str,
) -> NewTimer {
    NewTimer {
        timer: Timer {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant.to_owned(),
            name: name.to_owned(),
            status: TimerStatus::Scheduled as i32,
            created_at: Some(to_timestamp(T0)),
            fire_at: Some(to_timestamp(T0)),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            idempotency_key: key.to_owned(),
            state_version: 1,
            ..Timer::default()
        },
        fingerprint: fingerprint.to_owned(),
        group: 0,
        key_policy: minoots_proto::v1::KeyPolicy::Reject,
    }
}

pub fn to(id: &str, status: TimerStatus, at: Micros) -> Mutation {
    Mutation::Transition(Transition {
        timer_id: id.to_owned(),
        tenant_id: None,
        to: status,
        at,
        reason: String::new(),
        actor: String::new(),
        results: Vec::new(),
    })
}

pub async fn create(store: &dyn Store, new: NewTimer) -> Timer {
    match store
        .apply(vec![Mutation::create(new)])
        .await
        .unwrap()
        .remove(0)
    {
        Outcome::Created(timer, _) => timer,
        other => panic!("expected Created, got {other:?}"),
    }
}

pub async fn get_many_reads_several_and_is_tenant_scoped(store: &dyn Store) {
    let a = create(store, new_timer("acme", "a", &[], "")).await;
    let b = create(store, new_timer("acme", "b", &[], "")).await;
    let other = create(store, new_timer("other", "c", &[], "")).await;
    let missing = uuid::Uuid::now_v7().to_string();
    let mut got = store
        .get_many(&[
            ("acme", &b.id),
            ("acme", &missing),
            ("acme", &other.id),
            ("acme", &a.id),
            ("other", &other.id),
        ])
        .await
        .unwrap();
    got.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(
        got,
        [a, b, other],
        "found ones only, each under its own tenant"
    );
    assert!(store.get_many(&[]).await.unwrap().is_empty());
}

pub async fn create_then_get_is_tenant_scoped(store: &dyn Store) {
    let timer = create(store, new_timer("acme", "a", &[], "")).await;
    assert_eq!(
        store.get("acme", &timer.id).await.unwrap(),
        Some(timer.clone())
    );
    assert_eq!(store.get("other", &timer.id).await.unwrap(), None);
    assert_eq!(
        store
            .get("acme", &uuid::Uuid::now_v7().to_string())
            .await
            .unwrap(),
        None
    );
}

pub async fn idempotency_keys_are_per_tenant_and_check_the_request(store: &dyn Store) {
    let first = create(store, new_timer("acme", "a", &[], "key-1")).await;
    let again = store
        .apply(vec![Mutation::create(new_timer("acme", "a", &[], "key-1"))])
        .await
        .unwrap();
    assert!(
        matches!(&again[0], Outcome::Existing(t) if t.id == first.id),
        "{again:?}"
    );
    let different = store
        .apply(vec![Mutation::create(new_timer_with(
            "acme",
            "b",
            &[],
            "key-1",
            "fp-2",
        ))])
        .await
        .unwrap();
    assert!(
        matches!(&different[0], Outcome::Conflict { existing_id } if *existing_id == first.id),
        "{different:?}"
    );
    let other_tenant = create(store, new_timer("globex", "a", &[], "key-1")).await;
    assert_ne!(other_tenant.id, first.id);
    // Two creates with one key in one batch: the second sees the first.
    let batch = store
        .apply(vec![
            Mutation::create(new_timer("acme", "c", &[], "key-2")),
            Mutation::create(new_timer("acme", "c", &[], "key-2")),
        ])
        .await
        .unwrap();
    assert!(
        matches!((&batch[0], &batch[1]), (Outcome::Created(a, _), Outcome::Existing(b)) if a.id == b.id),
        "{batch:?}"
    );
}

pub async fn a_request_with_a_conflicting_key_writes_nothing(store: &dyn Store) {
    let taken = create(store, new_timer("acme", "taken", &[], "key-1")).await;
    let fresh = new_timer("acme", "fresh", &[], "key-2");
    let clash = new_timer_with("acme", "clash", &[], "key-1", "fp-other");
    let out = store
        .apply(vec![
            Mutation::create(fresh.clone()),
            Mutation::create(clash),
        ])
        .await
        .unwrap();
    assert!(matches!(out[0], Outcome::Aborted), "{out:?}");
    assert!(
        matches!(&out[1], Outcome::Conflict { existing_id } if *existing_id == taken.id),
        "{out:?}"
    );
    assert_eq!(store.get("acme", &fresh.timer.id).await.unwrap(), None);
    assert_eq!(
        store.events_after("acme", 1, 10).await.unwrap().len(),
        0,
        "no event for the aborted request"
    );

    // Another request sharing the transaction is unaffected.
    let mut other = new_timer("acme", "other", &[], "key-2");
    other.group = 7;
    let mut clash = new_timer_with("acme", "clash", &[], "key-1", "fp-other");
    clash.group = 8;
    let out = store
        .apply(vec![
            Mutation::create(other.clone()),
            Mutation::create(clash),
        ])
        .await
        .unwrap();
    assert!(
        matches!(out[0], Outcome::Created(..)) && matches!(out[1], Outcome::Conflict { .. }),
        "{out:?}"
    );
    assert!(store.get("acme", &other.timer.id).await.unwrap().is_some());
}

pub async fn transitions_follow_the_lifecycle_and_write_one_event_each(store: &dyn Store) {
    let mut new = new_timer("acme", "a", &[], "");
    new.timer.fire_at = Some(to_timestamp(T0 + 60_000_000));
    let timer = create(store, new).await;
    let id = timer.id.clone();
    let out = store
        .apply(vec![to(&id, TimerStatus::Settled, T0 + 1)])
        .await
        .unwrap();
    assert!(
        matches!(out[0], Outcome::Rejected(TimerStatus::Scheduled)),
        "{out:?}"
    );
    let out = store
        .apply(vec![
            to(&id, TimerStatus::Armed, T0 + 1),
            to(&id, TimerStatus::Fired, T0 + 60_000_500),
            to(&id, TimerStatus::Settled, T0 + 60_001_000),
        ])
        .await
        .unwrap();
    let versions: Vec<(u64, i32)> = out
        .iter()
        .map(|o| match o {
            Outcome::Transitioned(t, e) => {
                assert_eq!(e.timer_id, id);
                assert_eq!(e.dedupe_key, format!("{id}:{}", t.state_version));
                (t.state_version, e.event_type)
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        versions,
        vec![
            (2, TimerEventType::Armed as i32),
            (3, TimerEventType::Fired as i32),
            (4, TimerEventType::Settled as i32)
        ]
    );
    let stored = store.get("acme", &id).await.unwrap().unwrap();
    assert_eq!(stored.status, TimerStatus::Settled as i32);
    assert_eq!(stored.jitter_ms, 0.5);
    assert!(stored.fired_at.is_some() && stored.settled_at.is_some());
    let events = store.events_after("acme", 0, 100).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    let payload: serde_json::Value = serde_json::from_slice(&events[2].payload).unwrap();
    assert_eq!(payload["type"], "timer.fired");
    assert_eq!(payload["data"]["id"], id.as_str());
    for status in [
        TimerStatus::Cancelled,
        TimerStatus::Fired,
        TimerStatus::Armed,
    ] {
        let out = store.apply(vec![to(&id, status, T0 + 2)]).await.unwrap();
        assert!(
            matches!(out[0], Outcome::Rejected(TimerStatus::Settled)),
            "{status:?}: {out:?}"
        );
    }
    assert_eq!(
        store.events_after("acme", 0, 100).await.unwrap().len(),
        4,
        "rejections write no events"
    );
}

pub async fn cancel_records_reason_and_is_tenant_checked(store: &dyn Store) {
    let timer = create(store, new_timer("acme", "a", &[], "")).await;
    let cancel = |tenant: &str| {
        Mutation::Transition(Transition {
            timer_id: timer.id.clone(),
            tenant_id: Some(tenant.to_owned()),
            to: TimerStatus::Cancelled,
            at: T0 + 5,
            reason: "no longer needed".into(),
            actor: "ops".into(),
            results: Vec::new(),
        })
    };
    assert!(matches!(
        store.apply(vec![cancel("globex")]).await.unwrap()[0],
        Outcome::NotFound
    ));
    let out = store.apply(vec![cancel("acme")]).await.unwrap();
    let Outcome::Transitioned(cancelled, _) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(
        (
            cancelled.cancel_reason.as_str(),
            cancelled.cancelled_by.as_str()
        ),
        ("no longer needed", "ops")
    );
    assert!(matches!(
        store
            .apply(vec![to(&timer.id, TimerStatus::Fired, T0 + 6)])
            .await
            .unwrap()[0],
        Outcome::Rejected(TimerStatus::Cancelled)
    ));
    assert!(matches!(
        store
            .apply(vec![to("nope", TimerStatus::Fired, T0)])
            .await
            .unwrap()[0],
        Outcome::NotFound
    ));
}

pub async fn sequences_are_per_tenant_and_consecutive(store: &dyn Store) {
    let batch: Vec<Mutation> = (0..5)
        .flat_map(|i| {
            [
                Mutation::create(new_timer("acme", &format!("a{i}"), &[], "")),
                Mutation::create(new_timer("globex", "g", &[], "")),
            ]
        })
        .collect();
    store.apply(batch).await.unwrap();
    for tenant in ["acme", "globex"] {
        let events = store.events_after(tenant, 0, 100).await.unwrap();
        assert_eq!(
            events.iter().map(|e| e.sequence).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5]
        );
        assert!(events.iter().all(|e| e.tenant_id == tenant));
        assert_eq!(
            store
                .events_after(tenant, 3, 100)
                .await
                .unwrap()
                .iter()
                .map(|e| e.sequence)
                .collect::<Vec<_>>(),
            vec![4, 5]
        );
        assert_eq!(store.events_after(tenant, 1, 2).await.unwrap().len(), 2);
        assert_eq!(
            store.event_bounds(tenant).await.unwrap(),
            EventBounds {
                oldest: Some(1),
                last: 5
            }
        );
    }
    assert_eq!(
        store.event_bounds("nobody").await.unwrap(),
        EventBounds::default()
    );
}

pub async fn list_filters_and_pages(store: &dyn Store) {
    let mut ids = Vec::new();
    for i in 0..25 {
        let env = if i % 2 == 0 { "prod" } else { "dev" };
        let mut labels = vec![("env", env), ("minoots.io/region", "us-east")];
        if i % 5 == 0 {
            labels.push(("urgent", ""));
        }
        let name = if i < 10 {
            format!("report-{i}")
        } else {
            format!("reminder_{i}")
        };
        ids.push(
            create(store, new_timer("acme", &name, &labels, ""))
                .await
                .id,
        );
    }
    create(
        store,
        new_timer("globex", "report-x", &[("env", "prod")], ""),
    )
    .await;
    store
        .apply(vec![
            to(&ids[0], TimerStatus::Cancelled, T0 + 1),
            to(&ids[1], TimerStatus::Armed, T0 + 1),
        ])
        .await
        .unwrap();

    let query = |f: &dyn Fn(&mut ListQuery)| {
        let mut q = ListQuery {
            tenant_id: "acme".into(),
            limit: 100,
            ..ListQuery::default()
        };
        f(&mut q);
        q
    };
    let names = |timers: Vec<Timer>| timers.into_iter().map(|t| t.id).collect::<Vec<_>>();

    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list(&query(&|q| {
                q.limit = 10;
                q.after_id = after.clone();
            }))
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = Some(page.last().unwrap().id.clone());
        paged.extend(names(page));
    }
    assert_eq!(
        paged, ids,
        "pages cover every timer once, in creation order, and only acme's"
    );

    let selected = |s: &str| query(&move |q| q.selector = LabelSelector::parse(s).unwrap());
    assert_eq!(store.list(&selected("env=prod")).await.unwrap().len(), 13);
    assert_eq!(store.list(&selected("env!=prod")).await.unwrap().len(), 12);
    assert_eq!(store.list(&selected("urgent")).await.unwrap().len(), 5);
    assert_eq!(
        store
            .list(&selected("!urgent,env=prod"))
            .await
            .unwrap()
            .len(),
        10
    );
    assert_eq!(
        store
            .list(&selected("minoots.io/region=us-east,env=dev"))
            .await
            .unwrap()
            .len(),
        12
    );
    assert_eq!(store.list(&selected("missing!=x")).await.unwrap().len(), 25);
    assert_eq!(
        store
            .list(&query(&|q| q.name_prefix = "report-".into()))
            .await
            .unwrap()
            .len(),
        10
    );
    assert_eq!(
        store
            .list(&query(&|q| q.name_prefix = "rem%".into()))
            .await
            .unwrap()
            .len(),
        0,
        "prefix is literal"
    );
    assert_eq!(
        store
            .list(&query(&|q| q.name_prefix = "reminder_".into()))
            .await
            .unwrap()
            .len(),
        15
    );
    assert_eq!(
        names(
            store
                .list(&query(
                    &|q| q.statuses = vec![TimerStatus::Cancelled, TimerStatus::Armed]
                ))
                .await
                .unwrap()
        ),
        vec![ids[0].clone(), ids[1].clone()]
    );
    assert_eq!(
        store
            .list(&query(&|q| q.tenant_id = "globex".into()))
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn pending_lists_only_unfinished_timers(store: &dyn Store) {
    let a = create(store, new_timer("acme", "a", &[], "")).await;
    let b = create(store, new_timer("acme", "b", &[], "")).await;
    let c = create(store, new_timer("globex", "c", &[], "")).await;
    let d = create(store, new_timer("globex", "d", &[], "")).await;
    store
        .apply(vec![
            to(&b.id, TimerStatus::Armed, T0),
            to(&c.id, TimerStatus::Fired, T0),
            to(&d.id, TimerStatus::Cancelled, T0),
        ])
        .await
        .unwrap();
    let mut pending: Vec<(String, TimerStatus)> = super::all_pending(store)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.id, p.status))
        .collect();
    pending.sort();
    let mut expected = vec![
        (a.id, TimerStatus::Scheduled),
        (b.id, TimerStatus::Armed),
        (c.id, TimerStatus::Fired),
    ];
    expected.sort();
    assert_eq!(pending, expected);
    assert!(
        super::all_pending(store)
            .await
            .unwrap()
            .iter()
            .all(|p| p.fire_at == T0)
    );
}

pub async fn purge_respects_retention_and_never_reuses_sequences(store: &dyn Store) {
    let old = create(store, new_timer("acme", "old", &[], "k-old")).await;
    let live = create(store, new_timer("acme", "live", &[], "")).await;
    store
        .apply(vec![to(&old.id, TimerStatus::Cancelled, T0 + 10)])
        .await
        .unwrap();
    // Unpublished events are kept when asked: nothing of acme's is published yet.
    assert_eq!(store.purge(0, T0 + 5, true).await.unwrap(), (0, 0));
    let (timers, events) = store.purge(T0 + 11, T0 + 5, false).await.unwrap();
    assert_eq!(
        (timers, events),
        (1, 2),
        "the finished timer and the two events before T0+5 go"
    );
    assert_eq!(store.get("acme", &old.id).await.unwrap(), None);
    assert!(store.get("acme", &live.id).await.unwrap().is_some());
    assert_eq!(
        store.event_bounds("acme").await.unwrap(),
        EventBounds {
            oldest: Some(3),
            last: 3
        }
    );
    let next = store
        .apply(vec![Mutation::create(new_timer(
            "acme",
            "next",
            &[],
            "k-old",
        ))])
        .await
        .unwrap();
    let Outcome::Created(_, event) = &next[0] else {
        panic!("a purged timer frees its idempotency key: {next:?}")
    };
    assert_eq!(event.sequence, 4);
}

/// After a restore: every tenant's next sequence, and a new tenant's first, goes past the
/// highest the store holds; the bounds report the floor as the last sequence.
pub async fn skip_sequences_moves_every_tenant_past_the_highest(store: &dyn Store) {
    for tenant in ["acme", "acme", "acme", "globex"] {
        create(store, new_timer(tenant, "t", &[], "")).await;
    }
    assert_eq!(store.skip_sequences(100).await.unwrap(), 103);
    assert_eq!(store.event_bounds("acme").await.unwrap().last, 103);
    assert_eq!(store.event_bounds("nobody").await.unwrap().last, 103);
    for (tenant, expected) in [("acme", 104), ("globex", 104), ("initech", 104)] {
        let out = store
            .apply(vec![Mutation::create(new_timer(tenant, "after", &[], ""))])
            .await
            .unwrap();
        let Outcome::Created(_, event) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(event.sequence, expected, "{tenant}");
    }
    assert_eq!(
        store.skip_sequences(10).await.unwrap(),
        114,
        "and again, past both"
    );
}

fn key(id: &str, tenant: &str, digest: &str) -> ApiKey {
    ApiKey {
        id: id.to_owned(),
        tenant_id: tenant.to_owned(),
        name: format!("{id} name"),
        roles: vec!["timer.read".to_owned(), "timer.write".to_owned()],
        tier: "standard".to_owned(),
        digest: digest.to_owned(),
        created_at: T0,
        revoked_at: None,
    }
}

pub async fn api_keys_are_found_by_digest_listed_and_revoked_once(store: &dyn Store) {
    let a = key("key-a", "acme", "aa11");
    let b = key("key-b", "globex", "bb22");
    store.put_api_key(&a).await.unwrap();
    store.put_api_key(&b).await.unwrap();
    assert!(matches!(
        store.put_api_key(&key("key-c", "acme", "aa11")).await,
        Err(crate::KernelError::AlreadyExists(_))
    ));
    assert!(matches!(
        store.put_api_key(&key("key-a", "acme", "cc33")).await,
        Err(crate::KernelError::AlreadyExists(_))
    ));
    assert_eq!(store.find_api_key("aa11").await.unwrap(), Some(a.clone()));
    assert_eq!(store.find_api_key("ffff").await.unwrap(), None);
    assert_eq!(
        store.list_api_keys(Some("acme")).await.unwrap(),
        vec![a.clone()]
    );
    assert_eq!(store.list_api_keys(None).await.unwrap(), vec![a, b]);
    let revoked = store
        .revoke_api_key("key-a", T0 + 5)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(T0 + 5));
    let again = store
        .revoke_api_key("key-a", T0 + 9)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        again.revoked_at,
        Some(T0 + 5),
        "the first revocation time stays"
    );
    assert_eq!(
        store
            .find_api_key("aa11")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(T0 + 5)
    );
    assert_eq!(store.revoke_api_key("nope", T0).await.unwrap(), None);
}

pub async fn tenant_limits_and_daily_counts_are_stored(store: &dyn Store) {
    assert!(store.tenant_limits().await.unwrap().is_empty());
    let limits = Limits {
        active_timers: Some(5),
        daily_timers: None,
    };
    store.put_tenant_limits("acme", limits).await.unwrap();
    let raised = Limits {
        active_timers: Some(7),
        daily_timers: Some(100),
    };
    store.put_tenant_limits("globex", limits).await.unwrap();
    store.put_tenant_limits("globex", raised).await.unwrap();
    let stored = store.tenant_limits().await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored["acme"], limits);
    assert_eq!(stored["globex"], raised);

    let before = crate::clock::Clock::now(&crate::clock::SystemClock::default()) - 1_000;
    create(store, new_timer("acme", "a1", &[], "")).await;
    create(store, new_timer("acme", "a2", &[], "")).await;
    create(store, new_timer("globex", "g1", &[], "")).await;
    let counts = store.created_since(before).await.unwrap();
    assert_eq!(counts.get("acme"), Some(&2));
    assert_eq!(counts.get("globex"), Some(&1));
    let later = crate::clock::Clock::now(&crate::clock::SystemClock::default()) + 60_000_000;
    assert!(store.created_since(later).await.unwrap().is_empty());
}

/// How a test damages a stored timer record: nested past the decoder's limit (what REST
/// accepted before issue 19), or not protobuf at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    TooDeep,
    Garbage,
}

/// The body of a timer record nested past what protobuf decodes (the issue 19 reproduction).
pub fn too_deep_body(timer: &Timer) -> Vec<u8> {
    use prost::Message;
    use prost_types::{Struct, Value, value::Kind};
    let mut value = Value {
        kind: Some(Kind::NumberValue(1.0)),
    };
    for _ in 0..40 {
        value = Value {
            kind: Some(Kind::StructValue(Struct {
                fields: [("a".to_owned(), value)].into(),
            })),
        };
    }
    let mut timer = timer.clone();
    timer.metadata = Some(Struct {
        fields: [("a".to_owned(), value)].into(),
    });
    let body = timer.encode_to_vec();
    assert!(Timer::decode(body.as_slice()).is_err());
    body
}

/// A record that cannot be decoded fails nothing but itself: get and list answer (showing it
/// with the reason), and a fire batch that holds it commits every other timer while it is
/// quarantined: FAILED with the reason, one event, a dead letter in the same commit. `damage`
/// plants the damaged record the way each store can.
pub async fn a_damaged_record_is_quarantined_and_blocks_nothing<F, Fut>(
    store: &dyn Store,
    damage: F,
) where
    F: Fn(Timer, Damage) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let deep = create(store, new_timer("acme", "deep", &[], "")).await;
    let other = create(store, new_timer("globex", "other", &[], "")).await;
    let garbage = create(store, new_timer("acme", "garbage", &[], "")).await;
    store
        .apply(vec![
            to(&deep.id, TimerStatus::Armed, T0),
            to(&other.id, TimerStatus::Armed, T0),
            to(&garbage.id, TimerStatus::Armed, T0),
        ])
        .await
        .unwrap();
    let armed = store.get("acme", &deep.id).await.unwrap().unwrap();
    damage(armed, Damage::TooDeep).await;
    let armed = store.get("acme", &garbage.id).await.unwrap().unwrap();
    damage(armed, Damage::Garbage).await;

    let read = store.get("acme", &deep.id).await.unwrap().unwrap();
    assert_eq!(read.status, TimerStatus::Armed as i32);
    assert!(quarantine_reason(&read).is_some(), "{read:?}");
    let page = store
        .list(&ListQuery {
            tenant_id: "acme".into(),
            limit: 10,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        vec![deep.id.as_str(), garbage.id.as_str()],
        "the page holds both, shown as damaged"
    );
    assert!(page.iter().all(|t| quarantine_reason(t).is_some()));

    // One fire batch as the scheduler writes it: FIRED then SETTLED for each timer.
    let fire_at = T0 + 60_000_000;
    let mut batch = Vec::new();
    for id in [&deep.id, &other.id, &garbage.id] {
        batch.push(to(id, TimerStatus::Fired, fire_at));
        batch.push(to(id, TimerStatus::Settled, fire_at));
    }
    let out = store.apply(batch).await.expect("the batch commits");
    assert!(
        matches!(&out[0], Outcome::Quarantined { timer, from: TimerStatus::Armed, .. } if timer.status == TimerStatus::Failed as i32),
        "{:?}",
        out[0]
    );
    assert!(
        matches!(out[1], Outcome::Rejected(TimerStatus::Failed)),
        "{:?}",
        out[1]
    );
    assert!(matches!(out[2], Outcome::Transitioned(..)), "{:?}", out[2]);
    assert!(matches!(out[3], Outcome::Transitioned(..)), "{:?}", out[3]);
    assert!(
        matches!(out[4], Outcome::Quarantined { .. }),
        "{:?}",
        out[4]
    );

    assert_eq!(
        store
            .get("globex", &other.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        TimerStatus::Settled as i32,
        "the other tenant's timer fired and settled"
    );
    for (id, lost) in [(&deep.id, "metadata"), (&garbage.id, "only its id")] {
        let failed = store.get("acme", id).await.unwrap().unwrap();
        assert_eq!(failed.status, TimerStatus::Failed as i32);
        assert!(
            failed.failure_reason.starts_with(QUARANTINE_PREFIX)
                && failed.failure_reason.contains(lost),
            "{}",
            failed.failure_reason
        );
        let letters = store.timer_dead_letters(id).await.unwrap();
        assert_eq!(letters.len(), 1, "one dead letter records it");
        assert_eq!(letters[0].last_error, failed.failure_reason);
        assert!(letters[0].action.is_none());
    }
    assert_eq!(
        store.get("acme", &deep.id).await.unwrap().unwrap().name,
        "deep",
        "the rewritten record reads whole"
    );
    let events = store.events_after("acme", 0, 100).await.unwrap();
    let failed: Vec<&str> = events
        .iter()
        .filter(|e| e.event_type == TimerEventType::Failed as i32)
        .map(|e| e.timer_id.as_str())
        .collect();
    assert_eq!(failed, vec![deep.id.as_str(), garbage.id.as_str()]);
    let dedupe: HashSet<&str> = events.iter().map(|e| e.dedupe_key.as_str()).collect();
    assert_eq!(dedupe.len(), events.len(), "no dedupe key repeats");
}

pub async fn rate_buckets_refill_cap_and_are_taken_atomically(store: &dyn Store) {
    let take = |bucket: &'static str, now: Micros| store.take_rate_token(bucket, 10.0, 3.0, now);
    for _ in 0..3 {
        assert!(take("key-1", T0).await.unwrap().taken);
    }
    let refused = take("key-1", T0).await.unwrap();
    assert!(!refused.taken);
    assert_eq!(refused.wait(10.0), Some(100_000));
    assert!(
        take("key-2", T0).await.unwrap().taken,
        "buckets are separate"
    );
    // 10 per second: one token 100 ms later, and only one.
    assert!(take("key-1", T0 + 100_000).await.unwrap().taken);
    assert!(!take("key-1", T0 + 100_000).await.unwrap().taken);
    // A process whose clock is behind refills nothing.
    assert!(!take("key-1", T0).await.unwrap().taken);
    // An hour later the bucket is full again, never fuller than its burst.
    let token = take("key-1", T0 + 3_600_000_000).await.unwrap();
    assert!(
        token.taken && (token.tokens - 2.0).abs() < 1e-9,
        "{token:?}"
    );

    // Concurrent takers at one instant share the burst exactly.
    let takers = (0..12).map(|_| store.take_rate_token("key-3", 10.0, 5.0, T0));
    let taken = futures_util::future::join_all(takers)
        .await
        .into_iter()
        .filter(|t| t.as_ref().unwrap().taken)
        .count();
    assert_eq!(taken, 5);
}

fn change(id: &str, expected_version: u64, at: Micros, kind: ChangeKind) -> Mutation {
    Mutation::Change(Box::new(Change {
        timer_id: id.to_owned(),
        tenant_id: "acme".to_owned(),
        expected_version,
        at,
        actor: "ops".to_owned(),
        kind,
    }))
}

async fn one(store: &dyn Store, mutation: Mutation) -> Outcome {
    store.apply(vec![mutation]).await.unwrap().remove(0)
}

pub async fn changes_update_pause_resume_and_move_keys(store: &dyn Store) {
    let timer = create(store, new_timer("acme", "a", &[("a", "1")], "k")).await;
    store
        .apply(vec![to(&timer.id, TimerStatus::Armed, T0 + 1)])
        .await
        .unwrap();
    let later = T0 + 120_000_000;
    let fields = Fields {
        fire_at: Some((later, None)),
        name: Some("renamed".into()),
        labels: Some([("b".to_owned(), "2".to_owned())].into()),
        ..Fields::default()
    };
    // A stale state_version changes nothing.
    let stale = one(
        store,
        change(
            &timer.id,
            1,
            T0 + 2,
            ChangeKind::Update(Box::new(fields.clone())),
        ),
    )
    .await;
    assert!(matches!(stale, Outcome::Stale { current: 2 }), "{stale:?}");
    let updated = match one(
        store,
        change(&timer.id, 2, T0 + 2, ChangeKind::Update(Box::new(fields))),
    )
    .await
    {
        Outcome::Transitioned(timer, event) => {
            assert_eq!(event.event_type, TimerEventType::Updated as i32);
            timer
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(updated.state_version, 3);
    assert_eq!(updated.status, TimerStatus::Armed as i32);
    // The indexed columns moved with the body: selectors, pending fire times, the key.
    let query = |selector: &str| ListQuery {
        tenant_id: "acme".into(),
        selector: LabelSelector::parse(selector).unwrap(),
        limit: 10,
        ..ListQuery::default()
    };
    assert_eq!(store.list(&query("b=2")).await.unwrap().len(), 1);
    assert!(store.list(&query("a=1")).await.unwrap().is_empty());
    let pending = super::all_pending(store).await.unwrap();
    assert_eq!(pending[0].fire_at, later);
    assert_eq!(
        store.get("acme", &timer.id).await.unwrap().unwrap().name,
        "renamed"
    );
    assert_eq!(
        store.id_for_key("acme", "k").await.unwrap(),
        Some(timer.id.clone())
    );
    assert_eq!(store.id_for_key("globex", "k").await.unwrap(), None);
    // A fire due at the old time is refused: the timer moved later.
    assert!(matches!(
        one(store, to(&timer.id, TimerStatus::Fired, T0 + 60_000_000)).await,
        Outcome::NotDue(_)
    ));

    // Paused: not pending, cannot fire; pausing again changes nothing; resumed: armed.
    let pause = || ChangeKind::Pause {
        reason: "maintenance".into(),
        tenant: false,
    };
    let paused = match one(store, change(&timer.id, 0, T0 + 3, pause())).await {
        Outcome::Transitioned(timer, event) => {
            assert_eq!(event.event_type, TimerEventType::Paused as i32);
            timer
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(paused.status, TimerStatus::Paused as i32);
    assert_eq!(paused.pause_reason, "maintenance");
    assert!(super::all_pending(store).await.unwrap().is_empty());
    assert!(matches!(
        one(store, change(&timer.id, 0, T0 + 4, pause())).await,
        Outcome::Unchanged(_)
    ));
    assert!(matches!(
        one(store, to(&timer.id, TimerStatus::Fired, later)).await,
        Outcome::Rejected(TimerStatus::Paused)
    ));
    // The tenant's resume leaves a timer paused on its own alone.
    assert!(matches!(
        one(
            store,
            change(&timer.id, 0, T0 + 5, ChangeKind::Resume { tenant: true })
        )
        .await,
        Outcome::Unchanged(_)
    ));
    match one(
        store,
        change(&timer.id, 0, T0 + 5, ChangeKind::Resume { tenant: false }),
    )
    .await
    {
        Outcome::Transitioned(timer, event) => {
            assert_eq!(event.event_type, TimerEventType::Resumed as i32);
            assert_eq!(timer.status, TimerStatus::Armed as i32);
            assert!(timer.paused_at.is_none());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(super::all_pending(store).await.unwrap().len(), 1);

    // REPLACE takes over the pending timer; afterwards the replacing request is the key's.
    let mut replace = new_timer_with("acme", "debounced", &[("c", "3")], "k", "fp-2");
    replace.key_policy = minoots_proto::v1::KeyPolicy::Replace;
    replace.timer.fire_at = Some(to_timestamp(T0 + 300_000_000));
    match one(store, Mutation::create(replace)).await {
        Outcome::Replaced(replaced, _) => {
            assert_eq!(replaced.id, timer.id);
            assert_eq!(replaced.name, "debounced");
            assert_eq!(fire_at(&replaced), T0 + 300_000_000);
        }
        other => panic!("{other:?}"),
    }
    let retry = new_timer_with("acme", "debounced", &[("c", "3")], "k", "fp-2");
    assert!(matches!(
        one(store, Mutation::create(retry)).await,
        Outcome::Existing(_)
    ));
    let mut keep = new_timer_with("acme", "other", &[], "k", "fp-3");
    keep.key_policy = minoots_proto::v1::KeyPolicy::Keep;
    match one(store, Mutation::create(keep)).await {
        Outcome::Existing(kept) => assert_eq!(kept.name, "debounced"),
        other => panic!("{other:?}"),
    }
    assert_eq!(store.list(&query("c=3")).await.unwrap().len(), 1);

    // Once it fired, REPLACE makes a new timer that takes the key.
    store
        .apply(vec![
            to(&timer.id, TimerStatus::Fired, T0 + 300_000_000),
            to(&timer.id, TimerStatus::Settled, T0 + 300_000_000),
        ])
        .await
        .unwrap();
    let mut again = new_timer_with("acme", "next", &[], "k", "fp-4");
    again.key_policy = minoots_proto::v1::KeyPolicy::Replace;
    let next = match one(store, Mutation::create(again)).await {
        Outcome::Created(next, _) => next,
        other => panic!("{other:?}"),
    };
    assert_ne!(next.id, timer.id);
    assert_eq!(
        store.id_for_key("acme", "k").await.unwrap(),
        Some(next.id.clone())
    );
    assert!(store.get("acme", &timer.id).await.unwrap().is_some());
    // Changing a finished timer is refused.
    assert!(matches!(
        one(store, change(&timer.id, 0, T0 + 6, pause())).await,
        Outcome::Rejected(TimerStatus::Settled)
    ));

    // A paused tenant's new timers are created PAUSED.
    let pause = PausedTenant {
        paused_at: T0,
        paused_by: "ops".into(),
        reason: "incident".into(),
    };
    store.set_tenant_pause("acme", Some(&pause)).await.unwrap();
    assert_eq!(store.tenant_pause("acme").await.unwrap(), Some(pause));
    let held = create(store, new_timer("acme", "held", &[], "")).await;
    assert_eq!(held.status, TimerStatus::Paused as i32);
    assert!(held.tenant_paused);
    let other = create(store, new_timer("globex", "free", &[], "")).await;
    assert_eq!(other.status, TimerStatus::Scheduled as i32);
    store.set_tenant_pause("acme", None).await.unwrap();
    assert_eq!(store.tenant_pause("acme").await.unwrap(), None);
}

pub async fn schedules_are_written_with_their_event_and_read_back(store: &dyn Store) {
    use minoots_proto::v1::{Schedule, ScheduleState};
    let write = |schedule: &Schedule, event, fingerprint: &str| {
        Mutation::Schedule(Box::new(ScheduleWrite {
            schedule: schedule.clone(),
            event,
            at: T0,
            fingerprint: fingerprint.to_owned(),
        }))
    };
    let mut a = Schedule {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: "acme".into(),
        name: "a".into(),
        idempotency_key: "standup".into(),
        state: ScheduleState::Active as i32,
        version: 1,
        ..Schedule::default()
    };
    let b = Schedule {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: "acme".into(),
        name: "b".into(),
        state: ScheduleState::Paused as i32,
        version: 1,
        ..Schedule::default()
    };
    let timer = create(store, new_timer("acme", "t", &[], "")).await;
    let outcomes = store
        .apply(vec![
            write(&a, Some(TimerEventType::ScheduleCreated), "fp-a"),
            write(&b, None, "fp-b"),
        ])
        .await
        .unwrap();
    let Outcome::ScheduleSaved(saved, Some(event)) = &outcomes[0] else {
        panic!("expected a saved schedule with its event, got {outcomes:?}");
    };
    assert_eq!(**saved, a);
    // The tenant's next sequence, after the timer's scheduled event.
    assert_eq!(event.sequence, 2);
    assert_eq!(event.timer_id, "");
    assert_eq!(event.schedule.as_ref(), Some(&a));
    assert!(matches!(outcomes[1], Outcome::ScheduleSaved(_, None)));
    let events = store.events_after("acme", 1, 10).await.unwrap();
    assert_eq!(events.len(), 1, "a write without an event writes none");
    assert_eq!(events[0].schedule.as_ref(), Some(&a));
    assert_eq!(
        store.get_schedule("acme", &a.id).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(store.get_schedule("other", &a.id).await.unwrap(), None);
    // A later write replaces the schedule but keeps the key's first request fingerprint.
    a.state = ScheduleState::Deleted as i32;
    a.version = 2;
    store
        .apply(vec![write(&a, Some(TimerEventType::ScheduleDeleted), "")])
        .await
        .unwrap();
    assert_eq!(
        store.schedule_for_key("acme", "standup").await.unwrap(),
        Some((a.clone(), "fp-a".to_owned()))
    );
    assert_eq!(
        store.schedule_for_key("other", "standup").await.unwrap(),
        None
    );
    let listed = store.list_schedules("acme", "", 10).await.unwrap();
    assert_eq!(listed, [a.clone(), b.clone()]);
    let after_a = store.list_schedules("acme", &a.id, 10).await.unwrap();
    assert_eq!(after_a, std::slice::from_ref(&b));
    let live: Vec<String> = store
        .live_schedules()
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.tenant_id == "acme")
        .map(|s| s.id)
        .collect();
    assert_eq!(live, std::slice::from_ref(&b.id));
    let _ = timer;
}

macro_rules! store_conformance {
    ($name:ident, $make:expr) => {
        mod $name {
            use super::*;
            use crate::store::conformance as suite;

            macro_rules! case {
                ($case:ident) => {
                    #[tokio::test]
                    async fn $case() {
                        let Some((store, _guard)) = $make.await else {
                            return;
                        };
                        suite::$case(&store).await;
                    }
                };
            }
            case!(create_then_get_is_tenant_scoped);
            case!(idempotency_keys_are_per_tenant_and_check_the_request);
            case!(transitions_follow_the_lifecycle_and_write_one_event_each);
            case!(a_request_with_a_conflicting_key_writes_nothing);
            case!(cancel_records_reason_and_is_tenant_checked);
            case!(sequences_are_per_tenant_and_consecutive);
            case!(list_filters_and_pages);
            case!(pending_lists_only_unfinished_timers);
            case!(purge_respects_retention_and_never_reuses_sequences);
            case!(api_keys_are_found_by_digest_listed_and_revoked_once);
            case!(tenant_limits_and_daily_counts_are_stored);
            case!(skip_sequences_moves_every_tenant_past_the_highest);
            case!(rate_buckets_refill_cap_and_are_taken_atomically);
            case!(changes_update_pause_resume_and_move_keys);
            case!(schedules_are_written_with_their_event_and_read_back);
            case!(get_many_reads_several_and_is_tenant_scoped);
        }
    };
}

async fn memory() -> Option<(MemoryStore, ())> {
    Some((MemoryStore::new(), ()))
}

async fn sqlite() -> Option<(SqliteStore, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("minoots.db"), Synchronous::Normal)
        .await
        .unwrap();
    Some((store, dir))
}

async fn postgres() -> Option<(PostgresStore, crate::testing::TestDatabase)> {
    let db = crate::testing::TestDatabase::create("postgres conformance").await?;
    let store = PostgresStore::connect(&db.url).await.unwrap();
    Some((store, db))
}

store_conformance!(memory_store, memory());
store_conformance!(sqlite_store, sqlite());
store_conformance!(postgres_store, postgres());

/// A deposed leader's write is refused by Postgres itself, even though its own view says it
/// still holds the lease.
#[tokio::test]
async fn postgres_refuses_writes_from_a_deposed_leader() {
    use crate::leadership::Lease;
    let Some(db) = crate::testing::TestDatabase::create("postgres fencing").await else {
        return;
    };
    let old = PostgresStore::connect(&db.url).await.unwrap();
    let new = PostgresStore::connect(&db.url).await.unwrap();
    let ttl = std::time::Duration::from_millis(300);
    let old_fence = old
        .lease("kernel", "old", ttl)
        .try_acquire()
        .await
        .unwrap()
        .expect("free lease");
    assert!(
        new.lease("kernel", "new", ttl)
            .try_acquire()
            .await
            .unwrap()
            .is_none(),
        "held leases are not taken"
    );
    old.set_fence(Some(old_fence.clone()));
    let timer = create(&old, new_timer("acme", "a", &[], "")).await;

    // The old leader stalls past its lease; the new one takes over with a larger token.
    let mut new_fence = None;
    while new_fence.is_none() {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        new_fence = new.lease("kernel", "new", ttl).try_acquire().await.unwrap();
    }
    let new_fence = new_fence.unwrap();
    assert!(new_fence.token > old_fence.token);
    new.set_fence(Some(new_fence));

    let late = old
        .apply(vec![to(&timer.id, TimerStatus::Fired, T0 + 1)])
        .await;
    assert!(
        matches!(late, Err(crate::KernelError::Fenced { .. })),
        "{late:?}"
    );
    assert!(
        !old.lease("kernel", "old", ttl)
            .renew(&old_fence)
            .await
            .unwrap()
    );
    let fired = new
        .apply(vec![to(&timer.id, TimerStatus::Fired, T0 + 2)])
        .await
        .unwrap();
    assert!(matches!(fired[0], Outcome::Transitioned(..)));
    assert_eq!(
        new.events_after("acme", 0, 10).await.unwrap().len(),
        2,
        "scheduled + the new leader's fire; the refused write left none"
    );
}

/// Issue 19 item 12: the writes a leader makes beside `apply` (dead letters, the NATS publish
/// cursor, retention purges) are fenced too: a deposed leader's are refused by Postgres.
#[tokio::test]
async fn postgres_refuses_side_writes_from_a_deposed_leader() {
    use crate::leadership::Lease;
    let Some(db) = crate::testing::TestDatabase::create("postgres side-write fencing").await else {
        return;
    };
    let old = PostgresStore::connect(&db.url).await.unwrap();
    let new = PostgresStore::connect(&db.url).await.unwrap();
    let ttl = std::time::Duration::from_millis(200);
    let old_fence = old
        .lease("kernel", "old", ttl)
        .try_acquire()
        .await
        .unwrap()
        .expect("free lease");
    old.set_fence(Some(old_fence));
    let letter = |id: &str| DeadLetter {
        id: id.to_owned(),
        tenant_id: "acme".into(),
        timer_id: "t".into(),
        created_at: Some(to_timestamp(T0)),
        ..DeadLetter::default()
    };
    old.put_dead_letters(&[letter("while-leading")])
        .await
        .unwrap();
    old.set_publish_cursor("acme", 1).await.unwrap();

    let mut new_fence = None;
    while new_fence.is_none() {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        new_fence = new.lease("kernel", "new", ttl).try_acquire().await.unwrap();
    }
    new.set_fence(new_fence);

    let late = old.put_dead_letters(&[letter("after-deposed")]).await;
    assert!(
        matches!(late, Err(crate::KernelError::Fenced { .. })),
        "{late:?}"
    );
    let late = old.set_publish_cursor("acme", 99).await;
    assert!(
        matches!(late, Err(crate::KernelError::Fenced { .. })),
        "{late:?}"
    );
    let late = old.purge(i64::MAX, i64::MAX, false).await;
    assert!(
        matches!(late, Err(crate::KernelError::Fenced { .. })),
        "{late:?}"
    );

    assert_eq!(
        new.get_dead_letter("acme", "after-deposed").await.unwrap(),
        None
    );
    assert!(
        new.get_dead_letter("acme", "while-leading")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(new.publish_cursors().await.unwrap().get("acme"), Some(&1));
    new.set_publish_cursor("acme", 2).await.unwrap();
    new.put_dead_letters(&[letter("new-leader")]).await.unwrap();
}

#[tokio::test]
async fn memory_quarantines_a_damaged_record() {
    let store = MemoryStore::new();
    a_damaged_record_is_quarantined_and_blocks_nothing(&store, |timer, damage| {
        store.damage(
            &timer.id,
            &format!("{damage:?} (planted; only its id read)"),
        );
        if damage == Damage::TooDeep {
            // Memory keeps no bytes; what a salvage of the deep record leaves, and why.
            store.damage(&timer.id, "read without metadata (planted)");
        }
        async {}
    })
    .await;
}

#[tokio::test]
async fn sqlite_quarantines_a_damaged_record() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("minoots.db");
    let store = SqliteStore::open(&path, Synchronous::Normal).await.unwrap();
    let url = format!("sqlite://{}", path.display());
    a_damaged_record_is_quarantined_and_blocks_nothing(&store, |timer, damage| {
        let url = url.clone();
        async move {
            let body = match damage {
                Damage::TooDeep => too_deep_body(&timer),
                Damage::Garbage => vec![0xff, 0xff, 0xff],
            };
            let mut raw = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query("UPDATE timers SET body = ? WHERE id = ?")
                .bind(body)
                .bind(&timer.id)
                .execute(&mut raw)
                .await
                .unwrap();
            raw.close().await.unwrap();
        }
    })
    .await;
    // A damaged event is skipped by a replay, not an error for the whole stream.
    let mut raw = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE events SET body = x'ffffff' WHERE tenant_id = 'acme' AND sequence = 1")
        .execute(&mut raw)
        .await
        .unwrap();
    let events = store.events_after("acme", 0, 100).await.unwrap();
    assert!(!events.is_empty() && events[0].sequence == 2, "{events:?}");
}

#[tokio::test]
async fn postgres_quarantines_a_damaged_record() {
    let Some((store, _db)) = postgres().await else {
        return;
    };
    let pool = store.pool().clone();
    a_damaged_record_is_quarantined_and_blocks_nothing(&store, |timer, damage| {
        let pool = pool.clone();
        async move {
            let body = match damage {
                Damage::TooDeep => too_deep_body(&timer),
                Damage::Garbage => vec![0xff, 0xff, 0xff],
            };
            sqlx::query("UPDATE timers SET body = $1 WHERE id = $2")
                .bind(body)
                .bind(&timer.id)
                .execute(&pool)
                .await
                .unwrap();
        }
    })
    .await;
    sqlx::query("UPDATE events SET body = decode('ffffff', 'hex') WHERE tenant_id = 'acme' AND sequence = 1")
        .execute(&pool)
        .await
        .unwrap();
    let events = store.events_after("acme", 0, 100).await.unwrap();
    assert!(!events.is_empty() && events[0].sequence == 2, "{events:?}");
}

#[tokio::test]
async fn sqlite_keeps_everything_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("minoots.db");
    let store = SqliteStore::open(&path, Synchronous::Full).await.unwrap();
    let timer = create(&store, new_timer("acme", "a", &[("k", "v")], "key")).await;
    store
        .apply(vec![to(&timer.id, TimerStatus::Armed, T0 + 1)])
        .await
        .unwrap();
    store.close().await;
    let store = SqliteStore::open(&path, Synchronous::Full).await.unwrap();
    let got = store.get("acme", &timer.id).await.unwrap().unwrap();
    assert_eq!(got.status, TimerStatus::Armed as i32);
    assert_eq!(store.event_bounds("acme").await.unwrap().last, 2);
    assert_eq!(super::all_pending(&store).await.unwrap().len(), 1);
}
