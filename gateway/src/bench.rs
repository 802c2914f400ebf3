//! `minoots bench`: drives a real server over real gRPC and prints what it measured. Without
//! `--target`, it starts one in-process on 127.0.0.1:0 (same code path as `minoots serve`).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
    /// Fire lateness (event time - due time) of N timers due within a window.
    Lateness(LatenessArgs),
    /// Scheduling throughput: unary calls at a concurrency, or the batch API.
    Schedule(ScheduleArgs),
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
    /// Postgres URL of the in-process server with `--store postgres` (its tables are used as is).
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
}

struct Server {
    url: String,
    api_key: String,
    stop: Option<(minoots_gateway::Running, Kernel, tempfile::TempDir)>,
}

impl Server {
    async fn start(target: &Target) -> anyhow::Result<Self> {
        if let Some(url) = &target.target {
            return Ok(Self {
                url: url.clone(),
                api_key: target
                    .api_key
                    .clone()
                    .context("--target needs --api-key (or MINOOTS_API_KEY)")?,
                stop: None,
            });
        }
        let dir = tempfile::tempdir()?;
        let store = StoreArgs {
            data_dir: dir.path().to_owned(),
            store: Some(target.store),
            sqlite_synchronous: target
                .sqlite_synchronous
                .parse()
                .map_err(anyhow::Error::msg)?,
            database_url: target.database_url.clone(),
        };
        let options = KernelOptions {
            node_id: Some("bench".into()),
            lease_heartbeat_ms: 300,
            lease_timeout_ms: 1_500,
            timer_retention: Duration::from_secs(3_600),
            event_retention: Duration::from_secs(3_600),
            quota_active_timers: 0,
            quota_daily_timers: 0,
            actions: crate::ActionArgs::default(),
        };
        let kernel = crate::start_kernel(&store, &options, false).await?;
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
    }
}

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Lateness(args) => lateness(args).await,
        BenchCommand::Schedule(args) => schedule(args).await,
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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn summary(label: &str, mut samples: Vec<f64>) -> String {
    samples.sort_by(f64::total_cmp);
    format!(
        "| {label} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
        samples.len(),
        percentile(&samples, 50.0),
        percentile(&samples, 90.0),
        percentile(&samples, 99.0),
        percentile(&samples, 99.9),
        samples.last().copied().unwrap_or(f64::NAN),
    )
}

async fn lateness(args: LatenessArgs) -> anyhow::Result<()> {
    let server = Server::start(&args.target).await?;
    let mut client = server.client(&args.target.tenant).await?;
    let fired_only = proto::StreamTimerEventsRequest {
        event_types: vec![proto::TimerEventType::Fired as i32],
        ..Default::default()
    };
    let mut events = client.stream(fired_only).await?;
    let n = args.timers;
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
    let scheduling = Instant::now();
    let mut batches = tokio::task::JoinSet::new();
    let specs: Vec<TimerSpec> = (0..n)
        .map(|i| {
            let at = start + (i as f64 * step) as i64;
            let ts = minoots_proto::prost_types::Timestamp {
                seconds: at / 1_000_000,
                nanos: ((at % 1_000_000) * 1_000) as i32,
            };
            TimerSpec::at(format!("lateness-{i}"), ts)
        })
        .collect();
    // Four callers take batches round-robin, so timers are scheduled roughly in due-time order.
    let callers = 4;
    let mut assigned: Vec<Vec<Vec<TimerSpec>>> = vec![Vec::new(); callers];
    for (i, chunk) in specs.chunks(args.batch.max(1)).enumerate() {
        assigned[i % callers].push(chunk.to_vec());
    }
    for mine in assigned {
        let mut client = client.clone();
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
    let took = scheduling.elapsed();
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
    let deadline = args.lead + args.window + Duration::from_secs(60);
    let (at_stream, in_kernel) = tokio::time::timeout(deadline, collector)
        .await
        .context("timers did not all fire in time")???;
    println!(
        "fire lateness, {n} timers due within {:?} ({:?} store), milliseconds:",
        args.window, args.target.store
    );
    println!("| measured at | timers | p50 | p90 | p99 | p99.9 | max |");
    println!("|---|---|---|---|---|---|---|");
    println!("{}", summary("kernel (fired_at - fire_at)", in_kernel));
    println!("{}", summary("client event stream", at_stream));
    server.stop().await;
    Ok(())
}

async fn schedule(args: ScheduleArgs) -> anyhow::Result<()> {
    let server = Server::start(&args.target).await?;
    let client = server.client(&args.target.tenant).await?;
    let per_caller = args.timers.div_ceil(args.concurrency.max(1));
    let started = Instant::now();
    let mut callers = tokio::task::JoinSet::new();
    for caller in 0..args.concurrency.max(1) {
        let mut client = client.clone();
        let batch = args.batch;
        callers.spawn(async move {
            let mut latencies = Vec::new();
            let spec = |i: usize| {
                TimerSpec::new(format!("bench-{caller}-{i}"), Duration::from_secs(3_600))
            };
            if batch == 0 {
                for i in 0..per_caller {
                    let call = Instant::now();
                    client.schedule(spec(i)).await?;
                    latencies.push(call.elapsed().as_secs_f64() * 1_000.0);
                }
            } else {
                for first in (0..per_caller).step_by(batch) {
                    let call = Instant::now();
                    client
                        .schedule_many((first..(first + batch).min(per_caller)).map(spec))
                        .await?;
                    latencies.push(call.elapsed().as_secs_f64() * 1_000.0);
                }
            }
            anyhow::Ok(latencies)
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = callers.join_next().await {
        latencies.extend(done??);
    }
    let elapsed = started.elapsed();
    let total = per_caller * args.concurrency.max(1);
    let mode = if args.batch == 0 {
        "unary".to_owned()
    } else {
        format!("batch of {}", args.batch)
    };
    println!(
        "schedule throughput ({:?} store, {mode}, concurrency {}): {total} timers in {:.2} s = {:.0} timers/s",
        args.target.store,
        args.concurrency,
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    println!("| call latency ms | calls | p50 | p90 | p99 | p99.9 | max |");
    println!("|---|---|---|---|---|---|---|");
    println!("{}", summary("per call", latencies));
    server.stop().await;
    Ok(())
}
