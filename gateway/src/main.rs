//! `minoots`: runs MINOOTS (`serve`) and measures it (`bench`).

mod bench;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use minoots_kernel::{
    Kernel, KernelConfig, Leadership, SystemClock,
    store::{MemoryStore, PostgresStore, SqliteStore, Store, Synchronous},
};
use tokio::net::TcpListener;

#[derive(Debug, Parser)]
#[command(
    name = "minoots",
    version,
    about = "Durable timers for AI agents and automation"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run kernel and gateway in one process on one port (gRPC), on an embedded SQLite store.
    Serve(ServeArgs),
    /// Apply the Postgres migrations and exit (a kernel on Postgres also applies them on start).
    Migrate(MigrateArgs),
    /// Benchmarks over the real gRPC protocol (see docs/benchmarks.md).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StoreKind {
    /// A SQLite file in --data-dir (durable).
    Sqlite,
    /// Postgres at --database-url: several kernels share it, one leads (lease with fencing).
    Postgres,
    /// In memory only: everything is lost when the process exits. For tests and benchmarks.
    Memory,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, env = "MINOOTS_LISTEN", default_value = "127.0.0.1:7070")]
    listen: SocketAddr,
    /// Directory holding the SQLite database (created if missing).
    #[arg(long, env = "MINOOTS_DATA_DIR", default_value = "./minoots-data")]
    data_dir: PathBuf,
    /// Where timers live [default: sqlite; the original KERNEL_STORE is read when MINOOTS_STORE
    /// is unset].
    #[arg(long, env = "MINOOTS_STORE", value_enum)]
    store: Option<StoreKind>,
    /// Postgres URL for `--store postgres` (the original DATABASE_URL is read when
    /// KERNEL_DATABASE_URL is unset).
    #[arg(long, env = "KERNEL_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// This kernel's name in the lease [default: kernel-<random>].
    #[arg(long, env = "KERNEL_NODE_ID")]
    node_id: Option<String>,
    /// Lease heartbeat: how often the leader renews and followers try to take over, ms.
    #[arg(long, env = "KERNEL_RAFT_HEARTBEAT_MS", default_value_t = 300)]
    lease_heartbeat_ms: u64,
    /// Lease timeout: a leader that has not renewed for this long is replaced, ms.
    #[arg(long, env = "KERNEL_RAFT_ELECTION_TIMEOUT_MS", default_value_t = 1_500)]
    lease_timeout_ms: u64,
    /// SQLite durability: `full` fsyncs every group commit (survives power loss); `normal`
    /// survives a process crash only.
    #[arg(long, env = "MINOOTS_SQLITE_SYNCHRONOUS", default_value = "full", value_parser = parse_synchronous)]
    sqlite_synchronous: Synchronous,
    /// How long finished (settled, failed, cancelled) timers stay readable, e.g. `7d`.
    #[arg(long, env = "MINOOTS_TIMER_RETENTION", default_value = "7d", value_parser = parse_duration)]
    timer_retention: Duration,
    /// How long events stay replayable for stream resume, e.g. `24h`.
    #[arg(long, env = "MINOOTS_EVENT_RETENTION", default_value = "24h", value_parser = parse_duration)]
    event_retention: Duration,
}

#[derive(Debug, Clone, clap::Args)]
struct MigrateArgs {
    /// Postgres URL (the original DATABASE_URL is read when KERNEL_DATABASE_URL is unset).
    #[arg(long, env = "KERNEL_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

fn database_url(flag: &Option<String>) -> anyhow::Result<String> {
    flag.clone()
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .context("Postgres needs --database-url (or KERNEL_DATABASE_URL / DATABASE_URL)")
}

impl ServeArgs {
    fn store_kind(&self) -> anyhow::Result<StoreKind> {
        if let Some(store) = self.store {
            return Ok(store);
        }
        match std::env::var("KERNEL_STORE") {
            Ok(value) => StoreKind::from_str(&value, true).map_err(|_| {
                anyhow::anyhow!("KERNEL_STORE: unknown store {value:?} (sqlite, postgres, memory)")
            }),
            Err(_) => Ok(StoreKind::Sqlite),
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.lease_heartbeat_ms == 0 || self.lease_timeout_ms < 2 * self.lease_heartbeat_ms {
            anyhow::bail!(
                "--lease-timeout-ms ({}) must be at least twice --lease-heartbeat-ms ({}), and the heartbeat positive",
                self.lease_timeout_ms,
                self.lease_heartbeat_ms
            );
        }
        Ok(())
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    minoots::parse_duration(s).map_err(|e| e.to_string())
}

fn parse_synchronous(s: &str) -> Result<Synchronous, String> {
    s.parse()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
        Command::Bench(command) => bench::run(command).await,
        Command::Migrate(args) => {
            let store = PostgresStore::connect(&database_url(&args.database_url)?).await?;
            println!("migrations applied");
            store.close().await;
            Ok(())
        }
    }
}

/// The store, and the leadership it needs (only Postgres is shared, so only it has a lease).
pub async fn open_store(args: &ServeArgs) -> anyhow::Result<(Arc<dyn Store>, Option<Leadership>)> {
    args.validate()?;
    Ok(match args.store_kind()? {
        StoreKind::Memory => (Arc::new(MemoryStore::new()), None),
        StoreKind::Sqlite => {
            std::fs::create_dir_all(&args.data_dir)
                .with_context(|| format!("creating data dir {}", args.data_dir.display()))?;
            let path = args.data_dir.join("minoots.db");
            let store = SqliteStore::open(&path, args.sqlite_synchronous)
                .await
                .with_context(|| format!("opening {}", path.display()))?;
            (Arc::new(store), None)
        }
        StoreKind::Postgres => {
            let timeout = Duration::from_millis(args.lease_timeout_ms);
            let store = PostgresStore::connect_with(&database_url(&args.database_url)?, timeout)
                .await
                .context("connecting to Postgres")?;
            let holder = args.node_id.clone().unwrap_or_else(|| {
                format!(
                    "kernel-{}",
                    &uuid::Uuid::now_v7().simple().to_string()[24..]
                )
            });
            let leadership = Leadership {
                lease: Arc::new(store.lease("kernel", &holder, timeout)),
                name: "kernel".into(),
                holder,
                heartbeat: Duration::from_millis(args.lease_heartbeat_ms),
                timeout,
            };
            (Arc::new(store), Some(leadership))
        }
    })
}

pub async fn start_kernel(args: &ServeArgs) -> anyhow::Result<Kernel> {
    let (store, leadership) = open_store(args).await?;
    let clock = Arc::new(SystemClock::new());
    Ok(match leadership {
        None => Kernel::start(store, clock, kernel_config(args)).await?,
        Some(leadership) => {
            tracing::info!(node = %leadership.holder, "clustered kernel: serving once it holds the lease");
            Kernel::start_clustered(store, clock, kernel_config(args), leadership).await?
        }
    })
}

pub fn kernel_config(args: &ServeArgs) -> KernelConfig {
    KernelConfig {
        timer_retention: args.timer_retention,
        event_retention: args.event_retention,
        ..KernelConfig::default()
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let kernel = start_kernel(&args).await?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, store = ?args.store_kind()?, data_dir = %args.data_dir.display(), "minoots serving");
    // Machine-readable for scripts and tests that start us on port 0.
    println!("minoots listening on http://{address}");

    let shutdown = {
        let kernel = kernel.clone();
        async move {
            shutdown_signal().await;
            tracing::info!("shutting down: draining calls and committing accepted writes");
            kernel.close_streams();
        }
    };
    minoots_gateway::serve(listener, kernel.clone(), shutdown).await?;
    kernel.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
