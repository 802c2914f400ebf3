//! `minoots`: runs MINOOTS (`serve`, or `kernel` + `gateway` split), manages API keys (`keys`)
//! and measures it (`bench`).

mod bench;
mod config;
mod mcp_cli;
mod timers_cli;

/// The request path allocates and frees many small buffers (protobuf, JSON, rows); mimalloc
/// serves them markedly faster than glibc's allocator (docs/benchmarks.md, before and after).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand, ValueEnum};
use minoots_gateway::{
    Gateway,
    admin::key_json,
    auth::{Auth, AuthConfig, DEV_KEY, DEV_TENANT, Role, parse_tiers},
    backend::{Regions, parse_region_targets},
    telemetry::{self, LogFormat},
};
use minoots_kernel::{
    Clock, Kernel, KernelConfig, Leadership, SystemClock,
    actions::{ActionConfig, net::AddressPolicy},
    outbox::Publishing,
    quota::Limits,
    signing::{DEV_SECRET, Signer},
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
    /// Log format on stderr.
    #[arg(
        long,
        env = "MINOOTS_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    log_format: LogFormat,
    /// Configuration file (TOML, flag names as keys) [default: ./minoots.toml when present].
    /// Its values sit below environment variables and flags.
    #[arg(long, env = "MINOOTS_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run kernel and gateway in one process on one port, on an embedded SQLite store.
    Serve(ServeArgs),
    /// Run only a kernel, serving its gRPC TimerService to gateways (no API keys: bind it to a
    /// private address).
    Kernel(KernelArgs),
    /// Run only a gateway in front of remote kernels (`--kernel URL` or regions).
    Gateway(GatewayArgs),
    /// Manage API keys directly in the store (the gateway also has admin endpoints).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The agent tools as an MCP server (stdio, or streamable HTTP with --http), for a running
    /// server.
    Mcp(mcp_cli::McpArgs),
    /// Timers on a running server: create, list, get, cancel, watch.
    #[command(subcommand)]
    Timers(timers_cli::TimersCommand),
    /// Dead letters: actions that exhausted their retries (talks to a running server).
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Show the effective configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
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

/// Where timers (and API keys, tenant limits) live.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Directory holding the SQLite database (created if missing).
    #[arg(long, env = "MINOOTS_DATA_DIR", default_value = "./minoots-data")]
    pub data_dir: PathBuf,
    /// Where timers live [default: sqlite; the original KERNEL_STORE is read when MINOOTS_STORE
    /// is unset].
    #[arg(long, env = "MINOOTS_STORE", value_enum)]
    pub store: Option<StoreKind>,
    /// Postgres URL for `--store postgres` (the original DATABASE_URL is read when
    /// KERNEL_DATABASE_URL is unset).
    #[arg(long, env = "KERNEL_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// SQLite durability: `full` fsyncs every group commit (survives power loss); `normal`
    /// survives a process crash only.
    #[arg(long, env = "MINOOTS_SQLITE_SYNCHRONOUS", default_value = "full", value_parser = parse_synchronous)]
    pub sqlite_synchronous: Synchronous,
}

/// How a kernel runs: leadership, retention, quotas.
#[derive(Debug, Clone, clap::Args)]
pub struct KernelOptions {
    /// This kernel's name in the lease [default: kernel-<random>].
    #[arg(long, env = "KERNEL_NODE_ID")]
    pub node_id: Option<String>,
    /// Lease heartbeat: how often the leader renews and followers try to take over, ms.
    #[arg(long, env = "KERNEL_RAFT_HEARTBEAT_MS", default_value_t = 300)]
    pub lease_heartbeat_ms: u64,
    /// Lease timeout: a leader that has not renewed for this long is replaced, ms.
    #[arg(long, env = "KERNEL_RAFT_ELECTION_TIMEOUT_MS", default_value_t = 1_500)]
    pub lease_timeout_ms: u64,
    /// How long finished (settled, failed, cancelled) timers stay readable, e.g. `7d`.
    #[arg(long, env = "MINOOTS_TIMER_RETENTION", default_value = "7d", value_parser = parse_duration)]
    pub timer_retention: Duration,
    /// How long events stay replayable for stream resume, e.g. `24h`.
    #[arg(long, env = "MINOOTS_EVENT_RETENTION", default_value = "24h", value_parser = parse_duration)]
    pub event_retention: Duration,
    /// Default quota: SCHEDULED or ARMED timers a tenant may have at once (0: unlimited).
    #[arg(long, env = "MINOOTS_QUOTA_ACTIVE_TIMERS", default_value_t = 1_000_000)]
    pub quota_active_timers: u64,
    /// Default quota: timers a tenant may schedule per UTC day (0: unlimited).
    #[arg(long, env = "MINOOTS_QUOTA_DAILY_TIMERS", default_value_t = 10_000_000)]
    pub quota_daily_timers: u64,
    #[command(flatten)]
    pub actions: ActionArgs,
}

