//! The `minoots` command line: one module per command, plus what several share (`args` for the
//! auth and connection flags, `server` for the listener and stop signal of the server commands;
//! the store and kernel flags are the library's `setup`, which the benchmarks use too).

mod args;
mod config;
mod dlq;
mod gateway;
mod kernel;
mod keys;
mod mcp;
mod migrate;
mod restored;
mod schedules;
mod serve;
mod server;
mod timers;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use minoots_gateway::{backend::parse_region_targets, setup::KernelOptions, telemetry::LogFormat};
use minoots_kernel::{actions::net::AddressPolicy, signing::Signer};

use crate::config::FileConfig;

#[derive(Debug, Parser)]
#[command(
    name = "minoots",
    version,
    about = "Durable timers for AI agents and automation"
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(
        long,
        env = "MINOOTS_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
    /// Configuration file (TOML, flag names as keys) [default: ./minoots.toml when present].
    /// Its values sit below environment variables and flags.
    #[arg(long, env = "MINOOTS_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run kernel and gateway in one process on one port, on an embedded SQLite store.
    Serve(serve::ServeArgs),
    /// Run only a kernel, serving its gRPC TimerService to gateways (no API keys: bind it to a
    /// private address).
    Kernel(kernel::KernelArgs),
    /// Run only a gateway in front of remote kernels (`--kernel URL` or regions).
    Gateway(gateway::GatewayArgs),
    /// Manage API keys directly in the store (the gateway also has admin endpoints).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// The agent tools as an MCP server (stdio, or streamable HTTP with --http), for a running
    /// server.
    Mcp(mcp::McpArgs),
    /// Timers on a running server: create, list, get, cancel, watch.
    #[command(subcommand)]
    Timers(timers::TimersCommand),
    /// Recurring schedules on a running server: create, get, list, update, pause, resume,
    /// delete, preview.
    #[command(subcommand)]
    Schedules(schedules::SchedulesCommand),
    /// Dead letters: actions that exhausted their retries (talks to a running server).
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    /// Show the effective configuration.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Apply the Postgres migrations and exit (a kernel on Postgres also applies them on start).
    Migrate(migrate::MigrateArgs),
    /// After restoring the store from a backup, before starting kernels on it: moves event
    /// sequences past those clients may have seen, so none is handed out again.
    Restored(restored::RestoredArgs),
}

/// Runs the parsed command; `file` and `clap_command` are for `config print`.
pub async fn run(cli: Cli, file: FileConfig, clap_command: clap::Command) -> anyhow::Result<()> {
    validate(&cli.command)?;
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Kernel(args) => kernel::run(args).await,
        Command::Gateway(args) => gateway::run(args).await,
        Command::Keys(command) => keys::run(command).await,
        Command::Dlq(command) => dlq::run(command).await,
        Command::Timers(command) => timers::run(command).await,
        Command::Schedules(command) => schedules::run(command).await,
        Command::Mcp(args) => mcp::run(args).await,
        Command::Config(command) => config::run(command, &file, &clap_command),
        Command::Migrate(args) => migrate::run(args).await,
        Command::Restored(args) => restored::run(args).await,
    }
}

/// Checks what clap cannot: values that must agree, lists with their own syntax.
fn validate(command: &Command) -> anyhow::Result<()> {
    let kernel = |options: &KernelOptions| -> anyhow::Result<()> {
        options.validate()?;
        if let Some(list) = &options.actions.signing_secrets {
            Signer::from_list(list)
                .map_err(|e| anyhow::anyhow!("--signing-secrets / MINOOTS_SIGNING_SECRETS: {e}"))?;
        }
        AddressPolicy::from_list(&options.actions.webhook_allow)
            .map_err(|e| anyhow::anyhow!("--webhook-allow / MINOOTS_WEBHOOK_ALLOW: {e}"))?;
        options.actions.commands()?;
        Ok(())
    };
    match command {
        Command::Serve(args) => {
            kernel(&args.kernel)?;
            args.auth.config()?;
        }
        Command::Kernel(args) => kernel(&args.kernel)?,
        Command::Gateway(args) => {
            args.auth.config()?;
            if let Some(text) = &args.region_targets {
                parse_region_targets(text).map_err(|e| {
                    anyhow::anyhow!("--region-targets / KERNEL_REGION_TARGETS: {e}")
                })?;
            }
        }
        _ => {}
    }
    Ok(())
}
