//! `minoots bench`: drives a real server over its real protocols (gRPC, REST, webhooks) and
//! prints what it measured as a table; `--json PATH` also writes it for `scripts/bench_plots.py`.
//! Without `--target`, it starts a server in-process on 127.0.0.1:0 (the code path of
//! `minoots serve`, auth on); `memory` and `recovery` run `minoots serve` as a child process so
//! its RSS and restart are the real process's.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use minoots::{Client, TimerSpec, proto};
use minoots_kernel::Kernel;
use tokio::net::TcpListener;
use tokio_stream::StreamExt;

use crate::{KernelOptions, StoreArgs, StoreKind};
use minoots_gateway::auth::{AuthConfig, Role};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Fire lateness (arrival time - due time) of N timers due within a window, at the event
    /// stream or at a webhook receiver.
    Lateness(LatenessArgs),
    /// Scheduling throughput: unary gRPC calls at a concurrency, the batch API, or REST.
    Schedule(ScheduleArgs),
    /// Kernel RSS with N pending timers (a `minoots serve` child process), bytes per timer.
    Memory(MemoryArgs),
    /// Restart with N overdue timers: time to the first fire and until every one fired.
    Recovery(RecoveryArgs),
    /// Event delivery latency to many stream subscribers at once.
    Fanout(FanoutArgs),
}