/// What actions may do, and where events are published.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ActionArgs {
    /// Standard Webhooks secrets (`whsec_<base64>`), comma-separated; every one signs, so a
    /// receiver can rotate. The original EVENT_ENVELOPE_SECRET is read when unset. Without one,
    /// webhook actions fail rather than deliver unsigned (`--dev` supplies a development secret).
    #[arg(long, env = "MINOOTS_SIGNING_SECRETS", hide_env_values = true)]
    pub signing_secrets: Option<String>,
    /// Non-public addresses (IPs or CIDRs, comma-separated) webhook and agent actions may reach.
    #[arg(long, env = "MINOOTS_WEBHOOK_ALLOW", default_value = "")]
    pub webhook_allow: String,
    /// Executables command actions may run, comma-separated (exactly as actions name them).
    #[arg(long, env = "MINOOTS_COMMAND_ALLOW", default_value = "")]
    pub command_allow: String,
    /// Directory file actions write under; without it file actions are refused.
    #[arg(long, env = "MINOOTS_FILE_SANDBOX")]
    pub file_sandbox: Option<PathBuf>,
    /// Timeout of one action attempt when the action sets none.
    #[arg(long, env = "MINOOTS_ACTION_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub action_timeout: Duration,
    /// NATS server: events are published to JetStream (through the outbox) and agent prompts may
    /// use the `nats` adapter.
    #[arg(long, env = "MINOOTS_NATS_URL")]
    pub nats_url: Option<String>,
    /// JetStream stream, created or updated on start.
    #[arg(long, env = "MINOOTS_NATS_STREAM", default_value = "MINOOTS_TIMER")]
    pub nats_stream: String,
    /// Subject prefix: `<prefix>.fired`, `<prefix>.settled`, ..., `<prefix>.dlq`.
    #[arg(
        long,
        env = "MINOOTS_NATS_SUBJECT_PREFIX",
        default_value = "minoots.timer"
    )]
    pub nats_subject_prefix: String,
}

impl ActionArgs {
    fn signer(&self, dev: bool) -> anyhow::Result<Signer> {
        if let Some(list) = &self.signing_secrets {
            return Signer::from_list(list)
                .map_err(|e| anyhow::anyhow!("--signing-secrets / MINOOTS_SIGNING_SECRETS: {e}"));
        }
        if let Ok(secret) = std::env::var("EVENT_ENVELOPE_SECRET") {
            // The original took any string; a non-base64 one is used as the raw key.
            use base64::Engine as _;
            let secret = match Signer::from_list(&secret) {
                Ok(signer) => return Ok(signer),
                Err(_) => base64::engine::general_purpose::STANDARD.encode(secret.as_bytes()),
            };
            return Signer::new(&[secret])
                .map_err(|e| anyhow::anyhow!("EVENT_ENVELOPE_SECRET: {e}"));
        }
        if dev {
            tracing::warn!("--dev: signing deliveries with the development secret {DEV_SECRET}");
            return Ok(Signer::new(&[DEV_SECRET]).expect("valid development secret"));
        }
        tracing::warn!(
            "no signing secret (MINOOTS_SIGNING_SECRETS): webhook and HTTP agent actions will fail until one is set"
        );
        Ok(Signer::default())
    }

