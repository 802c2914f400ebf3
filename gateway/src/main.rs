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

/// Transparent huge pages off for this process (Linux). With them on, memory the allocator takes
/// back from the kernel arrives as 2 MiB pages the kernel zeroes on first touch: at 10,000
/// webhook fires a second on Postgres that zeroing took 75 % of the server's CPU and deliveries
/// fell seconds behind (docs/benchmarks.md, "Transparent huge pages"). Databases and caches
/// advise the same for the same reason.
#[allow(unsafe_code)]
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and changes no memory.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// mimalloc's `mi_option_purge_delay` (its place in `mi_option_e`, mimalloc v3's `mimalloc.h`).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Memory freed by the allocator goes back to the kernel 10 ms later instead of mimalloc v3's
/// 1 s, during which an idle thread never purges it. After scheduling a million timers the server
/// kept 284 MB above its empty size with the default, 126 MB with this (docs/benchmarks.md,
/// "Memory"); a steady state holds the same either way.
#[allow(unsafe_code)]
fn return_freed_memory_promptly() {
    // SAFETY: setting an option takes no pointers; mimalloc reads it on its next purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10) };
}

fn main() -> std::process::ExitCode {
    no_transparent_huge_pages();
    return_freed_memory_promptly();
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    #[allow(unsafe_code)]
    fn transparent_huge_pages_are_off_for_the_process() {
        super::no_transparent_huge_pages();
        // SAFETY: PR_GET_THP_DISABLE reads a flag of this process.
        let disabled = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(disabled, 1);
    }

    #[test]
    #[allow(unsafe_code)]
    fn freed_memory_is_purged_after_10_ms() {
        // SAFETY: reading an option takes no pointers.
        let default = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert_eq!(
            default, 1_000,
            "the option is the purge delay (mimalloc v3's default)"
        );
        super::return_freed_memory_promptly();
        // SAFETY: as above.
        let set = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert_eq!(set, 10);
    }
}
