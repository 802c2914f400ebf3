//! `schedule`: scheduling throughput over unary gRPC, the batch API, or REST.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::bail;
use clap::Args;
use minoots::TimerSpec;

use crate::{
    report::Report,
    server::{Server, Target},
};

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    #[command(flatten)]
    target: Target,
    #[arg(long, default_value_t = 50_000)]
    timers: usize,
    /// Concurrent callers.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Timers per ScheduleTimers call; 0 means unary ScheduleTimer calls.
    #[arg(long, default_value_t = 0)]
    batch: usize,
    /// Unary `POST /timers` over HTTP/1.1 instead of gRPC.
    #[arg(long)]
    rest: bool,
    #[arg(long)]
    json: Option<PathBuf>,
}

pub async fn run(args: ScheduleArgs) -> anyhow::Result<()> {
    let server = Server::start(&args.target, false).await?;
    let client = server.client(&args.target.tenant).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let per_caller = args.timers.div_ceil(args.concurrency.max(1));
    let started = Instant::now();
    let mut callers = tokio::task::JoinSet::new();
    for caller in 0..args.concurrency.max(1) {
        let client = client.clone();
        let (batch, rest, http) = (args.batch, args.rest, http.clone());
        let (url, key, tenant) = (
            server.url.clone(),
            server.api_key.clone(),
            args.target.tenant.clone(),
        );
        callers.spawn(async move {
            let mut calls = Vec::new();
            let spec = |i: usize| {
                TimerSpec::new(format!("bench-{caller}-{i}"), Duration::from_secs(3_600))
            };
            if rest {
                for i in 0..per_caller {
                    let call = Instant::now();
                    let response = http
                        .post(format!("{url}/timers"))
                        .header("x-api-key", &key)
                        .header("x-tenant-id", &tenant)
                        .json(&serde_json::json!({"name": format!("bench-{caller}-{i}"), "duration": "1h"}))
                        .send()
                        .await?;
                    if response.status() != reqwest::StatusCode::CREATED {
                        bail!("POST /timers answered {}", response.status());
                    }
                    calls.push((call.elapsed(), started.elapsed(), 1));
                }
            } else if batch == 0 {
                for i in 0..per_caller {
                    let call = Instant::now();
                    client.schedule(spec(i)).await?;
                    calls.push((call.elapsed(), started.elapsed(), 1));
                }
            } else {
                for first in (0..per_caller).step_by(batch) {
                    let call = Instant::now();
                    let last = (first + batch).min(per_caller);
                    client.schedule_many((first..last).map(spec)).await?;
                    calls.push((call.elapsed(), started.elapsed(), last - first));
                }
            }
            anyhow::Ok(calls)
        });
    }
    let mut latencies = Vec::new();
    let mut done_at = Vec::new();
    while let Some(done) = callers.join_next().await {
        for (latency, at, timers) in done?? {
            latencies.push(latency.as_secs_f64() * 1_000.0);
            done_at.extend(std::iter::repeat_n(at.as_secs_f64(), timers));
        }
    }
    let elapsed = started.elapsed();
    let total = per_caller * args.concurrency.max(1);
    let mode = match (args.rest, args.batch) {
        (true, _) => "REST unary".to_owned(),
        (false, 0) => "gRPC unary".to_owned(),
        (false, b) => format!("gRPC batch of {b}"),
    };
    let rate = total as f64 / elapsed.as_secs_f64();
    let mut report = Report::new(
        "schedule",
        serde_json::json!({"timers": total, "concurrency": args.concurrency, "mode": mode, "store": format!("{:?}", args.target.store)}),
    );
    report.figure("timers_per_second", (rate * 10.0).round() / 10.0);
    report.timeline(done_at);
    report.row("call latency", latencies);
    println!(
        "schedule throughput ({:?} store, {mode}, concurrency {}): {total} timers in {:.2} s = {rate:.0} timers/s",
        args.target.store,
        args.concurrency,
        elapsed.as_secs_f64(),
    );
    report.print("ms");
    report.save(args.json.as_deref())?;
    server.stop().await;
    Ok(())
}
