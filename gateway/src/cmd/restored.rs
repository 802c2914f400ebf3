//! `minoots restored`: the step after a restore from backup, before any kernel serves it again.
//! Sequences the clients may have seen for events the backup does not hold must never be handed
//! out again for other events, and the store cannot tell a restored database from one that just
//! restarted; so this moves every tenant's sequence past them, and stream clients that resume
//! from a sequence the store does not hold get OUT_OF_RANGE and list again.

use minoots_gateway::setup::{StoreArgs, open_store};

#[derive(Debug, Clone, clap::Args)]
pub struct RestoredArgs {
    /// How far past the highest sequence in the restored store every tenant's next event goes:
    /// more than the events any tenant was sent between the backup and the restore.
    #[arg(long, default_value_t = 1 << 32)]
    skip: u64,
    #[command(flatten)]
    store: StoreArgs,
}

pub async fn run(args: RestoredArgs) -> anyhow::Result<()> {
    let store = open_store(&args.store).await?;
    let floor = store.skip_sequences(args.skip).await?;
    println!("every tenant's next event sequence is above {floor}");
    Ok(())
}
