//! What the server commands (`serve`, `kernel`, `gateway`) share: the listener, the stop
//! signal, the development key.

use std::net::SocketAddr;

use anyhow::Context as _;
use minoots_gateway::{
    Gateway,
    auth::{DEV_KEY, DEV_TENANT},
    tls::{Listener, TlsConfig},
};
use tokio::net::TcpListener;

use super::args::AuthArgs;

pub async fn seed_dev(gateway: &Gateway, auth: &AuthArgs) -> anyhow::Result<()> {
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

/// The listening socket, with `tls` when given; prints its URL (`http://` or `https://`).
pub async fn bind(listen: SocketAddr, tls: Option<TlsConfig>) -> anyhow::Result<Listener> {
    let tcp = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let listener = Listener::new(tcp, tls);
    // Machine-readable for scripts and tests that start us on port 0.
    println!("minoots listening on {}", listener.url()?);
    Ok(listener)
}

pub async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
