//! Flag groups several commands flatten: who may call a server (`serve`, `gateway`, `keys`) and
//! how a client command reaches one (`timers`, `dlq`, `mcp`).

use std::time::Duration;

use anyhow::Context as _;
use minoots_gateway::{
    auth::{AuthConfig, parse_tiers},
    setup::{StoreArgs, StoreKind, parse_duration},
};

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
            shared_rate_limits: false,
        })
    }

    /// The settings for a server on `store`: on Postgres, which several gateways share, rate
    /// limits are kept there so they hold across gateways; otherwise in this process.
    pub fn config_for(&self, store: &StoreArgs) -> anyhow::Result<AuthConfig> {
        Ok(AuthConfig {
            shared_rate_limits: matches!(store.kind()?, StoreKind::Postgres),
            ..self.config()?
        })
    }
}

/// How the CLI reaches a running server.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// The server; by default `MINOOTS_URL`, else `MINOOTS_API_URL`, else http://127.0.0.1:7070.
    #[arg(long)]
    pub url: Option<String>,
    /// By default `MINOOTS_API_KEY`.
    #[arg(long)]
    pub api_key: Option<String>,
    /// Act for this tenant (a tenant.admin key may name any); by default `MINOOTS_TENANT`.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

impl ConnectArgs {
    pub async fn client(&self) -> anyhow::Result<minoots::Client> {
        let mut options = minoots::ConnectOptions::from_env(self.url.clone(), self.api_key.clone());
        if self.tenant.is_some() {
            options.tenant = self.tenant.clone();
        }
        let url = options.url.clone();
        options
            .connect()
            .await
            .with_context(|| format!("connecting to {url}"))
    }
}
