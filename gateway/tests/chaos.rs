//! Chaos: the real binary is SIGKILLed at random points while 10,000 webhook timers fire, several
//! rounds, on SQLite (`minoots serve` restarted on the same data directory after each kill) and
//! on Postgres (two `minoots kernel` processes on one fresh database; the leader is killed, the
//! other takes over, a replacement joins as the next standby).
//!
//! What must hold: every acknowledged timer reaches the receiver in this test at least once,
//! every re-delivery of a timer carries the same `webhook-id` and a valid signature, and every
//! timer ends SETTLED or FAILED when read back over the API.
//!
//! The kill points are drawn from a seeded generator; the seed is printed and
//! `MINOOTS_CHAOS_SEED=<seed>` replays the same points. The kill points are counts of delivered
//! timers, not times, so a slow machine moves them in time but not in the firing.

mod common;

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use axum::{
    body::Bytes,
    extract::{ConnectInfo, State},
    http::{HeaderMap, StatusCode},
    routing::post,
};
use common::Server;
use minoots::{ListFilter, TimerSpec, proto};
use minoots_kernel::{
    signing::{DEV_SECRET, Signer},
    testing::TestDatabase,
};
use tokio::sync::Notify;
use tokio_stream::StreamExt;

const TIMERS: usize = 10_000;
const ROUNDS: usize = 3;
const BATCH: usize = 500;
/// The timers come due evenly over this window, starting shortly after they are scheduled.
const WINDOW: Duration = Duration::from_secs(4);
/// Upper bound on any one wait; only turns a hang into a failure.
const PATIENCE: Duration = Duration::from_secs(180);

/// splitmix64: small, seedable, good enough to pick kill points.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn seed(test: &str) -> u64 {
    let seed = std::env::var("MINOOTS_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("{test}: seed {seed} (replay with MINOOTS_CHAOS_SEED={seed})");
    seed
}

/// ROUNDS kill points, as counts of distinct timers delivered: ascending, between 5 % and 85 %
/// of TIMERS, so every kill lands while timers are still firing.
fn kill_points(rng: &mut Rng) -> Vec<usize> {
    let (low, high) = (TIMERS / 20, TIMERS * 85 / 100);
    let mut points: Vec<usize> = (0..ROUNDS).map(|_| low + rng.below(high - low)).collect();
    points.sort_unstable();
    points
}

#[derive(Debug)]
struct Delivery {
    webhook_id: String,
    at: Instant,
    peer: SocketAddr,
}

#[derive(Default)]
struct Deliveries {
    by_timer: HashMap<String, Vec<Delivery>>,
    total: usize,
    bad_signatures: usize,
    malformed: usize,
}

/// A webhook receiver on 127.0.0.1:0 that records every delivery and answers 200 at once.
#[derive(Clone)]
struct Receiver {
    deliveries: Arc<Mutex<Deliveries>>,
    changed: Arc<Notify>,
    signer: Arc<Signer>,
}

impl Receiver {
    async fn start() -> (Self, String) {
        let receiver = Self {
            deliveries: Arc::default(),
            changed: Arc::default(),
            signer: Arc::new(Signer::new(&[DEV_SECRET]).unwrap()),
        };
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap()
        });
        (receiver, url)
    }

    fn delivered(&self) -> usize {
        self.deliveries.lock().unwrap().by_timer.len()
    }

    /// Waits until `done` holds for the deliveries, re-checking after each one.
    async fn until(&self, what: &str, done: impl Fn(&Deliveries) -> bool) {
        tokio::time::timeout(PATIENCE, async {
            loop {
                let changed = self.changed.notified();
                if done(&self.deliveries.lock().unwrap()) {
                    return;
                }
                changed.await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "waited {PATIENCE:?} for {what}; {} timers delivered",
                self.delivered()
            )
        });
    }

    /// The connections the receiver has seen deliveries on so far.
    fn peers(&self) -> HashSet<SocketAddr> {
        let deliveries = self.deliveries.lock().unwrap();
        deliveries
            .by_timer
            .values()
            .flatten()
            .map(|d| d.peer)
            .collect()
    }

    /// How long after `killed` the first delivery arrived on a connection not seen before the kill
    /// (so not one the dead process had already sent).
    async fn gap_after(&self, killed: Instant, old_peers: &HashSet<SocketAddr>) -> Duration {
        let first_new = |d: &Deliveries| {
            d.by_timer
                .values()
                .flatten()
                .filter(|d| d.at >= killed && !old_peers.contains(&d.peer))
                .map(|d| d.at)
                .min()
        };
        self.until("the first delivery after the kill", |d| {
            first_new(d).is_some()
        })
        .await;
        first_new(&self.deliveries.lock().unwrap()).unwrap() - killed
    }
}