    /// Action settings and, with a NATS URL, event publishing.
    async fn configure(&self, dev: bool) -> anyhow::Result<(ActionConfig, Option<Publishing>)> {
        let signer = self.signer(dev)?;
        let nats = match &self.nats_url {
            None => None,
            Some(url) => Some(
                async_nats::ConnectOptions::new()
                    .name("minoots")
                    .retry_on_initial_connect()
                    .connect(url.as_str())
                    .await
                    .with_context(|| format!("NATS at {url}"))?,
            ),
        };
        let config = ActionConfig {
            signer: signer.clone(),
            address_policy: AddressPolicy::from_list(&self.webhook_allow)
                .map_err(|e| anyhow::anyhow!("--webhook-allow / MINOOTS_WEBHOOK_ALLOW: {e}"))?,
            commands: self
                .command_allow
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect(),
            file_sandbox: self.file_sandbox.clone(),
            nats: nats.clone(),
            default_timeout: if self.action_timeout.is_zero() {
                Duration::from_secs(10)
            } else {
                self.action_timeout
            },
            ..ActionConfig::default()
        };
        let publishing = nats.map(|client| Publishing {
            client,
            stream: self.nats_stream.clone(),
            subject_prefix: self.nats_subject_prefix.clone(),
            signer,
        });
        Ok((config, publishing))
    }
}

/// Who may call the gateway.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// Development mode: seeds tenant `tenant-local` with the API key `local-dev-key` (every
    /// role, unlimited rate). Never in production.
    #[arg(long, env = "MINOOTS_DEV")]
    pub dev: bool,
    /// Request-rate tiers, `name=PER_SECOND[:BURST]` separated by commas (`unlimited` always
    /// exists).
    #[arg(
        long,
        env = "MINOOTS_RATE_LIMITS",
        default_value = "standard=1000:2000"
    )]
    pub rate_limits: String,
    /// Tier of keys created without one.
    #[arg(long, env = "MINOOTS_DEFAULT_TIER", default_value = "standard")]
    pub default_tier: String,
    /// How long a verified key is trusted before the store is read again (revocations through
    /// another process apply within this time).
    #[arg(long, env = "MINOOTS_KEY_CACHE_TTL", default_value = "5s", value_parser = parse_duration)]
    pub key_cache_ttl: Duration,
}

impl AuthArgs {
    pub fn config(&self) -> anyhow::Result<AuthConfig> {
        Ok(AuthConfig {
            tiers: parse_tiers(&self.rate_limits)
                .map_err(|e| anyhow::anyhow!("--rate-limits / MINOOTS_RATE_LIMITS: {e}"))?,
            default_tier: self.default_tier.clone(),
            key_cache_ttl: self.key_cache_ttl,
        })
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, env = "MINOOTS_LISTEN", default_value = "127.0.0.1:7070")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub kernel: KernelOptions,
    #[command(flatten)]
    pub auth: AuthArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct KernelArgs {
    /// Address to listen on (private network: kernels trust `x-tenant-id`).
    #[arg(long, env = "MINOOTS_LISTEN", default_value = "127.0.0.1:7071")]
    listen: SocketAddr,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    kernel: KernelOptions,
}

#[derive(Debug, Clone, clap::Args)]
pub struct GatewayArgs {
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, env = "MINOOTS_LISTEN", default_value = "127.0.0.1:7070")]
    listen: SocketAddr,
    /// A kernel to send calls to; repeat for several kernels of one region (tried in order).
    #[arg(long = "kernel", env = "MINOOTS_KERNEL_URLS", value_delimiter = ',')]
    kernels: Vec<String>,
    /// Kernels by region: `us-east=http://10.0.0.1:7071,eu-west=http://10.1.0.1:7071`.
    #[arg(long, env = "KERNEL_REGION_TARGETS")]
    region_targets: Option<String>,
    /// The region calls go to when neither a label nor a header names one [default: the first].
    #[arg(long, env = "KERNEL_PRIMARY_REGION")]
    primary_region: Option<String>,
    /// Per-call timeout to a kernel; past it the call fails over to the next one.
    #[arg(long, env = "MINOOTS_KERNEL_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    kernel_timeout: Duration,
    /// Where API keys and tenant limits live: share the kernels' Postgres so limits apply there.
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    auth: AuthArgs,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key and print its secret (shown this once).
    Create {
        /// Tenant the key acts for.
        #[arg(long)]
        tenant: String,
        /// Roles: timer.read, timer.write, timer.cancel, tenant.admin (repeat or comma-separate)
        /// [default: timer.read,timer.write,timer.cancel].
        #[arg(long = "role", value_delimiter = ',')]
        roles: Vec<String>,
        /// A label for people.
        #[arg(long, default_value = "")]
        name: String,
        /// Rate-limit tier.
        #[arg(long)]
        tier: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        auth: AuthArgs,
    },
    /// List keys (never their secrets).
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a key by id.
    Revoke {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// The settings a command would run with (defaults, file, environment, and the flags after
    /// `--`), where each comes from, secrets masked; fails on an invalid one.
    Print {
        /// serve, kernel, gateway, keys or dlq.
        #[arg(default_value = "serve")]
        command: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Flags of that command, after `--`.
        #[arg(last = true)]
        args: Vec<String>,
    },
}

