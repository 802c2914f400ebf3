//! `minoots serve`: kernel and gateway in one process, on one port.

use std::net::SocketAddr;

use minoots_gateway::{
    Gateway,
    setup::{KernelOptions, StoreArgs, start_kernel},
};

use super::{
    args::{AuthArgs, TlsArgs},
    server::{bind, seed_dev, shutdown_signal},
};

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
    #[command(flatten)]
    pub tls: TlsArgs,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let tls = args.tls.config()?;
    let kernel = start_kernel(&args.store, &args.kernel, args.auth.dev).await?;
    let gateway = Gateway::local(kernel.clone(), args.auth.config_for(&args.store)?)?;
    seed_dev(&gateway, &args.auth).await?;
    let listener = bind(args.listen, tls).await?;
    tracing::info!(url = %listener.url()?, scheme = listener.scheme(), store = ?args.store.kind()?, data_dir = %args.store.data_dir.display(), "minoots serving");
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
