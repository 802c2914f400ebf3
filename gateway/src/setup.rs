//! How a `minoots` process opens its store and starts its kernel: the store, kernel and action
//! flags (clap arguments, flattened into the `serve`, `kernel`, `gateway` and `keys` commands) and
//! what turns them into a running [`Kernel`]. It sits in the library so that the benchmarks
//! (`minoots-bench`) start their in-process server exactly as `minoots serve` does.

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context as _;
use clap::ValueEnum as _;
use minoots_kernel::{
    Kernel, KernelConfig, Leadership, SystemClock,
    actions::{ActionConfig, CommandAllowList, Concurrency, net::AddressPolicy},
    outbox::Publishing,
    quota::Limits,
    signing::{DEV_SECRET, Signer},
    store::{MemoryStore, PostgresStore, SqliteStore, Store, Synchronous},
};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
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

impl StoreArgs {
    /// The store to use: the flag, else the original KERNEL_STORE, else SQLite.
    pub fn kind(&self) -> anyhow::Result<StoreKind> {
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

/// The Postgres URL: the flag (or KERNEL_DATABASE_URL), else the original DATABASE_URL.
pub fn database_url(flag: &Option<String>) -> anyhow::Result<String> {
    flag.clone()
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .context("Postgres needs --database-url (or KERNEL_DATABASE_URL / DATABASE_URL)")
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

impl KernelOptions {
    pub fn validate(&self) -> anyhow::Result<()> {
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

/// What actions may do, and where events are published.
#[derive(Debug, Clone, clap::Args)]
pub struct ActionArgs {
    /// Standard Webhooks secrets (`whsec_<base64>`), comma-separated; every one signs, so a
    /// receiver can rotate. The original EVENT_ENVELOPE_SECRET, else KERNEL_ENVELOPE_SECRET, is
    /// read when unset. Without one,
    /// webhook actions fail rather than deliver unsigned (`--dev` supplies a development secret).
    #[arg(long, env = "MINOOTS_SIGNING_SECRETS", hide_env_values = true)]
    pub signing_secrets: Option<String>,
    /// Non-public addresses (IPs or CIDRs, comma-separated) webhook and agent actions may reach.
    #[arg(long, env = "MINOOTS_WEBHOOK_ALLOW", default_value = "")]
    pub webhook_allow: String,
    /// Executables command actions may run, comma-separated (exactly as actions name them): bare
    /// names are resolved through the server's PATH once, at start, and run by that absolute
    /// path; or absolute paths.
    #[arg(long, env = "MINOOTS_COMMAND_ALLOW", default_value = "")]
    pub command_allow: String,
    /// Directory file actions write under; without it file actions are refused.
    #[arg(long, env = "MINOOTS_FILE_SANDBOX")]
    pub file_sandbox: Option<PathBuf>,
    /// Agents an agent prompt may name as its target instead of a URL, comma-separated
    /// `NAME=URL` (`demo-agent=http://10.0.0.5:9000/mcp#remind`: for MCP, the fragment is the
    /// tool called when the prompt names none). As the original control plane's
    /// `"target": "demo-agent"`.
    /// Repeat the flag, or separate entries with commas.
    #[arg(long = "agent", env = "MINOOTS_AGENTS", value_delimiter = ',')]
    pub agents: Vec<String>,
    /// Timeout of one action attempt when the action sets none (the original
    /// ACTION_WEBHOOK_TIMEOUT_MS, in milliseconds, is read when MINOOTS_ACTION_TIMEOUT is unset).
    #[arg(long, env = "MINOOTS_ACTION_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub action_timeout: Duration,
    /// Action attempts (webhooks, agent prompts, commands, file writes) running at once across
    /// every tenant: the overall cap.
    #[arg(long, env = "MINOOTS_ACTION_CONCURRENCY", default_value_t = Concurrency::default().global,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub action_concurrency: usize,
    /// Action attempts of one tenant running at once; a tenant at its limit waits on its own,
    /// holding none of the overall slots (0: no limit of its own).
    #[arg(long, env = "MINOOTS_ACTION_CONCURRENCY_PER_TENANT", default_value_t = Concurrency::default().per_tenant)]
    pub action_concurrency_per_tenant: usize,
    /// Action attempts of one tenant to one destination (host and port, or NATS subject) running
    /// at once (0: no limit of its own).
    #[arg(long, env = "MINOOTS_ACTION_CONCURRENCY_PER_DESTINATION", default_value_t = Concurrency::default().per_destination)]
    pub action_concurrency_per_destination: usize,
    /// NATS server: events are published to JetStream (through the outbox) and agent prompts may
    /// use the `nats` adapter (the original NATS_URL, else NATS_JETSTREAM_URL, is read when
    /// MINOOTS_NATS_URL is unset).
    #[arg(long, env = "MINOOTS_NATS_URL")]
    pub nats_url: Option<String>,
    /// JetStream stream, created or updated on start (the original NATS_JETSTREAM_STREAM is read
    /// when MINOOTS_NATS_STREAM is unset).
    #[arg(long, env = "MINOOTS_NATS_STREAM", default_value = "MINOOTS_TIMER")]
    pub nats_stream: String,
    /// Subject prefix: `<prefix>.fired`, `<prefix>.settled`, ..., `<prefix>.dlq`.
    #[arg(
        long,
        env = "MINOOTS_NATS_SUBJECT_PREFIX",
        default_value = "minoots.timer"
    )]
    pub nats_subject_prefix: String,
    /// Publish every event to this one subject instead of `<prefix>.<event>` (the original
    /// NATS_SUBJECT is read when MINOOTS_NATS_SUBJECT is unset); the event type is in the payload.
    #[arg(long, env = "MINOOTS_NATS_SUBJECT")]
    pub nats_subject: Option<String>,
    /// Subject of dead letters instead of `<prefix>.dlq` (the original NATS_DLQ_SUBJECT is read
    /// when MINOOTS_NATS_DLQ_SUBJECT is unset).
    #[arg(long, env = "MINOOTS_NATS_DLQ_SUBJECT")]
    pub nats_dlq_subject: Option<String>,
}

/// The flags' defaults, for callers that build the options in code (the bench).
impl Default for ActionArgs {
    fn default() -> Self {
        let concurrency = Concurrency::default();
        Self {
            signing_secrets: None,
            webhook_allow: String::new(),
            command_allow: String::new(),
            file_sandbox: None,
            agents: Vec::new(),
            action_timeout: Duration::from_secs(10),
            action_concurrency: concurrency.global,
            action_concurrency_per_tenant: concurrency.per_tenant,
            action_concurrency_per_destination: concurrency.per_destination,
            nats_url: None,
            nats_stream: "MINOOTS_TIMER".into(),
            nats_subject_prefix: "minoots.timer".into(),
            nats_subject: None,
            nats_dlq_subject: None,
        }
    }
}

impl ActionArgs {
    /// The command allow-list, each name resolved through this process's PATH, once.
    pub fn commands(&self) -> anyhow::Result<CommandAllowList> {
        CommandAllowList::from_server_path(self.command_allow.split(','))
            .map_err(|e| anyhow::anyhow!("--command-allow / MINOOTS_COMMAND_ALLOW: {e}"))
    }

    fn signer(&self, dev: bool) -> anyhow::Result<Signer> {
        // The original EVENT_ENVELOPE_SECRET / KERNEL_ENVELOPE_SECRET took any string: one that
        // is not a secret list is used as the raw key. They arrive here through
        // `--signing-secrets` (config.rs installs them as its default) or, when the options are
        // built in code, straight from the environment.
        let original = |var: &str, secret: &str| {
            use base64::Engine as _;
            Signer::from_list(secret)
                .or_else(|_| {
                    Signer::new(&[base64::engine::general_purpose::STANDARD.encode(secret)])
                })
                .map_err(|e| anyhow::anyhow!("{var}: {e}"))
        };
        const ORIGINAL: [&str; 2] = ["EVENT_ENVELOPE_SECRET", "KERNEL_ENVELOPE_SECRET"];
        if let Some(list) = &self.signing_secrets {
            return Signer::from_list(list).or_else(|e| {
                match ORIGINAL
                    .iter()
                    .find(|var| std::env::var(var).ok().as_deref().map(str::trim) == Some(list))
                {
                    Some(var) => original(var, list),
                    None => Err(anyhow::anyhow!(
                        "--signing-secrets / MINOOTS_SIGNING_SECRETS: {e}"
                    )),
                }
            });
        }
        for var in ORIGINAL {
            if let Ok(secret) = std::env::var(var) {
                return original(var, &secret);
            }
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
            commands: self.commands()?,
            file_sandbox: self.file_sandbox.clone(),
            agents: minoots_kernel::actions::AgentRegistry::parse(&self.agents.join(","))
                .map_err(|e| anyhow::anyhow!("--agent / MINOOTS_AGENTS: {e}"))?,
            nats: nats.clone(),
            default_timeout: if self.action_timeout.is_zero() {
                Duration::from_secs(10)
            } else {
                self.action_timeout
            },
            concurrency: Concurrency {
                global: self.action_concurrency,
                per_tenant: self.action_concurrency_per_tenant,
                per_destination: self.action_concurrency_per_destination,
            },
            ..ActionConfig::default()
        };
        let publishing = nats.map(|client| Publishing {
            client,
            stream: self.nats_stream.clone(),
            subject_prefix: self.nats_subject_prefix.clone(),
            event_subject: self.nats_subject.clone().filter(|s| !s.is_empty()),
            dead_letter_subject: self.nats_dlq_subject.clone().filter(|s| !s.is_empty()),
            signer,
        });
        Ok((config, publishing))
    }
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

/// Opens the store and starts a kernel on it, clustered when the store is shared (Postgres).
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

/// The kernel's settings from its flags; `dev` signs deliveries with the development secret.
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

/// A duration flag (`15m`, `7d`, milliseconds); the message is the one clap shows.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    minoots_proto::parse_duration(s).map_err(|e| format!("invalid argument: duration: {e}"))
}

pub fn parse_synchronous(s: &str) -> Result<Synchronous, String> {
    s.parse()
}
