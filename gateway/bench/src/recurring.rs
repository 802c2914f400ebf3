//! `recurring`: N schedules each firing every minute, for M minutes, on a `minoots serve` child
//! process (SQLite synchronous=full by default): occurrence lateness (an occurrence's fire time
//! minus its slot, and its `timer.fired` event's arrival on a gRPC stream minus its slot),
//! lost and duplicated occurrences, and the server's RSS. Schedules are created through the
//! gRPC ScheduleService at 64 calls in flight; their seconds are spread over the minute
//! (`S * * * * *`, S = i mod 60), as independent users' schedules are.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Args;
use minoots::proto::{
    CreateScheduleRequest, ScheduleSpec, TimerEventType,
    schedule_service_client::ScheduleServiceClient,
};
use tokio_stream::StreamExt;

use crate::{
    child::{ChildArgs, ChildServer, child_database},
    load::{micros_of, now_micros},
    report::Report,
};

#[derive(Debug, Args)]
pub struct RecurringArgs {
    #[command(flatten)]
    child: ChildArgs,
    /// Schedules to create.
    #[arg(long, default_value_t = 100_000)]
    schedules: usize,
    /// Minutes of occurrences to measure (each schedule fires once a minute).
    #[arg(long, default_value_t = 5)]
    minutes: i64,
    /// Create calls in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

pub async fn run(args: RecurringArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = child_database(&args.child).await?;
    let server = ChildServer::spawn(&args.child, dir.path(), db.as_ref().map(|d| d.url.as_str()))?;
    let client = server.client().await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_empty = server.rss_bytes()?;

    let channel = tonic::transport::Endpoint::from_shared(server.url().to_owned())?
        .tcp_nodelay(true)
        .connect()
        .await?;
    let key: tonic::metadata::MetadataValue<_> = "local-dev-key".parse()?;
    let schedules =
        ScheduleServiceClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
            request.metadata_mut().insert("x-api-key", key.clone());
            Ok(request)
        });
    let created_at = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut callers = Vec::new();
    for _ in 0..args.concurrency {
        let mut schedules = schedules.clone();
        let next = next.clone();
        let total = args.schedules;
        callers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return anyhow::Ok(());
                }
                schedules
                    .create_schedule(CreateScheduleRequest {
                        name: format!("every-minute-{i}"),
                        spec: Some(ScheduleSpec {
                            cron: format!("{} * * * * *", i % 60),
                            ..ScheduleSpec::default()
                        }),
                        ..CreateScheduleRequest::default()
                    })
                    .await?;
            }
        }));
    }
    for caller in callers {
        caller.await??;
    }
    let create_took = created_at.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_schedules = server.rss_bytes()?;

    // Measure whole minutes from the next one on: every schedule has one slot in each.
    let now = now_micros();
    let from = (now / 60_000_000 + 1) * 60_000_000;
    let until = from + args.minutes * 60_000_000;
    let expected = args.schedules * args.minutes as usize;
    let mut stream = client
        .stream(minoots::StreamOptions::default().event_types([TimerEventType::Fired]))
        .await?;
    let mut fired_lateness = Vec::with_capacity(expected);
    let mut arrival_lateness = Vec::with_capacity(expected);
    let mut seen: HashMap<String, u32> = HashMap::with_capacity(expected);
    let mut rss_peak = rss_schedules;
    let mut last_rss = Instant::now();
    let deadline = tokio::time::Instant::now()
        + Duration::from_micros((until - now) as u64)
        + Duration::from_secs(30);
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, stream.next()).await {
        let event = event?;
        let arrived = now_micros();
        if last_rss.elapsed() > Duration::from_secs(1) {
            rss_peak = rss_peak.max(server.rss_bytes()?);
            last_rss = Instant::now();
        }
        let Some(timer) = event.timer else { continue };
        let slot = micros_of(&timer.scheduled_for);
        if timer.schedule_id.is_empty() || slot < from || slot >= until {
            continue;
        }
        *seen.entry(timer.idempotency_key.clone()).or_default() += 1;
        fired_lateness.push((micros_of(&timer.fired_at) - slot) as f64 / 1_000.0);
        arrival_lateness.push((arrived - slot) as f64 / 1_000.0);
        if seen.len() == expected && arrived > until {
            break;
        }
    }
    let duplicated: u32 = seen.values().map(|n| n - 1).sum();
    let mut report = Report::new(
        "recurring",
        serde_json::json!({
            "schedules": args.schedules,
            "minutes": args.minutes,
            "store": format!("{:?}", args.child.store),
            "sqlite_synchronous": args.child.sqlite_synchronous,
        }),
    );
    report.figure(
        "schedules_created_per_s",
        (args.schedules as f64 / create_took.as_secs_f64()).round(),
    );
    report.figure("occurrences_expected", expected as u64);
    report.figure("occurrences_seen", seen.len() as u64);
    report.figure(
        "occurrences_lost",
        expected.saturating_sub(seen.len()) as u64,
    );
    report.figure("occurrences_duplicated", u64::from(duplicated));
    let mb = |b: u64| (b as f64 / 1_048_576.0 * 10.0).round() / 10.0;
    report.figure("rss_empty_mb", mb(rss_empty));
    report.figure("rss_with_schedules_mb", mb(rss_schedules));
    report.figure("rss_peak_while_firing_mb", mb(rss_peak));
    report.row("fire_at - slot", fired_lateness);
    report.row("timer.fired on the gRPC stream - slot", arrival_lateness);
    println!(
        "{} schedules firing every minute for {} minutes ({:?} store, synchronous={}); lateness in ms:",
        args.schedules, args.minutes, args.child.store, args.child.sqlite_synchronous
    );
    report.print("ms");
    report.save(args.child.json.as_deref())?;
    drop(server);
    drop(db);
    Ok(())
}
