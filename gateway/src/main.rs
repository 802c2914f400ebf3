//! `minoots`: runs MINOOTS (`serve`) and measures it (`bench`).

mod bench;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use minoots_kernel::{
    Kernel, KernelConfig, SystemClock,
    store::{MemoryStore, SqliteStore, Store, Synchronous},
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
    /// Benchmarks over the real gRPC protocol (see docs/benchmarks.md).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StoreKind {
    /// A SQLite file in --data-dir (durable).
    Sqlite,
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
    /// Where timers live.
    #[arg(long, env = "MINOOTS_STORE", value_enum, default_value = "sqlite")]
    store: StoreKind,
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
    }
}

pub async fn open_store(args: &ServeArgs) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match args.store {
        StoreKind::Memory => Arc::new(MemoryStore::new()),
        StoreKind::Sqlite => {
            std::fs::create_dir_all(&args.data_dir)
                .with_context(|| format!("creating data dir {}", args.data_dir.display()))?;
            let path = args.data_dir.join("minoots.db");
            Arc::new(
                SqliteStore::open(&path, args.sqlite_synchronous)
                    .await
                    .with_context(|| format!("opening {}", path.display()))?,
            )
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
    let store = open_store(&args).await?;
    let kernel = Kernel::start(store, Arc::new(SystemClock::new()), kernel_config(&args)).await?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, store = ?args.store, data_dir = %args.data_dir.display(), "minoots serving");
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
