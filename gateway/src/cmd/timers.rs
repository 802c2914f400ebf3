//! `minoots timers create|list|get|cancel|watch`: the SDK from a shell, against a running
//! server. Human-readable output by default, JSON (the REST form) with `--json`.

use anyhow::Context as _;
use clap::Subcommand;
use minoots::{ListFilter, StreamOptions, TimerOptions, proto};
use minoots_kernel::json::timer_to_json;

use super::args::ConnectArgs;

#[derive(Debug, Subcommand)]
pub enum TimersCommand {
    /// Schedule a timer: `create --duration 15m --name standup --label team=core --webhook URL`.
    Create {
        #[arg(long)]
        name: String,
        /// Fire after this long: `15m`, `1h30m`, `250ms` (the REST `duration`; `--in` also works).
        #[arg(long, alias = "in", required_unless_present = "fire_at")]
        duration: Option<String>,
        /// Fire at this RFC 3339 time instead (the REST `fireAt`; `--at` also works).
        #[arg(long, alias = "at", conflicts_with = "duration")]
        fire_at: Option<String>,
        /// `key=value`; repeat for more.
        #[arg(long = "label", value_name = "KEY=VALUE", value_parser = label)]
        labels: Vec<(String, String)>,
        /// A JSON object stored with the timer.
        #[arg(long)]
        metadata: Option<String>,
        /// POST the signed event to this URL when the timer fires.
        #[arg(long)]
        webhook: Option<String>,
        /// Actions as JSON, in the REST form (`{"actions": [...]}`).
        #[arg(long)]
        action_bundle: Option<String>,
        #[arg(long)]
        idempotency_key: Option<String>,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// The tenant's timers, every page.
    List {
        /// `scheduled`, `armed`, `fired`, `settled`, `failed`, `cancelled`; repeat for more.
        #[arg(long)]
        status: Vec<String>,
        /// `key=value,key!=value,key,!key`.
        #[arg(long)]
        selector: Option<String>,
        #[arg(long)]
        name_prefix: Option<String>,
        /// At most this many.
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// One timer.
    Get {
        id: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Cancel a timer that has not fired.
    Cancel {
        id: String,
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Live lifecycle events (reconnecting by itself) until Ctrl-C.
    Watch {
        /// Replay retained events after this sequence first (`0`: from the start).
        #[arg(long)]
        after_sequence: Option<u64>,
        /// `fired` or `timer.fired`, ...; repeat for more.
        #[arg(long = "type")]
        event_types: Vec<String>,
        #[arg(long)]
        selector: Option<String>,
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

/// One `--label KEY=VALUE`, parsed by the SDK's label parser (the one the bindings and the
/// GitHub Action use).
fn label(text: &str) -> Result<(String, String), String> {
    let labels = minoots::parse_labels(text).map_err(|e| e.to_string())?;
    match labels.into_iter().collect::<Vec<_>>().as_slice() {
        [(key, value)] if !text.trim_start().starts_with('{') => Ok((key.clone(), value.clone())),
        _ => Err(format!("{text:?}: expected one KEY=VALUE")),
    }
}

fn json_arg(flag: &str, text: Option<String>) -> anyhow::Result<Option<serde_json::Value>> {
    text.map(|t| serde_json::from_str(&t).with_context(|| format!("--{flag}: not JSON")))
        .transpose()
}

fn time(t: &Option<prost_types::Timestamp>) -> String {
    t.as_ref()
        .map_or_else(|| "-".to_owned(), ToString::to_string)
}

fn print_timer(timer: &proto::Timer, json: bool) {
    if json {
        println!("{}", timer_to_json(timer));
    } else {
        println!(
            "{}  {:<9}  {}  {}",
            timer.id,
            timer.status().wire_name(),
            time(&timer.fire_at),
            timer.name
        );
    }
}

pub async fn run(command: TimersCommand) -> anyhow::Result<()> {
    match command {
        TimersCommand::Create {
            name,
            duration,
            fire_at,
            labels,
            metadata,
            webhook,
            action_bundle,
            idempotency_key,
            connect,
        } => {
            let options = TimerOptions {
                name,
                duration: duration.map(Into::into),
                fire_at,
                labels: labels.into_iter().collect(),
                metadata: json_arg("metadata", metadata)?,
                action_bundle: json_arg("action-bundle", action_bundle)?,
                webhook,
                idempotency_key,
                requested_by: Some("minoots-cli".into()),
            };
            let timer = connect.client().await?.schedule(options).await?;
            print_timer(&timer, connect.json);
        }
        TimersCommand::List {
            status,
            selector,
            name_prefix,
            limit,
            connect,
        } => {
            let filter = ListFilter {
                label_selector: selector.unwrap_or_default(),
                name_prefix: name_prefix.unwrap_or_default(),
                ..Default::default()
            }
            .status_names(status)?;
            let client = connect.client().await?;
            let timers = client.list_up_to(filter, limit).await?;
            if connect.json {
                let all: Vec<_> = timers.iter().map(timer_to_json).collect();
                println!("{}", serde_json::Value::Array(all));
            } else {
                for timer in &timers {
                    print_timer(timer, false);
                }
            }
        }
        TimersCommand::Get { id, connect } => {
            let timer = connect.client().await?.get(&id).await?;
            print_timer(&timer, connect.json);
        }
        TimersCommand::Cancel {
            id,
            reason,
            connect,
        } => {
            let timer = connect.client().await?.cancel(&id, &reason).await?;
            print_timer(&timer, connect.json);
        }
        TimersCommand::Watch {
            after_sequence,
            event_types,
            selector,
            connect,
        } => {
            let options = StreamOptions {
                after_sequence,
                label_selector: selector.unwrap_or_default(),
                ..Default::default()
            }
            .event_type_names(event_types)?;
            let mut events = connect.client().await?.stream(options).await?;
            while let Some(event) = events.next_event().await {
                let event = event?;
                if connect.json {
                    // The delivered payload, plus the sequence to resume after.
                    let mut payload: serde_json::Value =
                        serde_json::from_slice(&event.payload).unwrap_or_default();
                    payload["sequence"] = event.sequence.into();
                    println!("{payload}");
                } else {
                    let name = event.timer.as_ref().map_or("", |t| t.name.as_str());
                    println!(
                        "#{:<6} {:<16} {}  {}  {}",
                        event.sequence,
                        event.event_type().wire_name(),
                        event.timer_id,
                        time(&event.occurred_at),
                        name
                    );
                }
            }
        }
    }
    Ok(())
}
