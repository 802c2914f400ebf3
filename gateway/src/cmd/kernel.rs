//! `minoots kernel`: only a kernel, serving its gRPC TimerService to gateways.

use std::net::SocketAddr;

use minoots_gateway::setup::{KernelOptions, StoreArgs, start_kernel};

use super::server::{bind, shutdown_signal};

#[derive(Debug, Clone, clap::Args)]
pub struct KernelArgs {
    /// Address to listen on (private network: kernels trust `x-tenant-id`).
    #[arg(long, env = "MINOOTS_LISTEN", default_value = "127.0.0.1:7071")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub kernel: KernelOptions,
}

pub async fn run(args: KernelArgs) -> anyhow::Result<()> {
    let kernel = start_kernel(&args.store, &args.kernel, false).await?;
    let listener = bind(args.listen, None).await?;
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
