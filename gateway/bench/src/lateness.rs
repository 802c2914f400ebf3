//! `lateness`: how late timers fire, at the event stream or at a webhook receiver.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{Context as _, bail};
use clap::Args;
use minoots::{TimerSpec, proto};
use minoots_gateway::setup::parse_duration;
use tokio::net::TcpListener;
use tokio_stream::StreamExt as _;

use crate::{
    load::{micros_of, now_micros, schedule_all, timestamp},
    report::Report,
    server::{Server, Target},
};

#[derive(Debug, Args)]
pub struct LatenessArgs {
    #[command(flatten)]
    target: Target,
    #[arg(long, default_value_t = 100_000)]
    timers: usize,
    /// All timers fall due, evenly spread, within this window.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    window: Duration,
    /// Delay before the window opens, so scheduling finishes before the first timer is due.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    lead: Duration,
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Where lateness is measured: the gRPC event stream, or a webhook receiver (each timer
    /// has a webhook action to a loopback receiver this bench runs).
    #[arg(long, value_enum, default_value = "stream")]
    at: MeasuredAt,
    /// Write the results as JSON here (for docs/bench and scripts/bench_plots.py).
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MeasuredAt {
    Stream,
    Webhook,
}

/// (fire_at of the delivered timer, arrival time in µs, `webhook-id`) per delivery.
type Arrivals = Arc<Mutex<Vec<(String, i64, String)>>>;

/// `minoots-bench receiver`: the webhook receiver in a process of its own, as users run one, so
/// the bench's own work (scheduling, reading the event stream) does not delay its deliveries.
pub async fn receiver() -> anyhow::Result<()> {
    use std::io::{Read as _, Write as _};
    let arrivals = Arrivals::default();
    let url = webhook_receiver(arrivals.clone()).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{url}")?;
    stdout.flush()?;
    // Until the bench closes our stdin.
    tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await??;
    let arrivals = std::mem::take(&mut *arrivals.lock().unwrap());
    let mut out = std::io::BufWriter::new(stdout);
    for (fire_at, received, id) in arrivals {
        writeln!(out, "{fire_at}\t{received}\t{id}")?;
    }
    out.flush()?;
    Ok(())
}

/// A `minoots-bench receiver` child process.
struct ReceiverProcess {
    child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    url: String,
}

impl ReceiverProcess {
    async fn spawn() -> anyhow::Result<Self> {
        use tokio::io::AsyncBufReadExt as _;
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .arg("receiver")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().context("receiver stdout")?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let url = lines
            .next_line()
            .await?
            .context("the receiver exited before listening")?;
        Ok(Self { child, lines, url })
    }

    /// Stops it and returns what it received.
    async fn arrivals(mut self) -> anyhow::Result<Vec<(String, i64, String)>> {
        drop(self.child.stdin.take());
        let mut arrivals = Vec::new();
        while let Some(line) = self.lines.next_line().await? {
            let mut fields = line.split('\t');
            let (Some(fire_at), Some(received), Some(id)) =
                (fields.next(), fields.next(), fields.next())
            else {
                bail!("unexpected receiver line {line:?}");
            };
            arrivals.push((fire_at.to_owned(), received.parse()?, id.to_owned()));
        }
        self.child.wait().await?;
        Ok(arrivals)
    }
}

/// A loopback webhook receiver recording when each timer's delivery arrived.
async fn webhook_receiver(arrivals: Arrivals) -> anyhow::Result<String> {
    use axum::{body::Bytes, extract::State, http::HeaderMap, routing::post};
    async fn hook(
        State(arrivals): State<Arrivals>,
        headers: HeaderMap,
        body: Bytes,
    ) -> &'static str {
        let received = now_micros();
        let delivery = headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let id = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["data"]["fireAt"].as_str().map(str::to_owned))
            .unwrap_or_default();
        arrivals.lock().unwrap().push((id, received, delivery));
        "ok"
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let app = axum::Router::new()
        .route("/hook", post(hook))
        .with_state(arrivals);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

pub async fn run(args: LatenessArgs) -> anyhow::Result<()> {
    let webhooks = args.at == MeasuredAt::Webhook;
    let server = Server::start(&args.target, webhooks).await?;
    let client = server.client(&args.target.tenant).await?;
    let n = args.timers;
    let receiver = if webhooks {
        Some(ReceiverProcess::spawn().await?)
    } else {
        None
    };
    let hook = receiver.as_ref().map(|r| r.url.clone());
    let stream_client = client.clone();
    // With webhooks, `timer.fired` and `timer.settled` (which follows the webhook's answer).
    let wanted = if webhooks {
        vec![proto::TimerEventType::Fired, proto::TimerEventType::Settled]
    } else {
        vec![proto::TimerEventType::Fired]
    };
    let mut events = stream_client
        .stream(minoots::StreamOptions::default().event_types(wanted))
        .await?;
    let collector = tokio::spawn(async move {
        let mut fired = Vec::with_capacity(n);
        let mut settled = Vec::with_capacity(if webhooks { n } else { 0 });
        let mut in_kernel = Vec::with_capacity(n);
        while settled.len() < n && (webhooks || fired.len() < n) {
            let Some(event) = events.next().await else {
                break;
            };
            let received = now_micros();
            let event = event?;
            let timer = event.timer.unwrap_or_default();
            let due = micros_of(&timer.fire_at);
            let late = (received - due) as f64 / 1_000.0;
            if event.event_type == proto::TimerEventType::Settled as i32 {
                settled.push(late);
            } else {
                fired.push(late);
                in_kernel.push((micros_of(&timer.fired_at) - due) as f64 / 1_000.0);
            }
        }
        anyhow::Ok((fired, settled, in_kernel))
    });

    let start = now_micros() + args.lead.as_micros() as i64;
    let step = args.window.as_micros() as f64 / n as f64;
    let specs: Vec<TimerSpec> = (0..n)
        .map(|i| {
            let at = start + (i as f64 * step) as i64;
            let spec = TimerSpec::at(format!("lateness-{i}"), timestamp(at));
            match &hook {
                Some(url) => spec.webhook(url.clone()),
                None => spec,
            }
        })
        .collect();
    let took = schedule_all(&client, specs, args.batch).await?;
    if now_micros() > start {
        bail!(
            "scheduling took {took:?}, past the {:?} lead: raise --lead",
            args.lead
        );
    }
    eprintln!(
        "scheduled {n} timers in {took:?} ({:.0}/s); waiting for them to fire",
        n as f64 / took.as_secs_f64()
    );
    let deadline = args.lead + args.window + Duration::from_secs(120);
    let (at_stream, settled, in_kernel) = tokio::time::timeout(deadline, collector)
        .await
        .context("timers did not all fire in time")???;
    let mut report = Report::new(
        "lateness",
        serde_json::json!({"timers": n, "window_s": args.window.as_secs_f64(), "store": format!("{:?}", args.target.store), "at": format!("{:?}", args.at)}),
    );
    report.timeline(
        at_stream
            .iter()
            .zip(0..)
            .map(|(late, i)| (i as f64 * step + late * 1_000.0) / 1e6)
            .collect(),
    );
    report.row("kernel (fired_at - fire_at)", in_kernel);
    if let Some(receiver) = receiver {
        let arrivals = receiver.arrivals().await?;
        // One delivery per timer: a webhook-id seen twice was delivered twice.
        let distinct: std::collections::HashSet<&str> =
            arrivals.iter().map(|(_, _, id)| id.as_str()).collect();
        report.figure("webhooks_received", arrivals.len() as u64);
        report.figure("webhooks_lost", n.saturating_sub(distinct.len()) as u64);
        report.figure(
            "webhooks_delivered_twice",
            (arrivals.len() - distinct.len()) as u64,
        );
        let late: Vec<f64> = arrivals
            .iter()
            .filter_map(|(fire_at, received, _)| {
                let due = fire_at
                    .parse::<minoots_proto::prost_types::Timestamp>()
                    .ok()?;
                Some((received - micros_of(&Some(due))) as f64 / 1_000.0)
            })
            .collect();
        report.row("webhook receiver (arrival - fire_at)", late);
        report.row("client stream, timer.fired", at_stream);
        report.row("client stream, timer.settled", settled);
    } else {
        report.row("client stream (arrival - fire_at)", at_stream);
    }
    println!(
        "fire lateness, {n} timers due within {:?} ({:?} store), milliseconds:",
        args.window, args.target.store
    );
    report.print("measured at");
    report.save(args.json.as_deref())?;
    server.stop().await;
    Ok(())
}
