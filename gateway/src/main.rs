//! `minoots`: runs MINOOTS (`serve`, or `kernel` + `gateway` split), manages API keys (`keys`)
//! and talks to a running server (`timers`, `dlq`, `mcp`). This file is the process lifecycle
//! only: read the configuration, parse the command line, set up logs and traces, run the command
//! (one module per command under `cmd/`) on a Tokio runtime, and turn the outcome into an exit code.

mod cmd;
mod config;

/// The request path allocates and frees many small buffers (protobuf, JSON, rows); mimalloc
/// serves them markedly faster than glibc's allocator (docs/benchmarks.md, before and after).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{CommandFactory as _, FromArgMatches as _};
use cmd::{Cli, Command};
use minoots_gateway::telemetry;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let loaded = config::FileConfig::load(config::locate(&args))
        .and_then(|file| Ok((file.apply(Cli::command())?, file)));
    let (clap_command, file) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("error: {error:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let matches = clap_command.clone().get_matches_from(&args);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    let service = match cli.command {
        Command::Serve(_) => "minoots",
        Command::Kernel(_) => "minoots-kernel",
        Command::Gateway(_) => "minoots-gateway",
        _ => "minoots-cli",
    };
    telemetry::run_process(service, cli.log_format, cmd::run(cli, file, clap_command))
}
