//! `recovery`: restart with N overdue timers (after a SIGKILL), time to the first fire and until
//! every one fired.

use std::time::Duration;

use anyhow::bail;
use clap::Args;
use minoots::TimerSpec;

use crate::{
    child::{ChildArgs, ChildServer, child_database},
    load::{now_micros, schedule_all, timestamp},
    report::Report,
};

#[derive(Debug, Args)]
pub struct RecoveryArgs {
    #[command(flatten)]
    child: ChildArgs,
}

pub async fn run(args: RecoveryArgs) -> anyhow::Result<()> {
    let args = args.child;
    let dir = tempfile::tempdir()?;
    let db = child_database(&args).await?;
    let database_url = db.as_ref().map(|d| d.url.clone());
    let mut server = ChildServer::spawn(&args, dir.path(), database_url.as_deref())?;
    let client = server.client().await?;
    // Every timer is due at one instant after scheduling ends and before the restart: a
    // conservative 8,000 timers/s for scheduling, plus 10 s.
    let lead = Duration::from_secs_f64(args.timers as f64 / 8_000.0 + 10.0);
    let due = now_micros() + lead.as_micros() as i64;
    let specs: Vec<TimerSpec> = (0..args.timers)
        .map(|i| TimerSpec::at(format!("overdue-{i}"), timestamp(due)))
        .collect();
    let took = schedule_all(&client, specs, args.batch).await?;
    if now_micros() >= due {
        bail!("scheduling took {took:?}, longer than the {lead:?} lead");
    }
    server.kill(); // SIGKILL: nothing is flushed or handed over.
    eprintln!(
        "scheduled {} timers in {took:?}; killed the server; waiting until they are overdue",
        args.timers
    );
    let wait = (due - now_micros()) as u64 + 1_000_000;
    tokio::time::sleep(Duration::from_micros(wait)).await;

    let server = ChildServer::spawn(&args, dir.path(), database_url.as_deref())?;
    let listening = server.started.elapsed();
    let http = reqwest::Client::new();
    let mut first = None;
    let all = loop {
        let fired = server.fired(&http).await.unwrap_or(0);
        if fired > 0 && first.is_none() {
            first = Some(server.started.elapsed());
        }
        if fired >= args.timers as u64 {
            break server.started.elapsed();
        }
        if server.started.elapsed() > Duration::from_secs(600) {
            bail!(
                "only {fired} of {} overdue timers fired within 10 minutes",
                args.timers
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let first = first.unwrap_or(all);
    let mut report = Report::new(
        "recovery",
        serde_json::json!({"timers": args.timers, "store": format!("{:?}", args.store)}),
    );
    report.figure(
        "listening_after_s",
        (listening.as_secs_f64() * 1_000.0).round() / 1_000.0,
    );
    report.figure(
        "first_fire_after_s",
        (first.as_secs_f64() * 1_000.0).round() / 1_000.0,
    );
    report.figure(
        "all_fired_after_s",
        (all.as_secs_f64() * 1_000.0).round() / 1_000.0,
    );
    println!(
        "restart with {} overdue timers ({:?} store), from process start:",
        args.timers, args.store
    );
    report.print("");
    report.save(args.json.as_deref())?;
    drop(server);
    drop(db);
    Ok(())
}
