//! `memory`: the server's RSS with N pending timers, bytes per timer.

use std::time::Duration;

use clap::Args;
use minoots::TimerSpec;

use crate::{
    child::{ChildArgs, ChildServer, child_database},
    load::{now_micros, schedule_all, timestamp},
    report::Report,
};

#[derive(Debug, Args)]
pub struct MemoryArgs {
    #[command(flatten)]
    child: ChildArgs,
}

pub async fn run(args: MemoryArgs) -> anyhow::Result<()> {
    let args = args.child;
    let dir = tempfile::tempdir()?;
    let db = child_database(&args).await?;
    let server = ChildServer::spawn(&args, dir.path(), db.as_ref().map(|d| d.url.as_str()))?;
    let client = server.client().await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = server.rss_bytes()?;
    let due = now_micros() + 3_600_000_000;
    let specs: Vec<TimerSpec> = (0..args.timers)
        .map(|i| TimerSpec::at(format!("pending-{i}"), timestamp(due + i as i64)))
        .collect();
    let took = schedule_all(&client, specs, args.batch).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.rss_bytes()?;
    let mut report = Report::new(
        "memory",
        serde_json::json!({"timers": args.timers, "store": format!("{:?}", args.store)}),
    );
    report.figure(
        "rss_before_mb",
        (before as f64 / 1_048_576.0 * 10.0).round() / 10.0,
    );
    report.figure(
        "rss_with_pending_mb",
        (after as f64 / 1_048_576.0 * 10.0).round() / 10.0,
    );
    report.figure(
        "bytes_per_pending_timer",
        ((after.saturating_sub(before)) as f64 / args.timers as f64).round(),
    );
    report.figure(
        "scheduled_in_s",
        (took.as_secs_f64() * 100.0).round() / 100.0,
    );
    println!(
        "kernel RSS with {} pending timers ({:?} store):",
        args.timers, args.store
    );
    report.print("");
    report.save(args.json.as_deref())?;
    drop(server);
    drop(db);
    Ok(())
}
