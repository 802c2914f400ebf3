//! `memory`: the server's RSS with N pending timers, bytes per timer: right after scheduling them,
//! and again after a restart that loads them back from the store (the server's steady state,
//! without what the allocator kept from the scheduling burst).

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
    /// Schedule the timers without actions (by default each has a webhook action, to a loopback
    /// address nothing calls: the timers are due in an hour).
    #[arg(long)]
    no_actions: bool,
}

pub async fn run(args: MemoryArgs) -> anyhow::Result<()> {
    let no_actions = args.no_actions;
    let args = args.child;
    let dir = tempfile::tempdir()?;
    let db = child_database(&args).await?;
    let database_url = db.as_ref().map(|d| d.url.as_str());
    let mut server = ChildServer::spawn(&args, dir.path(), database_url)?;
    let client = server.client().await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = server.rss_bytes()?;
    let due = now_micros() + 3_600_000_000;
    let specs: Vec<TimerSpec> = (0..args.timers)
        .map(|i| {
            let spec = TimerSpec::at(format!("pending-{i}"), timestamp(due + i as i64));
            if no_actions {
                spec
            } else {
                spec.webhook(format!("http://127.0.0.1:9/hook/{i}"))
            }
        })
        .collect();
    let took = schedule_all(&client, specs, args.batch).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.rss_bytes()?;

    // Restart on the same data: the kernel loads the pending timers back and arms them.
    server.kill();
    let server = ChildServer::spawn(&args, dir.path(), database_url)?;
    let http = reqwest::Client::new();
    let started = std::time::Instant::now();
    while server
        .metric(&http, "minoots_timers_armed")
        .await
        .unwrap_or(0)
        < args.timers as u64
    {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(300),
            "the restarted server did not arm {} timers within 5 minutes",
            args.timers
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let restarted = server.rss_bytes()?;
    let mut report = Report::new(
        "memory",
        serde_json::json!({
            "timers": args.timers,
            "store": format!("{:?}", args.store),
            "actions": if no_actions { "none" } else { "webhook" },
        }),
    );
    let mb = |bytes: u64| (bytes as f64 / 1_048_576.0 * 10.0).round() / 10.0;
    let per_timer = |bytes: u64| (bytes.saturating_sub(before) as f64 / args.timers as f64).round();
    report.figure("rss_before_mb", mb(before));
    report.figure("rss_with_pending_mb", mb(after));
    report.figure("bytes_per_pending_timer", per_timer(after));
    report.figure("rss_after_restart_mb", mb(restarted));
    report.figure(
        "bytes_per_pending_timer_after_restart",
        per_timer(restarted),
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