/// How the CLI reaches a running server.
#[derive(Debug, Clone, clap::Args)]
struct ConnectArgs {
    #[arg(long, env = "MINOOTS_URL", default_value = "http://127.0.0.1:7070")]
    url: String,
    #[arg(long, env = "MINOOTS_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Act for this tenant (a tenant.admin key may name any).
    #[arg(long, env = "MINOOTS_TENANT")]
    tenant: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

impl ConnectArgs {
    async fn client(&self) -> anyhow::Result<minoots::Client> {
        let mut builder = minoots::Client::builder(self.url.clone());
        if let Some(key) = &self.api_key {
            builder = builder.api_key(key.clone());
        }
        if let Some(tenant) = &self.tenant {
            builder = builder.tenant(tenant.clone());
        }
        builder
            .connect()
            .await
            .with_context(|| format!("connecting to {}", self.url))
    }
}

#[derive(Debug, Subcommand)]
enum DlqCommand {
    /// Unresolved dead letters, oldest first.
    List {
        /// Only those created since: an RFC 3339 time, or a duration ago (`24h`).
        #[arg(long)]
        since: Option<String>,
        /// Replayed ones too.
        #[arg(long)]
        include_resolved: bool,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// One dead letter.
    Show {
        id: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Run a dead-lettered action again (same idempotency key): `replay ID`, or
    /// `replay --all [--since T]`.
    Replay {
        id: Option<String>,
        #[arg(long)]
        all: bool,
        #[arg(long)]
        since: Option<String>,
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

/// An RFC 3339 time, or a duration before now.
fn parse_since(text: &str) -> anyhow::Result<minoots_proto::prost_types::Timestamp> {
    use std::str::FromStr as _;
    if let Ok(at) = minoots_proto::prost_types::Timestamp::from_str(text) {
        return Ok(at);
    }
    let ago = minoots::parse_duration(text).map_err(|_| {
        anyhow::anyhow!("--since {text:?}: not an RFC 3339 time or a duration like 24h")
    })?;
    let at = std::time::SystemTime::now() - ago;
    Ok(at.into())
}

async fn dlq(command: DlqCommand) -> anyhow::Result<()> {
    use minoots_kernel::json::{action_result_to_json, dead_letter_to_json, timer_to_json};
    let print_letter = |letter: &minoots_proto::v1::DeadLetter, json: bool| {
        if json {
            println!("{}", dead_letter_to_json(letter));
        } else {
            let state = if letter.resolved_at.is_some() {
                "resolved"
            } else {
                "dead"
            };
            println!(
                "{}  {state:<8}  attempts {:<3} replays {:<2}  {}",
                letter.id, letter.attempts, letter.replays, letter.last_error
            );
        }
    };
    let print_replay = |result: &minoots_proto::v1::ReplayResult, json: bool| {
        if json {
            let out = serde_json::json!({
                "deadLetter": result.dead_letter.as_ref().map(dead_letter_to_json),
                "result": result.result.as_ref().map(action_result_to_json),
                "timer": result.timer.as_ref().map(timer_to_json),
            });
            println!("{out}");
        } else {
            let letter = result.dead_letter.as_ref().map_or("", |l| l.id.as_str());
            let outcome = result.result.as_ref().map_or(String::new(), |r| {
                format!(
                    "{} ({})",
                    if r.ok { "ok" } else { "failed again" },
                    r.detail
                )
            });
            let status = result.timer.as_ref().map_or("", |t| t.status().wire_name());
            println!("{letter}  {outcome}  timer {status}");
        }
    };
    match command {
        DlqCommand::List {
            since,
            include_resolved,
            connect,
        } => {
            let since = since.as_deref().map(parse_since).transpose()?;
            let letters = connect
                .client()
                .await?
                .dead_letters(since, include_resolved)
                .await?;
            for letter in &letters {
                print_letter(letter, connect.json);
            }
        }
        DlqCommand::Show { id, connect } => {
            let letter = connect.client().await?.dead_letter(&id).await?;
            print_letter(&letter, true);
        }
        DlqCommand::Replay {
            id,
            all,
            since,
            connect,
        } => {
            let client = connect.client().await?;
            match (id, all) {
                (Some(id), false) => {
                    print_replay(&client.replay_dead_letter(&id).await?, connect.json)
                }
                (None, true) => {
                    let since = since.as_deref().map(parse_since).transpose()?;
                    for result in client.replay_dead_letters(since).await? {
                        print_replay(&result, connect.json);
                    }
                }
                _ => anyhow::bail!("give a dead letter id, or --all (with an optional --since)"),
            }
        }
    }
    Ok(())
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

impl StoreArgs {
    fn kind(&self) -> anyhow::Result<StoreKind> {
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
}

impl KernelOptions {
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
    let telemetry = match telemetry::init(service, cli.log_format) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("error: setting up logs and traces: {error:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("building the Tokio runtime");
    let result = runtime.block_on(run(cli, file, clap_command));
    // Spans still buffered are exported after the servers stopped, outside the runtime.
    drop(runtime);
    drop(telemetry);
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(
    cli: Cli,
    file: config::FileConfig,
    clap_command: clap::Command,
) -> anyhow::Result<()> {
    validate(&cli.command)?;
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Kernel(args) => run_kernel(args).await,
        Command::Gateway(args) => run_gateway(args).await,
        Command::Keys(command) => keys(command).await,
        Command::Dlq(command) => dlq(command).await,
        Command::Timers(command) => timers_cli::run(command).await,
        Command::Mcp(args) => mcp_cli::run(args).await,
        Command::Config(ConfigCommand::Print {
            command,
            json,
            args,
        }) => print_config(&file, &clap_command, &command, json, &args),
        Command::Bench(command) => bench::run(command).await,
        Command::Migrate(args) => {
            let store = PostgresStore::connect(&database_url(&args.database_url)?).await?;
            println!("migrations applied");
            store.close().await;
            Ok(())
        }
    }
}

fn print_config(
    file: &config::FileConfig,
    clap_command: &clap::Command,
    command: &str,
    json: bool,
    args: &[String],
) -> anyhow::Result<()> {
    if !config::SECTIONS.contains(&command) {
        anyhow::bail!(
            "unknown command {command:?} ({})",
            config::SECTIONS.join(", ")
        );
    }
    let argv = ["minoots", command]
        .into_iter()
        .map(str::to_owned)
        .chain(args.iter().cloned());
    let matches = clap_command
        .clone()
        .try_get_matches_from(argv)
        .map_err(|e| anyhow::anyhow!("{}", e.render()))?;
    let parsed = Cli::from_arg_matches(&matches).map_err(|e| anyhow::anyhow!("{}", e.render()))?;
    validate(&parsed.command)?;
    let (_, sub) = matches.subcommand().expect("a subcommand was given");
    let settings = file.describe(command, sub, clap_command);
    if json {
        println!("{}", serde_json::to_string_pretty(&settings)?);
    } else {
        if let Some(path) = &file.path {
            println!("# config file: {}", path.display());
        }
        for setting in settings {
            println!(
                "{:<24} = {:<40} # {}",
                setting.name, setting.value, setting.source
            );
        }
    }
    Ok(())
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
/// Opens the store without leadership (for keys and limits, or a single-node kernel).
pub async fn open_store(args: &StoreArgs) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match args.kind()? {
        StoreKind::Memory => Arc::new(MemoryStore::new()),
        StoreKind::Sqlite => Arc::new(open_sqlite(args).await?),
        StoreKind::Postgres => Arc::new(
            PostgresStore::connect(&database_url(&args.database_url)?)
                .await
                .context("connecting to Postgres")?,
        ),
    })
}

async fn open_sqlite(args: &StoreArgs) -> anyhow::Result<SqliteStore> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating data dir {}", args.data_dir.display()))?;
    let path = args.data_dir.join("minoots.db");
    SqliteStore::open(&path, args.sqlite_synchronous)
        .await
        .with_context(|| format!("opening {}", path.display()))
}

/// The kernel's store, and the leadership it needs (only Postgres is shared, so only it has a
/// lease).
async fn open_kernel_store(
    store: &StoreArgs,
    options: &KernelOptions,
) -> anyhow::Result<(Arc<dyn Store>, Option<Leadership>)> {
    options.validate()?;
    Ok(match store.kind()? {
        StoreKind::Memory => (Arc::new(MemoryStore::new()), None),
        StoreKind::Sqlite => (Arc::new(open_sqlite(store).await?), None),
        StoreKind::Postgres => {
            let timeout = Duration::from_millis(options.lease_timeout_ms);
            let pg = PostgresStore::connect_with(&database_url(&store.database_url)?, timeout)
                .await
                .context("connecting to Postgres")?;
            let holder = options.node_id.clone().unwrap_or_else(|| {
                format!(
                    "kernel-{}",
                    &uuid::Uuid::now_v7().simple().to_string()[24..]
                )
            });
            let leadership = Leadership {
                lease: Arc::new(pg.lease("kernel", &holder, timeout)),
                name: "kernel".into(),
                holder,
                heartbeat: Duration::from_millis(options.lease_heartbeat_ms),
                timeout,
            };
            (Arc::new(pg), Some(leadership))
        }
    })
}

pub async fn start_kernel(
    store: &StoreArgs,
    options: &KernelOptions,
    dev: bool,
) -> anyhow::Result<Kernel> {
    let (store, leadership) = open_kernel_store(store, options).await?;
    let clock = Arc::new(SystemClock::new());
    let config = kernel_config(options, dev).await?;
    Ok(match leadership {
        None => Kernel::start(store, clock, config).await?,
        Some(leadership) => {
            tracing::info!(node = %leadership.holder, "clustered kernel: serving once it holds the lease");
            Kernel::start_clustered(store, clock, config, leadership).await?
        }
    })
}

pub async fn kernel_config(options: &KernelOptions, dev: bool) -> anyhow::Result<KernelConfig> {
    let limit = |n: u64| (n > 0).then_some(n);
    let (actions, publishing) = options.actions.configure(dev).await?;
    Ok(KernelConfig {
        timer_retention: options.timer_retention,
        event_retention: options.event_retention,
        default_limits: Limits {
            active_timers: limit(options.quota_active_timers),
            daily_timers: limit(options.quota_daily_timers),
        },
        actions,
        publishing,
        ..KernelConfig::default()
    })
}

async fn seed_dev(gateway: &Gateway, auth: &AuthArgs) -> anyhow::Result<()> {
    if !auth.dev {
        return Ok(());
    }
    let created = gateway.auth().seed_dev_key().await?;
    tracing::warn!(
        tenant = DEV_TENANT,
        key = DEV_KEY,
        created,
        "--dev: the development API key is active (every role, no rate limit); never use --dev in production"
    );
    Ok(())
}

async fn bind(listen: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    // Machine-readable for scripts and tests that start us on port 0.
    println!("minoots listening on http://{}", listener.local_addr()?);
    Ok(listener)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let kernel = start_kernel(&args.store, &args.kernel, args.auth.dev).await?;
    let gateway = Gateway::local(kernel.clone(), args.auth.config()?)?;
    seed_dev(&gateway, &args.auth).await?;
    let listener = bind(args.listen).await?;
    tracing::info!(address = %listener.local_addr()?, store = ?args.store.kind()?, data_dir = %args.store.data_dir.display(), "minoots serving");
    let shutdown = {
        let gateway = gateway.clone();
        async move {
            shutdown_signal().await;
            tracing::info!("shutting down: draining calls and committing accepted writes");
            gateway.close_streams();
        }
    };
    minoots_gateway::serve(listener, gateway, shutdown).await?;
    kernel.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

async fn run_kernel(args: KernelArgs) -> anyhow::Result<()> {
    let kernel = start_kernel(&args.store, &args.kernel, false).await?;
    let listener = bind(args.listen).await?;
    tracing::info!(address = %listener.local_addr()?, store = ?args.store.kind()?, "minoots kernel serving (no API keys: keep it on a private network)");
    let shutdown = {
        let kernel = kernel.clone();
        async move {
            shutdown_signal().await;
            kernel.close_streams();
        }
    };
    minoots_gateway::serve_kernel(listener, kernel.clone(), shutdown).await?;
    kernel.shutdown().await;
    Ok(())
}

async fn run_gateway(args: GatewayArgs) -> anyhow::Result<()> {
    let mut targets = match &args.region_targets {
        Some(text) => parse_region_targets(text)
            .map_err(|e| anyhow::anyhow!("--region-targets / KERNEL_REGION_TARGETS: {e}"))?,
        None => Vec::new(),
    };
    let default_region = args
        .primary_region
        .clone()
        .unwrap_or_else(|| "default".into());
    targets.extend(
        args.kernels
            .iter()
            .map(|url| (default_region.clone(), url.clone())),
    );
    if targets.is_empty() {
        anyhow::bail!("a gateway needs kernels: --kernel URL or --region-targets REGION=URL,...");
    }
    let regions = Regions::new(
        &targets,
        args.primary_region.as_deref(),
        args.kernel_timeout,
    )
    .map_err(anyhow::Error::msg)?;
    tracing::info!(regions = ?regions.names(), "minoots gateway in front of remote kernels");
    let store = open_store(&args.store).await?;
    let gateway = Gateway::remote(regions, store, args.auth.config()?)?;
    seed_dev(&gateway, &args.auth).await?;
    let listener = bind(args.listen).await?;
    let shutdown = {
        let gateway = gateway.clone();
        async move {
            shutdown_signal().await;
            gateway.close_streams();
        }
    };
    minoots_gateway::serve(listener, gateway, shutdown).await?;
    Ok(())
}

async fn keys(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create {
            tenant,
            roles,
            name,
            tier,
            json,
            store,
            auth,
        } => {
            let roles = if roles.is_empty() {
                vec![Role::TimerRead, Role::TimerWrite, Role::TimerCancel]
            } else {
                roles
                    .iter()
                    .map(|r| r.parse::<Role>().map_err(anyhow::Error::msg))
                    .collect::<anyhow::Result<_>>()?
            };
            let auth =
                Auth::new(open_store(&store).await?, auth.config()?).map_err(anyhow::Error::msg)?;
            let created = auth
                .create_key(&tenant, &name, &roles, tier.as_deref())
                .await?;
            if json {
                let mut out = key_json(&created.key);
                out["secret"] = created.secret.into();
                println!("{out}");
            } else {
                println!("id:     {}", created.key.id);
                println!("tenant: {}", created.key.tenant_id);
                println!("roles:  {}", created.key.roles.join(","));
                println!("tier:   {}", created.key.tier);
                println!("secret: {}", created.secret);
                eprintln!("the secret is shown this once; only its SHA-256 digest is stored");
            }
        }
        KeysCommand::List {
            tenant,
            json,
            store,
        } => {
            let keys = open_store(&store)
                .await?
                .list_api_keys(tenant.as_deref())
                .await?;
            if json {
                let keys: Vec<_> = keys.iter().map(key_json).collect();
                println!("{}", serde_json::Value::from(keys));
            } else {
                println!(
                    "{:<40} {:<20} {:<8} {:<10} ROLES",
                    "ID", "TENANT", "STATE", "TIER"
                );
                for key in keys {
                    let state = if key.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!(
                        "{:<40} {:<20} {:<8} {:<10} {}",
                        key.id,
                        key.tenant_id,
                        state,
                        key.tier,
                        key.roles.join(",")
                    );
                }
            }
        }
        KeysCommand::Revoke { id, store } => {
            let at = SystemClock::new().now();
            match open_store(&store).await?.revoke_api_key(&id, at).await? {
                Some(_) => println!("revoked {id}"),
                None => anyhow::bail!("no API key with id {id:?}"),
            }
        }
    }
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
