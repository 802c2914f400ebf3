//! The server a bench measures: one given with `--target`, or one started in-process on
//! 127.0.0.1:0 exactly as `minoots serve` starts it (the gateway library's `setup`).

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use minoots::Client;
use minoots_gateway::{
    auth::{AuthConfig, Role},
    setup::{ActionArgs, KernelOptions, StoreArgs, StoreKind, start_kernel},
};
use minoots_kernel::Kernel;
use tokio::net::TcpListener;

#[derive(Debug, Clone, Args)]
pub struct Target {
    /// A running server (http://host:port). Default: start one in-process on 127.0.0.1:0.
    #[arg(long)]
    pub target: Option<String>,
    /// Store of the in-process server.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub store: StoreKind,
    /// SQLite synchronous mode of the in-process server.
    #[arg(long, default_value = "full")]
    pub sqlite_synchronous: String,
    /// With `--store postgres`: a server where the bench creates (and then drops) a fresh database.
    #[arg(long, env = "KERNEL_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    #[arg(long, default_value = "bench")]
    pub tenant: String,
    /// API key for `--target` (the in-process server creates its own key, so auth is on).
    #[arg(long, env = "MINOOTS_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

/// A server under test, and what to stop and drop after.
pub struct Server {
    pub url: String,
    pub api_key: String,
    stop: Option<(minoots_gateway::Running, Kernel, tempfile::TempDir)>,
    /// A fresh database for a Postgres run, dropped after.
    database: Option<minoots_kernel::testing::TestDatabase>,
}

impl Server {
    /// `webhooks`: actions may reach 127.0.0.1 and are signed with the development secret.
    pub async fn start(target: &Target, webhooks: bool) -> anyhow::Result<Self> {
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
        let mut actions = ActionArgs::default();
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
        let kernel = start_kernel(&store, &options, webhooks).await?;
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

    pub async fn client(&self, tenant: &str) -> anyhow::Result<Client> {
        Ok(Client::builder(self.url.clone())
            .api_key(self.api_key.clone())
            .tenant(tenant)
            .connect()
            .await?)
    }

    pub async fn stop(self) {
        if let Some((running, kernel, _dir)) = self.stop {
            if let Err(error) = running.stop().await {
                eprintln!("server failed: {error}");
            }
            kernel.shutdown().await;
        }
        drop(self.database);
    }
}
