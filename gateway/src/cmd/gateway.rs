//! `minoots gateway`: only a gateway, in front of remote kernels (one region or several).

use std::{net::SocketAddr, time::Duration};

use minoots_gateway::{
    Gateway,
    backend::{Regions, parse_region_targets},
    setup::{StoreArgs, open_store, parse_duration},
};

use super::{
    args::{AuthArgs, TlsArgs},
    server::{bind, seed_dev, shutdown_signal},
};

#[derive(Debug, Clone, clap::Args)]
pub struct GatewayArgs {
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, env = "MINOOTS_LISTEN", default_value = "127.0.0.1:7070")]
    pub listen: SocketAddr,
    /// A kernel to send calls to; repeat for several kernels of one region (tried in order). The
    /// original KERNEL_GRPC_URL is read when MINOOTS_KERNEL_URLS is unset.
    #[arg(long = "kernel", env = "MINOOTS_KERNEL_URLS", value_delimiter = ',')]
    pub kernels: Vec<String>,
    /// Kernels by region: `us-east=http://10.0.0.1:7071,eu-west=http://10.1.0.1:7071`.
    #[arg(long, env = "KERNEL_REGION_TARGETS")]
    pub region_targets: Option<String>,
    /// The region calls go to when neither a label nor a header names one [default: the first].
    #[arg(long, env = "KERNEL_PRIMARY_REGION")]
    pub primary_region: Option<String>,
    /// Per-call timeout to a kernel; past it the call fails over to the next one.
    #[arg(long, env = "MINOOTS_KERNEL_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub kernel_timeout: Duration,
    /// Where API keys and tenant limits live: share the kernels' Postgres so limits apply there.
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub tls: TlsArgs,
}

pub async fn run(args: GatewayArgs) -> anyhow::Result<()> {
    let tls = args.tls.config()?;
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
    let gateway = Gateway::remote(regions, store, args.auth.config_for(&args.store)?)?;
    seed_dev(&gateway, &args.auth).await?;
    let listener = bind(args.listen, tls).await?;
    tracing::info!(url = %listener.url()?, scheme = listener.scheme(), "minoots gateway serving");
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
