//! Cluster mode on the real Postgres at TEST_DATABASE_URL: two `minoots` processes on one
//! database, one leading through a lease. Skips (loudly) without Postgres, unless
//! MINOOTS_REQUIRE_SERVICES=1.

mod common;

use std::{
    collections::HashMap,
    process::Stdio,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use common::{Server, WAIT};
use minoots::{Client, Error, TimerSpec, proto};
use minoots_kernel::testing::TestDatabase;
use tokio_stream::StreamExt;

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

fn at(micros: i64) -> minoots_proto::prost_types::Timestamp {
    minoots_proto::prost_types::Timestamp {
        seconds: micros / 1_000_000,
        nanos: ((micros % 1_000_000) * 1_000) as i32,
    }
}

fn micros(ts: &Option<minoots_proto::prost_types::Timestamp>) -> i64 {
    ts.as_ref()
        .map_or(0, |t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1_000)
}

/// Waits until `server` leads (answers a read), returning how long that took.
async fn until_leading(client: &mut Client) -> Duration {
    let started = Instant::now();
    tokio::time::timeout(WAIT, async {
        loop {
            match client
                .list(proto::ListTimersRequest {
                    page_size: 1,
                    ..Default::default()
                })
                .await
            {
                Ok(_) => return,
                Err(Error::FailedPrecondition(_)) => {
                    tokio::time::sleep(Duration::from_millis(10)).await
                }
                Err(other) => panic!("unexpected error while waiting for leadership: {other}"),
            }
        }
    })
    .await
    .expect("no kernel took the lead");
    started.elapsed()
}

/// Every FIRED event of the tenant's log, read from the start until `count` timers have fired.
async fn fires(client: &mut Client, count: usize) -> HashMap<String, Vec<proto::Timer>> {
    let request = minoots::StreamOptions::default()
        .after_sequence(0)
        .event_types([proto::TimerEventType::Fired]);
    let mut log = client.stream(request).await.unwrap();
    let mut fired: HashMap<String, Vec<proto::Timer>> = HashMap::new();
    tokio::time::timeout(WAIT, async {
        while fired.len() < count {
            let event = log.next().await.unwrap().unwrap();
            fired
                .entry(event.timer_id)
                .or_default()
                .push(event.timer.unwrap());
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {} of {count} timers fired", fired.len()));
    fired
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_killed_half_way_loses_no_timer() {
    const TIMERS: usize = 10_000;
    let Some(db) = TestDatabase::create("failover").await else {
        return;
    };
    let mut a = Server::start_clustered(&db.url, "kernel-a", &[], Stdio::null()).await;
    let mut on_a = common::client(&a.url, "acme").await;
    until_leading(&mut on_a).await;
    let b = Server::start_clustered(&db.url, "kernel-b", &[], Stdio::null()).await;
    let mut on_b = common::client(&b.url, "acme").await;
    assert!(
        matches!(
            on_b.get("0195a3c4-0000-7000-8000-000000000000").await,
            Err(Error::FailedPrecondition(_))
        ),
        "b follows"
    );
    let ready = reqwest::get(format!("{}/readyz", b.url)).await.unwrap();
    assert_eq!(
        ready.status(),
        reqwest::StatusCode::SERVICE_UNAVAILABLE,
        "a follower is not ready"
    );
    assert!(ready.headers().contains_key("retry-after"));
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(
        body["error"]["retryAfterMs"], 300,
        "the lease heartbeat as the retry hint"
    );

    // 10,000 timers due evenly over 10 s, starting far enough ahead that scheduling them on a
    // loaded machine never finds the first ones already in the past.
    let start = now_micros() + 2_000_000;
    for chunk in (0..TIMERS).collect::<Vec<_>>().chunks(1_000) {
        // A chunk scheduled late (a loaded machine) keeps its timers just ahead of now.
        let soonest = now_micros() + 200_000;
        let specs: Vec<TimerSpec> = chunk
            .iter()
            .map(|i| {
                TimerSpec::at(
                    format!("t{i}"),
                    at((start + *i as i64 * 1_000).max(soonest)),
                )
            })
            .collect();
        on_a.schedule_many(specs).await.unwrap();
    }

    // SIGKILL the leader half-way through the window.
    let half = start + 5_000_000;
    tokio::time::sleep(Duration::from_micros((half - now_micros()).max(0) as u64)).await;
    let killed_at = now_micros();
    let killed = Instant::now();
    a.kill();
    let takeover = until_leading(&mut on_b).await;
    assert_eq!(
        reqwest::get(format!("{}/readyz", b.url))
            .await
            .unwrap()
            .status(),
        reqwest::StatusCode::OK
    );
    let took_over_at = killed_at + takeover.as_micros() as i64;

    let fired = fires(&mut on_b, TIMERS).await;
    let duplicates: usize = fired.values().map(|f| f.len() - 1).sum();
    // Timers due while no kernel led fired late; how long after the leader died did the last go?
    let overdue_done = fired
        .values()
        .map(|f| &f[0])
        .filter(|t| micros(&t.fire_at) > killed_at && micros(&t.fire_at) <= took_over_at)
        .map(|t| micros(&t.fired_at) - killed_at)
        .max()
        .unwrap_or(0);
    println!(
        "failover: SIGKILL at t+5 s; takeover after {:.0} ms; timers due in the gap all fired within {:.0} ms of the kill; \
         {} of {TIMERS} fired, {duplicates} duplicates",
        takeover.as_secs_f64() * 1_000.0,
        overdue_done as f64 / 1_000.0,
        fired.len(),
    );
    assert_eq!(fired.len(), TIMERS);
    assert_eq!(duplicates, 0, "a timer fired twice across the failover");
    assert!(killed.elapsed() < WAIT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_leader_that_resumes_cannot_write() {
    const TIMERS: usize = 200;
    let Some(db) = TestDatabase::create("fencing").await else {
        return;
    };
    let log_dir = tempfile::tempdir().unwrap();
    let a_log = log_dir.path().join("a.log");
    let lease = ["--lease-heartbeat-ms", "100", "--lease-timeout-ms", "500"];
    let a = Server::start_clustered(
        &db.url,
        "kernel-a",
        &lease,
        std::fs::File::create(&a_log).unwrap().into(),
    )
    .await;
    let mut on_a = common::client(&a.url, "acme").await;
    until_leading(&mut on_a).await;
    let b = Server::start_clustered(&db.url, "kernel-b", &lease, Stdio::null()).await;
    let mut on_b = common::client(&b.url, "acme").await;

    let start = now_micros() + 1_500_000;
    let specs: Vec<TimerSpec> = (0..TIMERS)
        .map(|i| TimerSpec::at(format!("t{i}"), at(start + i as i64 * 1_000)))
        .collect();
    on_a.schedule_many(specs).await.unwrap();

    // Freeze the leader; b takes over and fires everything, including what a had armed.
    a.signal(libc::SIGSTOP);
    until_leading(&mut on_b).await;
    let fired_by_b = fires(&mut on_b, TIMERS).await;

    // Thaw a: its timers are overdue in its wheel and it still thinks it leads for a moment.
    a.signal(libc::SIGCONT);
    let attempt = on_a
        .schedule(TimerSpec::new("from-the-deposed", Duration::from_secs(60)))
        .await;
    let refused_here = match &attempt {
        Err(Error::FailedPrecondition(message)) => usize::from(message.contains(FENCED)),
        other => panic!("the deposed leader accepted a write: {other:?}"),
    };
    let listed = on_b
        .list(proto::ListTimersRequest {
            name_prefix: "from-the-deposed".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        listed.timers.is_empty(),
        "a refused write must leave nothing behind"
    );

    // a steps down for good; nothing fired twice.
    until_leading(&mut on_b).await;
    let fired = fires(&mut on_b, TIMERS).await;
    assert!(fired.values().all(|f| f.len() == 1), "a timer fired twice");
    assert_eq!(fired.len(), fired_by_b.len());
    drop(a);
    let log = std::fs::read_to_string(&a_log).unwrap();
    let refused = log.matches(FENCED).count() + refused_here;
    println!(
        "fencing: the deposed leader's writes refused by Postgres: {refused} batch(es); 0 duplicate fires"
    );
    // On thawing, a's lease thread and its scheduler race: either a writes first (its overdue
    // fires, or the schedule above) and Postgres itself refuses the stale token, or a sees the
    // lease taken over first, steps down and writes nothing. Whichever won, every write a made
    // was refused by Postgres; the store conformance suite proves the refusal on its own
    // (`postgres_refuses_writes_from_a_deposed_leader`).
    let stepped_down_before_writing = refused == 0
        && log.contains("no longer leading")
        && matches!(&attempt, Err(Error::FailedPrecondition(m)) if !m.contains(FENCED));
    assert!(
        refused > 0 || stepped_down_before_writing,
        "the deposed leader neither had a write refused by Postgres nor stepped down; its log:\n{log}"
    );
}

/// How the kernel reports a write Postgres refused for a stale fencing token.
const FENCED: &str = "is no longer the lease's current token";

/// `minoots migrate` and a kernel configured only through the original variable names
/// (KERNEL_STORE, DATABASE_URL, KERNEL_NODE_ID).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_and_the_original_configuration_names_work() {
    let Some(db) = TestDatabase::create("migrate").await else {
        return;
    };
    let minoots = env!("CARGO_BIN_EXE_minoots");
    let output = std::process::Command::new(minoots)
        .arg("migrate")
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("migrations applied"));

    let missing = std::process::Command::new(minoots)
        .args(["serve", "--store", "postgres"])
        .env_remove("DATABASE_URL")
        .env_remove("KERNEL_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("--database-url"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );

    let mut child = std::process::Command::new(minoots)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("KERNEL_STORE", "postgres")
        .env("DATABASE_URL", &db.url)
        .env("KERNEL_NODE_ID", "legacy-node")
        .env("MINOOTS_DEV", "true")
        .env_remove("MINOOTS_STORE")
        .env_remove("KERNEL_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let url = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let line = std::io::BufReader::new(stdout)
            .lines()
            .next()
            .unwrap()
            .unwrap();
        line.strip_prefix("minoots listening on ")
            .unwrap()
            .to_owned()
    })
    .await
    .unwrap();
    common::wait_healthy(&url).await;
    let mut client = common::client(&url, "acme").await;
    until_leading(&mut client).await;
    client
        .schedule(TimerSpec::new("on-postgres", Duration::from_secs(60)))
        .await
        .unwrap();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let holder: String =
        sqlx::query_scalar("SELECT holder FROM kernel_leases WHERE name = 'kernel'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(holder, "legacy-node");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM timers WHERE name = 'on-postgres'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 1);
    pool.close().await;
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedules_leader_killed_between_occurrences_loses_no_slot_and_repeats_none() {
    use minoots_proto::v1::{
        CreateScheduleRequest, OverlapPolicy, ScheduleSpec,
        schedule_service_client::ScheduleServiceClient,
    };
    const BEFORE_KILL: usize = 3;
    let Some(db) = TestDatabase::create("schedule-failover").await else {
        return;
    };
    let mut a = Server::start_clustered(&db.url, "kernel-a", &[], Stdio::null()).await;
    let mut on_a = common::client(&a.url, "acme").await;
    until_leading(&mut on_a).await;
    let b = Server::start_clustered(&db.url, "kernel-b", &[], Stdio::null()).await;
    let mut on_b = common::client(&b.url, "acme").await;
    let channel = tonic::transport::Endpoint::from_shared(a.url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut schedules = ScheduleServiceClient::with_interceptor(channel, common::DevKey);
    let mut request = tonic::Request::new(CreateScheduleRequest {
        name: "heartbeat".into(),
        spec: Some(ScheduleSpec {
            interval: Some(minoots_proto::prost_types::Duration {
                seconds: 1,
                nanos: 0,
            }),
            // Slots that come due together after the takeover all fire.
            overlap_policy: OverlapPolicy::AllowAll as i32,
            ..ScheduleSpec::default()
        }),
        ..CreateScheduleRequest::default()
    });
    request
        .metadata_mut()
        .insert("x-tenant-id", "acme".parse().unwrap());
    let schedule = schedules
        .create_schedule(request)
        .await
        .unwrap()
        .into_inner();

    // Occurrences fired, in the tenant's log, by slot; read until `n` slots are in.
    async fn slots(client: &mut Client, schedule: &str, n: usize) -> Vec<(i64, String)> {
        let request = minoots::StreamOptions::default()
            .after_sequence(0)
            .event_types([proto::TimerEventType::Fired]);
        let mut log = client.stream(request).await.unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(WAIT, async {
            while out.len() < n {
                let timer = log.next().await.unwrap().unwrap().timer.unwrap();
                if timer.schedule_id == schedule {
                    out.push((micros(&timer.scheduled_for), timer.idempotency_key));
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("only {} of {n} occurrences fired", out.len()));
        out
    }
    slots(&mut on_a, &schedule.id, BEFORE_KILL).await;
    let killed_at = now_micros();
    a.kill();
    until_leading(&mut on_b).await;
    // b goes on: every slot from the first to three seconds past the kill fired exactly once.
    let last = killed_at + 3_000_000;
    let first = micros(&schedule.spec.unwrap().start_at) + 1_000_000;
    let wanted = ((last - first) / 1_000_000 + 1) as usize;
    let fired = slots(&mut on_b, &schedule.id, wanted).await;
    let expected: Vec<i64> = (0..wanted as i64).map(|k| first + k * 1_000_000).collect();
    let mut got: Vec<i64> = fired.iter().map(|(slot, _)| *slot).collect();
    got.sort_unstable();
    assert_eq!(got, expected, "every slot once across the failover");
    let mut keys: Vec<&String> = fired.iter().map(|(_, key)| key).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), wanted);
    println!(
        "schedule failover: {wanted} one-second slots fired once each across a SIGKILL of the leader"
    );
}
