//! `fanout`: event delivery latency to many stream subscribers at once.

use std::{path::PathBuf, time::Duration};

use anyhow::Context as _;
use clap::Args;
use minoots::{TimerSpec, proto};
use minoots_gateway::setup::parse_duration;
use tokio_stream::StreamExt as _;

use crate::{
    load::{micros_of, now_micros, schedule_all, timestamp},
    report::Report,
    server::{Server, Target},
};

#[derive(Debug, Args)]
pub struct FanoutArgs {
    #[command(flatten)]
    target: Target,
    #[arg(long, default_value_t = 1_000)]
    subscribers: usize,
    #[arg(long, default_value_t = 1_000)]
    timers: usize,
    /// The timers fall due, evenly spread, within this window.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    window: Duration,
    #[arg(long)]
    json: Option<PathBuf>,
}

pub async fn run(args: FanoutArgs) -> anyhow::Result<()> {
    let server = Server::start(&args.target, false).await?;
    let client = server.client(&args.target.tenant).await?;
    let (subscribers, timers) = (args.subscribers, args.timers);
    let mut listening = tokio::task::JoinSet::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(subscribers);
    for _ in 0..subscribers {
        let own = server.client(&args.target.tenant).await?;
        let ready = ready_tx.clone();
        listening.spawn(async move {
            let mut events = own
                .stream(
                    minoots::StreamOptions::default().event_types([proto::TimerEventType::Fired]),
                )
                .await?;
            let _ = ready.send(()).await;
            let mut latencies = Vec::with_capacity(timers);
            while latencies.len() < timers {
                let Some(event) = events.next().await else {
                    break;
                };
                let received = now_micros();
                let event = event?;
                latencies.push((received - micros_of(&event.occurred_at)) as f64 / 1_000.0);
            }
            anyhow::Ok(latencies)
        });
    }
    for _ in 0..subscribers {
        ready_rx.recv().await;
    }
    eprintln!("{subscribers} subscribers streaming; scheduling {timers} timers");
    let start = now_micros() + 2_000_000;
    let step = args.window.as_micros() as f64 / timers as f64;
    let specs: Vec<TimerSpec> = (0..timers)
        .map(|i| {
            TimerSpec::at(
                format!("fanout-{i}"),
                timestamp(start + (i as f64 * step) as i64),
            )
        })
        .collect();
    schedule_all(&client, specs, 1_000).await?;
    let mut latencies = Vec::with_capacity(subscribers * timers);
    let deadline = args.window + Duration::from_secs(120);
    tokio::time::timeout(deadline, async {
        while let Some(done) = listening.join_next().await {
            latencies.extend(done??);
        }
        anyhow::Ok(())
    })
    .await
    .context("subscribers did not receive every event in time")??;
    let mut report = Report::new(
        "fanout",
        serde_json::json!({"subscribers": subscribers, "timers": timers, "store": format!("{:?}", args.target.store)}),
    );
    report.figure("deliveries", latencies.len());
    report.row(
        &format!("delivery to {subscribers} subscribers (arrival - occurred_at)"),
        latencies,
    );
    println!("event delivery latency, milliseconds:");
    report.print("measured");
    report.save(args.json.as_deref())?;
    server.stop().await;
    Ok(())
}