async fn receive(
    State(receiver): State<Receiver>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let at = Instant::now();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let webhook_id = header("webhook-id");
    let signed = header("webhook-timestamp")
        .parse::<i64>()
        .ok()
        .and_then(|timestamp| receiver.signer.sign(&webhook_id, timestamp, &body))
        .is_some_and(|expected| {
            header("webhook-signature")
                .split(' ')
                .any(|s| s == expected.signature)
        });
    let timer_id = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["data"]["id"].as_str().map(str::to_owned));
    {
        let mut deliveries = receiver.deliveries.lock().unwrap();
        deliveries.total += 1;
        if !signed {
            deliveries.bad_signatures += 1;
        }
        match timer_id {
            Some(id) => deliveries.by_timer.entry(id).or_default().push(Delivery {
                webhook_id,
                at,
                peer,
            }),
            None => deliveries.malformed += 1,
        }
    }
    receiver.changed.notify_waiters();
    StatusCode::OK
}

/// Waits until no timer of the tenant is pending or fired-but-unsettled, then reads every
/// timer back; returns the count per final status.
async fn final_statuses(
    client: &minoots::Client,
    acknowledged: &HashSet<String>,
) -> HashMap<String, usize> {
    let open = proto::ListTimersRequest {
        statuses: vec![
            proto::TimerStatus::Scheduled as i32,
            proto::TimerStatus::Armed as i32,
            proto::TimerStatus::Fired as i32,
        ],
        page_size: 1,
        ..Default::default()
    };
    tokio::time::timeout(PATIENCE, async {
        while !client.list(open.clone()).await.unwrap().timers.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("timers still open long after every delivery");
    let timers: Vec<proto::Timer> = client
        .list_all(ListFilter {
            page_size: 1_000,
            ..Default::default()
        })
        .collect::<Result<_, _>>()
        .await
        .unwrap();
    let mut statuses: HashMap<String, usize> = HashMap::new();
    let mut seen = HashSet::new();
    for timer in timers {
        let status = timer.status();
        assert!(
            matches!(
                status,
                proto::TimerStatus::Settled | proto::TimerStatus::Failed
            ),
            "timer {} ended {status:?}",
            timer.id
        );
        *statuses.entry(format!("{status:?}")).or_default() += 1;
        seen.insert(timer.id);
    }
    let missing = acknowledged.difference(&seen).count();
    assert_eq!(missing, 0, "acknowledged timers missing from the API");
    statuses
}

/// Checks the deliveries against the acknowledged timers and prints the summary line.
fn verdict(
    store: &str,
    receiver: &Receiver,
    acknowledged: &HashSet<String>,
    gaps: &[Duration],
    statuses: &HashMap<String, usize>,
) {
    let deliveries = receiver.deliveries.lock().unwrap();
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|id| !deliveries.by_timer.contains_key(*id))
        .collect();
    let duplicates: usize = deliveries
        .by_timer
        .values()
        .map(|d| d.len().saturating_sub(1))
        .sum();
    let changed_ids: Vec<_> = deliveries
        .by_timer
        .iter()
        .filter(|(_, d)| d.iter().any(|x| x.webhook_id != d[0].webhook_id))
        .map(|(id, _)| id)
        .collect();
    let strangers = deliveries
        .by_timer
        .keys()
        .filter(|id| !acknowledged.contains(*id))
        .count();
    let gap_ms: Vec<String> = gaps
        .iter()
        .map(|g| format!("{:.0}", g.as_secs_f64() * 1_000.0))
        .collect();
    println!(
        "chaos {store}: rounds {ROUNDS}, timers {TIMERS}, lost {}, duplicates {duplicates} \
         (all with the same webhook-id: {}), takeover gap ms {} (max {:.0}), final statuses {statuses:?}, \
         deliveries {}",
        lost.len(),
        changed_ids.is_empty(),
        gap_ms.join("/"),
        gaps.iter().max().unwrap_or(&Duration::ZERO).as_secs_f64() * 1_000.0,
        deliveries.total,
    );
    assert!(
        lost.is_empty(),
        "{} acknowledged timers never delivered",
        lost.len()
    );
    assert!(
        changed_ids.is_empty(),
        "re-deliveries with another webhook-id: {changed_ids:?}"
    );
    assert_eq!(
        deliveries.bad_signatures, 0,
        "deliveries failing verification"
    );
    assert_eq!(deliveries.malformed, 0, "deliveries without a timer id");
    assert_eq!(strangers, 0, "deliveries of timers nobody scheduled");
}

/// What is killed: `minoots serve` on SQLite (restarted on the same data directory), or the
/// leading one of two `minoots kernel` processes on Postgres (a replacement joins as standby).
enum Deployment {
    Sqlite {
        server: Server,
        dir: tempfile::TempDir,
    },
    Postgres {
        kernels: Vec<Server>,
        url: String,
        started: usize,
    },
}

fn serve_args(dir: &std::path::Path) -> Vec<String> {
    [
        "--data-dir",
        &dir.display().to_string(),
        "--webhook-allow",
        "127.0.0.1",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// `minoots kernel` on the shared database, a standby until it wins the lease.
async fn kernel(db: &str, node: &str) -> Server {
    let args: Vec<String> = [
        "--store",
        "postgres",
        "--database-url",
        db,
        "--node-id",
        node,
        "--webhook-allow",
        "127.0.0.1",
        "--signing-secrets",
        DEV_SECRET,
    ]
    .map(str::to_owned)
    .to_vec();
    Server::run("kernel", &args, Stdio::null()).await
}

async fn leads(http: &reqwest::Client, server: &Server) -> bool {
    http.get(format!("{}/readyz", server.url))
        .send()
        .await
        .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
}

/// Waits until one of `kernels` leads; returns its index.
async fn leader(kernels: &[Server]) -> usize {
    let http = reqwest::Client::new();
    tokio::time::timeout(PATIENCE, async {
        loop {
            for (i, kernel) in kernels.iter().enumerate() {
                if leads(&http, kernel).await {
                    return i;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("no kernel took the lead")
}

impl Deployment {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start_with(&serve_args(dir.path()), Stdio::inherit()).await;
        Self::Sqlite { server, dir }
    }

    async fn postgres(url: String) -> Self {
        let first = kernel(&url, "kernel-1").await;
        leader(std::slice::from_ref(&first)).await;
        let second = kernel(&url, "kernel-2").await;
        Self::Postgres {
            kernels: vec![first, second],
            url,
            started: 2,
        }
    }

    /// A client of the process that serves timer calls now (the leader on Postgres; a kernel
    /// takes the tenant from `x-tenant-id` and needs no key).
    async fn client(&self) -> minoots::Client {
        let url = match self {
            Self::Sqlite { server, .. } => &server.url,
            Self::Postgres { kernels, .. } => &kernels[leader(kernels).await].url,
        };
        common::client(url, "acme").await
    }

    /// SIGKILLs the serving process and brings service back; returns the time from the kill to
    /// the next delivery (from a connection the dead process never used).
    async fn kill(&mut self, receiver: &Receiver, round: usize, point: usize) -> Duration {
        let old_peers = receiver.peers();
        let killed = Instant::now();
        let (what, recovered) = match self {
            Self::Sqlite { server, dir } => {
                server.kill();
                *server = Server::start_with(&serve_args(dir.path()), Stdio::inherit()).await;
                ("healthy again", killed.elapsed())
            }
            Self::Postgres {
                kernels,
                url,
                started,
            } => {
                let lead = leader(kernels).await;
                kernels.remove(lead).kill();
                leader(kernels).await;
                let took_over = killed.elapsed();
                // A replacement joins as the next round's standby.
                *started += 1;
                kernels.push(kernel(url, &format!("kernel-{started}")).await);
                ("the standby led", took_over)
            }
        };
        let gap = receiver.gap_after(killed, &old_peers).await;
        println!(
            "round {round}: SIGKILL once {point} timers were delivered; {what} after {:.0} ms; next delivery after {:.0} ms",
            recovered.as_secs_f64() * 1_000.0,
            gap.as_secs_f64() * 1_000.0
        );
        gap
    }
}

/// Schedules TIMERS webhook timers in batches (ScheduleTimers), due over WINDOW, and SIGKILLs
/// the serving process whenever the next kill point is reached: between batches while
/// scheduling, then while the rest fire. Each timer is scheduled as a duration from the moment
/// its batch is sent, so a slow machine delays late batches instead of putting them in the past,
/// and with an idempotency key, so the SDK may retry a batch whose answer was lost.
async fn run(store: &str, mut deployment: Deployment) {
    let mut rng = Rng(seed(&format!("chaos {store}")));
    let mut points = kill_points(&mut rng).into_iter().peekable();
    let (receiver, hook) = Receiver::start().await;
    let mut gaps = Vec::new();
    let reached = |point: usize| receiver.delivered() >= point;

    let start = Instant::now() + Duration::from_secs(1);
    let mut acknowledged = HashSet::new();
    let mut client = deployment.client().await;
    for batch in (0..TIMERS).collect::<Vec<_>>().chunks(BATCH) {
        // A kill needs a delivery still to come, to measure the gap to it: on a slow machine
        // every timer scheduled so far may already be delivered; the point then waits for later
        // batches (or for the firing phase below).
        let outstanding =
            |acknowledged: &HashSet<String>| receiver.delivered() < acknowledged.len();
        while let Some(point) = points.next_if(|p| reached(*p) && outstanding(&acknowledged)) {
            gaps.push(deployment.kill(&receiver, gaps.len() + 1, point).await);
            client = deployment.client().await;
        }
        let now = Instant::now();
        let specs = batch.iter().map(|&i| {
            let due = start + WINDOW.mul_f64(i as f64 / TIMERS as f64);
            let after = due
                .saturating_duration_since(now)
                .max(Duration::from_millis(50));
            TimerSpec::new(format!("chaos-{i}"), after)
                .webhook(&hook)
                .idempotency_key(format!("chaos-{i}"))
        });
        let timers = client.schedule_many(specs).await.unwrap();
        assert_eq!(timers.len(), batch.len());
        acknowledged.extend(timers.into_iter().map(|t| t.id));
    }
    assert_eq!(acknowledged.len(), TIMERS);
    for point in points {
        receiver
            .until("the kill point", |d| d.by_timer.len() >= point)
            .await;
        gaps.push(deployment.kill(&receiver, gaps.len() + 1, point).await);
    }

    receiver
        .until("every acknowledged timer delivered", |d| {
            d.by_timer.len() >= acknowledged.len()
                && acknowledged.iter().all(|id| d.by_timer.contains_key(id))
        })
        .await;
    let statuses = final_statuses(&deployment.client().await, &acknowledged).await;
    verdict(store, &receiver, &acknowledged, &gaps, &statuses);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_kill_9_at_random_points_loses_no_delivery() {
    run("sqlite", Deployment::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_leader_kill_9_at_random_points_loses_no_delivery() {
    let Some(db) = TestDatabase::create("chaos").await else {
        return;
    };
    run("postgres", Deployment::postgres(db.url.clone()).await).await;
}
