//! Flag groups several commands flatten: who may call a server (`serve`, `gateway`, `keys`), the
//! server's TLS (`serve`, `gateway`), and how a client command reaches one (`timers`, `dlq`,
//! `mcp`).

use std::{path::PathBuf, time::Duration};

use anyhow::Context as _;
use minoots_gateway::{
    auth::{AuthConfig, parse_tiers},
    setup::{StoreArgs, StoreKind, parse_duration},
    tls::{TlsConfig, read_certificates, read_private_key, read_roots},
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

/// TLS on the server's one port (gRPC, gRPC-web, REST and SSE alike).
#[derive(Debug, Clone, clap::Args)]
pub struct TlsArgs {
    /// Serve https with this PEM certificate chain (leaf first); needs --tls-key.
    #[arg(long, env = "MINOOTS_TLS_CERT", value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "MINOOTS_TLS_KEY", value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS: require a client certificate issued by a CA in this PEM file.
    #[arg(long, env = "MINOOTS_TLS_CLIENT_CA", value_name = "PEM")]
    pub tls_client_ca: Option<PathBuf>,
}

impl TlsArgs {
    /// The files read and checked, or None for plain http; errors name the flag at fault.
    pub fn config(&self) -> anyhow::Result<Option<TlsConfig>> {
        let (cert, key) = match (&self.tls_cert, &self.tls_key) {
            (None, None) => {
                if self.tls_client_ca.is_some() {
                    anyhow::bail!(
                        "--tls-client-ca / MINOOTS_TLS_CLIENT_CA needs --tls-cert and --tls-key"
                    );
                }
                return Ok(None);
            }
            (Some(cert), Some(key)) => (cert, key),
            (Some(_), None) => {
                anyhow::bail!("--tls-cert / MINOOTS_TLS_CERT needs --tls-key / MINOOTS_TLS_KEY")
            }
            (None, Some(_)) => {
                anyhow::bail!("--tls-key / MINOOTS_TLS_KEY needs --tls-cert / MINOOTS_TLS_CERT")
            }
        };
        let chain = read_certificates(cert).context("--tls-cert / MINOOTS_TLS_CERT")?;
        let key = read_private_key(key).context("--tls-key / MINOOTS_TLS_KEY")?;
        let roots = self
            .tls_client_ca
            .as_deref()
            .map(read_roots)
            .transpose()
            .context("--tls-client-ca / MINOOTS_TLS_CLIENT_CA")?;
        let config = TlsConfig::new(chain, key, roots)
            .context("--tls-cert and --tls-key (MINOOTS_TLS_CERT, MINOOTS_TLS_KEY)")?;
        Ok(Some(config))
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
    /// For an https URL: also trust the certificate authority in this PEM file (a private CA).
    #[arg(long, env = "MINOOTS_CA_CERTIFICATE", value_name = "PEM")]
    pub ca_certificate: Option<PathBuf>,
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
        if let Some(path) = &self.ca_certificate {
            options.ca_certificate = Some(std::fs::read(path).with_context(|| {
                format!(
                    "--ca-certificate / MINOOTS_CA_CERTIFICATE: reading {}",
                    path.display()
                )
            })?);
        }
        let url = options.url.clone();
        options
            .connect()
            .await
            .with_context(|| format!("connecting to {url}"))
    }
}