#[derive(Debug, Clone, Args)]
pub struct Target {
    /// A running server (http://host:port). Default: start one in-process on 127.0.0.1:0.
    #[arg(long)]
    target: Option<String>,
    /// Store of the in-process server.
    #[arg(long, value_enum, default_value = "sqlite")]
    store: StoreKind,
    /// SQLite synchronous mode of the in-process server.
    #[arg(long, default_value = "full")]
    sqlite_synchronous: String,
    /// With `--store postgres`: a server where the bench creates (and then drops) a fresh database.
    #[arg(long, env = "KERNEL_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    #[arg(long, default_value = "bench")]
    tenant: String,
    /// API key for `--target` (the in-process server creates its own key, so auth is on).
    #[arg(long, env = "MINOOTS_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct LatenessArgs {
    #[command(flatten)]
    target: Target,
    #[arg(long, default_value_t = 100_000)]
    timers: usize,
    /// All timers fall due, evenly spread, within this window.
    #[arg(long, default_value = "10s", value_parser = crate::parse_duration)]
    window: Duration,
    /// Delay before the window opens, so scheduling finishes before the first timer is due.
    #[arg(long, default_value = "15s", value_parser = crate::parse_duration)]
    lead: Duration,
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Where lateness is measured: the gRPC event stream, or a webhook receiver (each timer
    /// has a webhook action to a loopback receiver this bench runs).
    #[arg(long, value_enum, default_value = "stream")]
    at: MeasuredAt,
    /// Write the results as JSON here (for docs/bench and scripts/bench_plots.py).
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MeasuredAt {
    Stream,
    Webhook,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    #[command(flatten)]
    target: Target,
    #[arg(long, default_value_t = 50_000)]
    timers: usize,
    /// Concurrent callers.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Timers per ScheduleTimers call; 0 means unary ScheduleTimer calls.
    #[arg(long, default_value_t = 0)]
    batch: usize,
    /// Unary `POST /timers` over HTTP/1.1 instead of gRPC.
    #[arg(long)]
    rest: bool,
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ChildArgs {
    /// Store of the child server: sqlite or postgres.
    #[arg(long, value_enum, default_value = "sqlite")]
    store: StoreKind,
    /// Postgres URL for `--store postgres` (the bench creates and drops its own tables there by
    /// using a fresh schema-less database you give it: point it at an empty database).
    #[arg(long, env = "KERNEL_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    #[arg(long, default_value_t = 1_000_000)]
    timers: usize,
    #[arg(long, default_value_t = 5_000)]
    batch: usize,
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MemoryArgs {
    #[command(flatten)]
    child: ChildArgs,
}

#[derive(Debug, Args)]
pub struct RecoveryArgs {
    #[command(flatten)]
    child: ChildArgs,
}

#[derive(Debug, Args)]
pub struct FanoutArgs {
    #[command(flatten)]
    target: Target,
    #[arg(long, default_value_t = 1_000)]
    subscribers: usize,
    #[arg(long, default_value_t = 1_000)]
    timers: usize,
    /// The timers fall due, evenly spread, within this window.
    #[arg(long, default_value = "5s", value_parser = crate::parse_duration)]
    window: Duration,
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One bench's results: rows of latency percentiles, plus what plots need.
#[derive(Debug, Default, serde::Serialize)]
struct Report {
    bench: String,
    params: serde_json::Value,
    /// Headline numbers (timers/s, bytes per timer, seconds).
    figures: serde_json::Map<String, serde_json::Value>,
    rows: Vec<Row>,
    /// Quantiles 0, 0.1, ..., 100 of each row's samples, for distribution plots.
    cdf: serde_json::Map<String, serde_json::Value>,
    /// (seconds since start, events in that 100 ms) for throughput-over-time plots.
    timeline: Vec<(f64, u64)>,
}

#[derive(Debug, serde::Serialize)]
struct Row {
    label: String,
    n: usize,
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

impl Report {
    fn new(bench: &str, params: serde_json::Value) -> Self {
        Self {
            bench: bench.to_owned(),
            params,
            ..Self::default()
        }
    }

    fn figure(&mut self, name: &str, value: impl Into<serde_json::Value>) {
        self.figures.insert(name.to_owned(), value.into());
    }

    fn row(&mut self, label: &str, mut samples: Vec<f64>) {
        samples.sort_by(f64::total_cmp);
        let quantiles: Vec<f64> = (0..=1_000)
            .map(|q| percentile(&samples, q as f64 / 10.0))
            .collect();
        self.cdf
            .insert(label.to_owned(), serde_json::json!(quantiles));
        self.rows.push(Row {
            label: label.to_owned(),
            n: samples.len(),
            p50: percentile(&samples, 50.0),
            p90: percentile(&samples, 90.0),
            p99: percentile(&samples, 99.0),
            p999: percentile(&samples, 99.9),
            max: samples.last().copied().unwrap_or(f64::NAN),
        });
    }

    /// Events per 100 ms bucket from their times (seconds since start).
    fn timeline(&mut self, mut at: Vec<f64>) {
        at.sort_by(f64::total_cmp);
        let buckets = at.last().map_or(0, |last| (last * 10.0) as usize + 1);
        let mut counts = vec![0u64; buckets];
        for t in at {
            counts[((t * 10.0) as usize).min(buckets - 1)] += 1;
        }
        self.timeline = counts
            .into_iter()
            .enumerate()
            .map(|(i, c)| (i as f64 / 10.0, c))
            .collect();
    }

    fn print(&self, unit: &str) {
        for (name, value) in &self.figures {
            println!("{name}: {value}");
        }
        if !self.rows.is_empty() {
            println!("| {unit} | n | p50 | p90 | p99 | p99.9 | max |");
            println!("|---|---|---|---|---|---|---|");
            for r in &self.rows {
                println!(
                    "| {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
                    r.label, r.n, r.p50, r.p90, r.p99, r.p999, r.max
                );
            }
        }
    }

    fn save(&self, path: Option<&Path>) -> anyhow::Result<()> {
        if let Some(path) = path {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(path, serde_json::to_vec_pretty(self)?)?;
            eprintln!("wrote {}", path.display());
        }
        Ok(())
    }
}

struct Server {
    url: String,
    api_key: String,
    stop: Option<(minoots_gateway::Running, Kernel, tempfile::TempDir)>,
    /// A fresh database for a Postgres run, dropped after.
    database: Option<minoots_kernel::testing::TestDatabase>,
}

impl Server {
    /// `webhooks`: actions may reach 127.0.0.1 and are signed with the development secret.
    async fn start(target: &Target, webhooks: bool) -> anyhow::Result<Self> {
        if let Some(url) = &target.target {
            return Ok(Self {
                url: url.clone(),
                api_key: target
                    .api_key
                    .clone()
                    .context("--target needs --api-key (or MINOOTS_API_KEY)")?,
                stop: None,
                database: None,
            });
        }
        let dir = tempfile::tempdir()?;
        // Each Postgres run gets a database of its own on the server --database-url names.
        let database = match (target.store, &target.database_url) {
            (StoreKind::Postgres, Some(admin)) => Some(
                minoots_kernel::testing::TestDatabase::create_on(admin, "bench")
                    .await
                    .context("Postgres is not reachable")?,
            ),
            _ => None,
        };
        let store = StoreArgs {
            data_dir: dir.path().to_owned(),
            store: Some(target.store),
            sqlite_synchronous: target
                .sqlite_synchronous
                .parse()
                .map_err(anyhow::Error::msg)?,
            database_url: database.as_ref().map(|d| d.url.clone()),
        };
        let mut actions = crate::ActionArgs::default();
        if webhooks {
            actions.webhook_allow = "127.0.0.1".into();
        }
        let options = KernelOptions {
            node_id: Some("bench".into()),
            lease_heartbeat_ms: 300,
            lease_timeout_ms: 1_500,
            timer_retention: Duration::from_secs(3_600),
            event_retention: Duration::from_secs(3_600),
            quota_active_timers: 0,
            quota_daily_timers: 0,
            actions,
        };
        let kernel = crate::start_kernel(&store, &options, webhooks).await?;
        let waiting = Instant::now();
        while !kernel.is_leader() {
            if waiting.elapsed() > Duration::from_secs(10) {
                bail!(
                    "the in-process kernel did not acquire the lease within 10 s (another kernel holds it?)"
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Auth stays on: every call is authenticated with a real key, as in production.
        let gateway = minoots_gateway::Gateway::local(kernel.clone(), AuthConfig::default())?;
        let key = gateway
            .auth()
            .create_key(&target.tenant, "bench", &Role::ALL, Some("unlimited"))
            .await?;
        let running =
            minoots_gateway::Running::spawn(TcpListener::bind("127.0.0.1:0").await?, gateway)?;
        eprintln!(
            "in-process server on {} ({:?} store)",
            running.url, target.store
        );
        Ok(Self {
            url: running.url.clone(),
            api_key: key.secret,
            stop: Some((running, kernel, dir)),
            database,
        })
    }

    async fn client(&self, tenant: &str) -> anyhow::Result<Client> {
        Ok(Client::builder(self.url.clone())
            .api_key(self.api_key.clone())
            .tenant(tenant)
            .connect()
            .await?)
    }

    async fn stop(self) {
        if let Some((running, kernel, _dir)) = self.stop {
            if let Err(error) = running.stop().await {
                eprintln!("server failed: {error}");
            }
            kernel.shutdown().await;
        }
        drop(self.database);
    }
}

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Lateness(args) => lateness(args).await,
        BenchCommand::Schedule(args) => schedule(args).await,
        BenchCommand::Memory(args) => memory(args).await,
        BenchCommand::Recovery(args) => recovery(args).await,
        BenchCommand::Fanout(args) => fanout(args).await,
    }
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as i64
}

fn micros_of(ts: &Option<minoots_proto::prost_types::Timestamp>) -> i64 {
    ts.as_ref()
        .map_or(0, |t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1_000)
}

fn timestamp(at: i64) -> minoots_proto::prost_types::Timestamp {
    minoots_proto::prost_types::Timestamp {
        seconds: at.div_euclid(1_000_000),
        nanos: (at.rem_euclid(1_000_000) * 1_000) as i32,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Schedules `specs` in batches from four callers taking batches round-robin, so timers are
/// scheduled roughly in order.
async fn schedule_all(
    client: &Client,
    specs: Vec<TimerSpec>,
    batch: usize,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let callers = 4;
    let mut assigned: Vec<Vec<Vec<TimerSpec>>> = vec![Vec::new(); callers];
    for (i, chunk) in specs.chunks(batch.max(1)).enumerate() {
        assigned[i % callers].push(chunk.to_vec());
    }
    let mut batches = tokio::task::JoinSet::new();
    for mine in assigned {
        let client = client.clone();
        batches.spawn(async move {
            for chunk in mine {
                client.schedule_many(chunk).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = batches.join_next().await {
        done??;
    }
    Ok(started.elapsed())
}

/// (fire_at of the delivered timer, arrival time in µs) per delivery.
type Arrivals = Arc<Mutex<Vec<(String, i64)>>>;

/// A loopback webhook receiver recording when each timer's delivery arrived.
async fn webhook_receiver(arrivals: Arrivals) -> anyhow::Result<String> {
    use axum::{body::Bytes, extract::State, routing::post};
    async fn hook(State(arrivals): State<Arrivals>, body: Bytes) -> &'static str {
        let received = now_micros();
        let id = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["data"]["fireAt"].as_str().map(str::to_owned))
            .unwrap_or_default();
        arrivals.lock().unwrap().push((id, received));
        "ok"
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let app = axum::Router::new()
        .route("/hook", post(hook))
        .with_state(arrivals);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

async fn lateness(args: LatenessArgs) -> anyhow::Result<()> {
    let webhooks = args.at == MeasuredAt::Webhook;
    let server = Server::start(&args.target, webhooks).await?;
    let client = server.client(&args.target.tenant).await?;
    let n = args.timers;
    let arrivals = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let hook = if webhooks {
        Some(webhook_receiver(arrivals.clone()).await?)
    } else {
        None
    };
    let stream_client = client.clone();
    let wanted = if webhooks {
        proto::TimerEventType::Settled
    } else {
        proto::TimerEventType::Fired
    };
    let mut events = stream_client
        .stream(minoots::StreamOptions::default().event_types([wanted]))
        .await?;
    let collector = tokio::spawn(async move {
        let mut at_stream = Vec::with_capacity(n);
        let mut in_kernel = Vec::with_capacity(n);
        while at_stream.len() < n {
            let Some(event) = events.next().await else {
                break;
            };
            let received = now_micros();
            let timer = event?.timer.unwrap_or_default();
            let due = micros_of(&timer.fire_at);
            at_stream.push((received - due) as f64 / 1_000.0);
            in_kernel.push((micros_of(&timer.fired_at) - due) as f64 / 1_000.0);
        }
        anyhow::Ok((at_stream, in_kernel))
    });

    let start = now_micros() + args.lead.as_micros() as i64;
    let step = args.window.as_micros() as f64 / n as f64;
    let specs: Vec<TimerSpec> = (0..n)
        .map(|i| {
            let at = start + (i as f64 * step) as i64;
            let spec = TimerSpec::at(format!("lateness-{i}"), timestamp(at));
            match &hook {
                Some(url) => spec.webhook(url.clone()),
                None => spec,
            }
        })
        .collect();
    let took = schedule_all(&client, specs, args.batch).await?;
    if now_micros() > start {
        bail!(
            "scheduling took {took:?}, past the {:?} lead: raise --lead",
            args.lead
        );
    }
    eprintln!(
        "scheduled {n} timers in {took:?} ({:.0}/s); waiting for them to fire",
        n as f64 / took.as_secs_f64()
    );
    let deadline = args.lead + args.window + Duration::from_secs(120);
    let (at_stream, in_kernel) = tokio::time::timeout(deadline, collector)
        .await
        .context("timers did not all fire in time")???;
    let mut report = Report::new(
        "lateness",
        serde_json::json!({"timers": n, "window_s": args.window.as_secs_f64(), "store": format!("{:?}", args.target.store), "at": format!("{:?}", args.at)}),
    );
    report.timeline(
        at_stream
            .iter()
            .zip(0..)
            .map(|(late, i)| (i as f64 * step + late * 1_000.0) / 1e6)
            .collect(),
    );
    report.row("kernel (fired_at - fire_at)", in_kernel);
    if webhooks {
        let arrivals = std::mem::take(&mut *arrivals.lock().unwrap());
        let late: Vec<f64> = arrivals
            .iter()
            .filter_map(|(fire_at, received)| {
                let due = fire_at
                    .parse::<minoots_proto::prost_types::Timestamp>()
                    .ok()?;
                Some((received - micros_of(&Some(due))) as f64 / 1_000.0)
            })
            .collect();
        report.row("webhook receiver (arrival - fire_at)", late);
        report.row("client stream, timer.settled", at_stream);
    } else {
        report.row("client stream (arrival - fire_at)", at_stream);
    }
    println!(
        "fire lateness, {n} timers due within {:?} ({:?} store), milliseconds:",
        args.window, args.target.store
    );
    report.print("measured at");
    report.save(args.json.as_deref())?;
    server.stop().await;
    Ok(())
}

async fn schedule(args: ScheduleArgs) -> anyhow::Result<()> {
    let server = Server::start(&args.target, false).await?;
    let client = server.client(&args.target.tenant).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let per_caller = args.timers.div_ceil(args.concurrency.max(1));
    let started = Instant::now();
    let mut callers = tokio::task::JoinSet::new();
    for caller in 0..args.concurrency.max(1) {
        let client = client.clone();
        let (batch, rest, http) = (args.batch, args.rest, http.clone());
        let (url, key, tenant) = (
            server.url.clone(),
            server.api_key.clone(),
            args.target.tenant.clone(),
        );
        callers.spawn(async move {
            let mut calls = Vec::new();
            let spec = |i: usize| {
                TimerSpec::new(format!("bench-{caller}-{i}"), Duration::from_secs(3_600))
            };
            if rest {
                for i in 0..per_caller {
                    let call = Instant::now();
                    let response = http
                        .post(format!("{url}/timers"))
                        .header("x-api-key", &key)
                        .header("x-tenant-id", &tenant)
                        .json(&serde_json::json!({"name": format!("bench-{caller}-{i}"), "duration": "1h"}))
                        .send()
                        .await?;
                    if response.status() != reqwest::StatusCode::CREATED {
                        bail!("POST /timers answered {}", response.status());
                    }
                    calls.push((call.elapsed(), started.elapsed(), 1));
                }
            } else if batch == 0 {
                for i in 0..per_caller {
                    let call = Instant::now();
                    client.schedule(spec(i)).await?;
                    calls.push((call.elapsed(), started.elapsed(), 1));
                }
            } else {
                for first in (0..per_caller).step_by(batch) {
                    let call = Instant::now();
                    let last = (first + batch).min(per_caller);
                    client.schedule_many((first..last).map(spec)).await?;
                    calls.push((call.elapsed(), started.elapsed(), last - first));
                }
            }
            anyhow::Ok(calls)
        });
    }
    let mut latencies = Vec::new();
    let mut done_at = Vec::new();
    while let Some(done) = callers.join_next().await {
        for (latency, at, timers) in done?? {
            latencies.push(latency.as_secs_f64() * 1_000.0);
            done_at.extend(std::iter::repeat_n(at.as_secs_f64(), timers));
        }
    }
    let elapsed = started.elapsed();
    let total = per_caller * args.concurrency.max(1);
    let mode = match (args.rest, args.batch) {
        (true, _) => "REST unary".to_owned(),
        (false, 0) => "gRPC unary".to_owned(),
        (false, b) => format!("gRPC batch of {b}"),
    };
    let rate = total as f64 / elapsed.as_secs_f64();
    let mut report = Report::new(
        "schedule",
        serde_json::json!({"timers": total, "concurrency": args.concurrency, "mode": mode, "store": format!("{:?}", args.target.store)}),
    );
    report.figure("timers_per_second", (rate * 10.0).round() / 10.0);
    report.timeline(done_at);
    report.row("call latency", latencies);
    println!(
        "schedule throughput ({:?} store, {mode}, concurrency {}): {total} timers in {:.2} s = {rate:.0} timers/s",
        args.target.store,
        args.concurrency,
        elapsed.as_secs_f64(),
    );
    report.print("ms");
    report.save(args.json.as_deref())?;
    server.stop().await;
    Ok(())
}

/// A `minoots serve` child process on 127.0.0.1:0 (this same binary).
struct ChildServer {
    process: std::process::Child,
    url: String,
    started: Instant,
}

impl ChildServer {
    fn spawn(
        args: &ChildArgs,
        data_dir: &Path,
        database_url: Option<&str>,
    ) -> anyhow::Result<Self> {
        use std::io::BufRead as _;
        let mut command = std::process::Command::new(std::env::current_exe()?);
        command
            .args([
                "serve",
                "--dev",
                "--listen",
                "127.0.0.1:0",
                "--sqlite-synchronous",
                "normal",
            ])
            .args([
                "--quota-active-timers",
                "0",
                "--quota-daily-timers",
                "0",
                "--data-dir",
            ])
            .arg(data_dir)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit());
        if let (StoreKind::Postgres, Some(url)) = (args.store, database_url) {
            command.args(["--store", "postgres", "--database-url", url]);
        }
        let started = Instant::now();
        let mut process = command.spawn()?;
        let stdout = process.stdout.take().context("child stdout")?;
        let mut lines = std::io::BufReader::new(stdout).lines();
        let line = lines
            .next()
            .context("the server exited before listening")??;
        std::thread::spawn(move || for _ in lines {});
        let url = line
            .strip_prefix("minoots listening on ")
            .context("unexpected first line")?
            .to_owned();
        Ok(Self {
            process,
            url,
            started,
        })
    }

    fn rss_bytes(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.process.id()))?;
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .context("VmRSS")?;
        Ok(kb * 1_024)
    }

    async fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::builder(self.url.clone())
            .api_key("local-dev-key")
            .connect()
            .await?)
    }

    /// `minoots_timers_fired_total` from /metrics.
    async fn fired(&self, http: &reqwest::Client) -> anyhow::Result<u64> {
        let text = http
            .get(format!("{}/metrics", self.url))
            .send()
            .await?
            .text()
            .await?;
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix("minoots_timers_fired_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0))
    }

    fn kill(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A fresh Postgres database for a child server (dropped after), or None for SQLite.
async fn child_database(
    args: &ChildArgs,
) -> anyhow::Result<Option<minoots_kernel::testing::TestDatabase>> {
    if !matches!(args.store, StoreKind::Postgres) {
        return Ok(None);
    }
    let admin = args.database_url.clone().context(
        "--store postgres needs --database-url (a server where the bench may create a database)",
    )?;
    let db = minoots_kernel::testing::TestDatabase::create_on(&admin, "bench")
        .await
        .context("Postgres is not reachable")?;
    Ok(Some(db))
}

async fn memory(args: MemoryArgs) -> anyhow::Result<()> {
    let args = args.child;
    let dir = tempfile::tempdir()?;
    let db = child_database(&args).await?;
    let server = ChildServer::spawn(&args, dir.path(), db.as_ref().map(|d| d.url.as_str()))?;
    let client = server.client().await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = server.rss_bytes()?;
    let due = now_micros() + 3_600_000_000;
    let specs: Vec<TimerSpec> = (0..args.timers)
        .map(|i| TimerSpec::at(format!("pending-{i}"), timestamp(due + i as i64)))
        .collect();
    let took = schedule_all(&client, specs, args.batch).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.rss_bytes()?;
    let mut report = Report::new(
        "memory",
        serde_json::json!({"timers": args.timers, "store": format!("{:?}", args.store)}),
    );
    report.figure(
        "rss_before_mb",
        (before as f64 / 1_048_576.0 * 10.0).round() / 10.0,
    );
    report.figure(
        "rss_with_pending_mb",
        (after as f64 / 1_048_576.0 * 10.0).round() / 10.0,
    );
    report.figure(
        "bytes_per_pending_timer",
        ((after.saturating_sub(before)) as f64 / args.timers as f64).round(),
    );
    report.figure(
        "scheduled_in_s",
        (took.as_secs_f64() * 100.0).round() / 100.0,
    );
    println!(
        "kernel RSS with {} pending timers ({:?} store):",
        args.timers, args.store
    );
    report.print("");
    report.save(args.json.as_deref())?;
    drop(server);
    drop(db);
    Ok(())
}

async fn recovery(args: RecoveryArgs) -> anyhow::Result<()> {
    let args = args.child;
    let dir = tempfile::tempdir()?;
    let db = child_database(&args).await?;
    let database_url = db.as_ref().map(|d| d.url.clone());
    let mut server = ChildServer::spawn(&args, dir.path(), database_url.as_deref())?;
    let client = server.client().await?;
    // Every timer is due at one instant after scheduling ends and before the restart: a
    // conservative 8,000 timers/s for scheduling, plus 10 s.
    let lead = Duration::from_secs_f64(args.timers as f64 / 8_000.0 + 10.0);
    let due = now_micros() + lead.as_micros() as i64;
    let specs: Vec<TimerSpec> = (0..args.timers)
        .map(|i| TimerSpec::at(format!("overdue-{i}"), timestamp(due)))
        .collect();
    let took = schedule_all(&client, specs, args.batch).await?;
    if now_micros() >= due {
        bail!("scheduling took {took:?}, longer than the {lead:?} lead");
    }
    server.kill(); // SIGKILL: nothing is flushed or handed over.
    eprintln!(
        "scheduled {} timers in {took:?}; killed the server; waiting until they are overdue",
        args.timers
    );
    let wait = (due - now_micros()) as u64 + 1_000_000;
    tokio::time::sleep(Duration::from_micros(wait)).await;

    let server = ChildServer::spawn(&args, dir.path(), database_url.as_deref())?;
    let listening = server.started.elapsed();
    let http = reqwest::Client::new();
    let mut first = None;
    let all = loop {
        let fired = server.fired(&http).await.unwrap_or(0);
        if fired > 0 && first.is_none() {
            first = Some(server.started.elapsed());
        }
        if fired >= args.timers as u64 {
            break server.started.elapsed();
        }
        if server.started.elapsed() > Duration::from_secs(600) {
            bail!(
                "only {fired} of {} overdue timers fired within 10 minutes",
                args.timers
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let first = first.unwrap_or(all);
    let mut report = Report::new(
        "recovery",
        serde_json::json!({"timers": args.timers, "store": format!("{:?}", args.store)}),
    );
    report.figure(
        "listening_after_s",
        (listening.as_secs_f64() * 1_000.0).round() / 1_000.0,
    );
    report.figure(
        "first_fire_after_s",
        (first.as_secs_f64() * 1_000.0).round() / 1_000.0,
    );
    report.figure(
        "all_fired_after_s",
        (all.as_secs_f64() * 1_000.0).round() / 1_000.0,
    );
    println!(
        "restart with {} overdue timers ({:?} store), from process start:",
        args.timers, args.store
    );
    report.print("");
    report.save(args.json.as_deref())?;
    drop(server);
    drop(db);
    Ok(())
}

async fn fanout(args: FanoutArgs) -> anyhow::Result<()> {
    let server = Server::start(&args.target, false).await?;
    let client = server.client(&args.target.tenant).await?;
    let (subscribers, timers) = (args.subscribers, args.timers);
    let mut listening = tokio::task::JoinSet::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(subscribers);
    for _ in 0..subscribers {
        let own = server.client(&args.target.tenant).await?;
        let ready = ready_tx.clone();
        listening.spawn(async move {
            let mut events = own
                .stream(
                    minoots::StreamOptions::default().event_types([proto::TimerEventType::Fired]),
                )
                .await?;
            let _ = ready.send(()).await;
            let mut latencies = Vec::with_capacity(timers);
            while latencies.len() < timers {
                let Some(event) = events.next().await else {
                    break;
                };
                let received = now_micros();
                let event = event?;
                latencies.push((received - micros_of(&event.occurred_at)) as f64 / 1_000.0);
            }
            anyhow::Ok(latencies)
        });
    }
    for _ in 0..subscribers {
        ready_rx.recv().await;
    }
    eprintln!("{subscribers} subscribers streaming; scheduling {timers} timers");
    let start = now_micros() + 2_000_000;
    let step = args.window.as_micros() as f64 / timers as f64;
    let specs: Vec<TimerSpec> = (0..timers)
        .map(|i| {
            TimerSpec::at(
                format!("fanout-{i}"),
                timestamp(start + (i as f64 * step) as i64),
            )
        })
        .collect();
    schedule_all(&client, specs, 1_000).await?;
    let mut latencies = Vec::with_capacity(subscribers * timers);
    let deadline = args.window + Duration::from_secs(120);
    tokio::time::timeout(deadline, async {
        while let Some(done) = listening.join_next().await {
            latencies.extend(done??);
        }
        anyhow::Ok(())
    })
    .await
    .context("subscribers did not receive every event in time")??;
    let mut report = Report::new(
        "fanout",
        serde_json::json!({"subscribers": subscribers, "timers": timers, "store": format!("{:?}", args.target.store)}),
    );
    report.figure("deliveries", latencies.len());
    report.row(
        &format!("delivery to {subscribers} subscribers (arrival - occurred_at)"),
        latencies,
    );
    println!("event delivery latency, milliseconds:");
    report.print("measured");
    report.save(args.json.as_deref())?;
    server.stop().await;
    Ok(())
}
