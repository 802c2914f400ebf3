//! `minoots migrate`: apply the Postgres migrations and exit.

use minoots_gateway::setup::database_url;
use minoots_kernel::store::PostgresStore;

#[derive(Debug, Clone, clap::Args)]
pub struct MigrateArgs {
    /// Postgres URL (the original DATABASE_URL is read when KERNEL_DATABASE_URL is unset).
    #[arg(long, env = "KERNEL_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let store = PostgresStore::connect(&database_url(&args.database_url)?).await?;
    println!("migrations applied");
    store.close().await;
    Ok(())
}
