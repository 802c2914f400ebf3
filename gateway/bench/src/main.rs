//! `minoots-bench`: drives a real server over its real protocols (gRPC, REST, webhooks) and
//! prints what it measured as a table; `--json PATH` also writes it for `scripts/bench_plots.py`.
//! Without `--target`, it starts a server in-process on 127.0.0.1:0 (the code path of
//! `minoots serve`, auth on); `memory` and `recovery` run `minoots serve` as a child process so
//! its RSS and restart are the real process's. A tool of its own, so the product binary carries
//! no benchmark code and none of the kernel's test support.

mod child;
mod fanout;
mod lateness;
mod load;
mod memory;
mod recovery;
mod recurring;
mod report;
mod schedule;
mod server;

/// The in-process server measured here is the `minoots` binary's request path, with its
/// allocator (mimalloc; see the note in gateway/src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use minoots_gateway::telemetry::{self, LogFormat};

use crate::{
    fanout::FanoutArgs, lateness::LatenessArgs, memory::MemoryArgs, recovery::RecoveryArgs,
    recurring::RecurringArgs, schedule::ScheduleArgs,
};

#[derive(Debug, Parser)]
#[command(
    name = "minoots-bench",
    version,
    about = "Benchmarks of MINOOTS over the real gRPC protocol (see docs/benchmarks.md)"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(
        long,
        env = "MINOOTS_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Fire lateness (arrival time - due time) of N timers due within a window, at the event
    /// stream or at a webhook receiver.
    Lateness(LatenessArgs),
    /// The webhook receiver `lateness --at webhook` runs as a process of its own: prints its
    /// URL, records each delivery, and when its stdin closes prints them (fire_at, arrival in µs,
    /// webhook-id; tab-separated) and exits.
    #[command(hide = true)]
    Receiver,
    /// Scheduling throughput: unary gRPC calls at a concurrency, the batch API, or REST.
    Schedule(ScheduleArgs),
    /// Kernel RSS with N pending timers (a `minoots serve` child process), bytes per timer.
    Memory(MemoryArgs),
    /// Restart with N overdue timers: time to the first fire and until every one fired.
    Recovery(RecoveryArgs),
    /// Event delivery latency to many stream subscribers at once.
    Fanout(FanoutArgs),
    /// N schedules each firing every minute for M minutes: occurrence lateness, lost and
    /// duplicated occurrences, RSS (a `minoots serve` child process).
    Recurring(RecurringArgs),
}

async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Lateness(args) => lateness::run(args).await,
        BenchCommand::Receiver => lateness::receiver().await,
        BenchCommand::Schedule(args) => schedule::run(args).await,
        BenchCommand::Memory(args) => memory::run(args).await,
        BenchCommand::Recovery(args) => recovery::run(args).await,
        BenchCommand::Fanout(args) => fanout::run(args).await,
        BenchCommand::Recurring(args) => recurring::run(args).await,
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    telemetry::run_process("minoots-bench", cli.log_format, run(cli.command))
}
