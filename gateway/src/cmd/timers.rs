//! `minoots timers create|list|get|cancel|update|pause|resume|bulk-*|pause-tenant|...|watch`:
//! the SDK from a shell, against a running server. Human-readable output by default, JSON (the
//! REST form) with `--json`.

use anyhow::Context as _;
use clap::Subcommand;
use minoots::{ListFilter, StreamOptions, TimerOptions, TimerUpdate, proto};
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
        /// When the idempotency key is taken: `reject` (default), `replace` (reschedule the
        /// pending timer: a sliding debounce) or `keep`.
        #[arg(long)]
        key_policy: Option<String>,
        /// A `--fire-at` already past: `fire` at once (default) or `reject`.
        #[arg(long)]
        late_policy: Option<String>,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Change a pending timer: `update ID --duration 30m` or `update --key KEY --label a=b`.
    Update {
        #[command(flatten)]
        which: Which,
        /// Fire this long from now instead.
        #[arg(long, alias = "in")]
        duration: Option<String>,
        /// Fire at this RFC 3339 time instead.
        #[arg(long, alias = "at", conflicts_with = "duration")]
        fire_at: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// Replaces every label; repeat for more.
        #[arg(long = "label", value_name = "KEY=VALUE", value_parser = label)]
        labels: Vec<(String, String)>,
        /// Replaces the metadata (a JSON object).
        #[arg(long)]
        metadata: Option<String>,
        /// Replaces the actions with one webhook.
        #[arg(long)]
        webhook: Option<String>,
        /// Replaces the actions (REST JSON form).
        #[arg(long)]
        action_bundle: Option<String>,
        /// Apply only if the timer is still at this state_version.
        #[arg(long)]
        expected_state_version: Option<u64>,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Hold a pending timer: it does not fire until resumed.
    Pause {
        id: String,
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Arm a paused timer again (fires at once if its time passed).
    Resume {
        id: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Cancel every pending timer a label selector matches (`--dry-run` counts them).
    BulkCancel {
        #[command(flatten)]
        selection: Selection,
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Pause every scheduled or armed timer a label selector matches.
    BulkPause {
        #[command(flatten)]
        selection: Selection,
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Resume every paused timer a label selector matches.
    BulkResume {
        #[command(flatten)]
        selection: Selection,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Pause the tenant's deliveries (tenant.admin key): nothing fires until resume-tenant.
    PauseTenant {
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Resume the tenant's deliveries; overdue timers fire at once.
    ResumeTenant {
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Whether the tenant's deliveries are paused.
    TenantStatus {
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
    /// One timer, by id or `--key`.
    Get {
        #[command(flatten)]
        which: Which,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Cancel a timer that has not fired, by id or `--key`.
    Cancel {
        #[command(flatten)]
        which: Which,
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

/// A timer by id, or by the idempotency key it was scheduled with.
#[derive(Debug, clap::Args)]
pub struct Which {
    #[arg(required_unless_present = "key")]
    id: Option<String>,
    /// The idempotency key the timer was scheduled with, instead of its id.
    #[arg(long, conflicts_with = "id")]
    key: Option<String>,
}

/// Pending timers chosen by labels.
#[derive(Debug, clap::Args)]
pub struct Selection {
    /// `key=value,key!=value,key,!key`.
    #[arg(long, required_unless_present = "all")]
    selector: Option<String>,
    /// Every pending timer of the tenant.
    #[arg(long, conflicts_with = "selector")]
    all: bool,
    #[arg(long)]
    name_prefix: Option<String>,
    /// Only count the timers that would change.
    #[arg(long)]
    dry_run: bool,
}

impl Selection {
    fn request(self, reason: String) -> proto::SelectTimersRequest {
        proto::SelectTimersRequest {
            label_selector: self.selector.unwrap_or_default(),
            all: self.all,
            name_prefix: self.name_prefix.unwrap_or_default(),
            dry_run: self.dry_run,
            reason,
            requested_by: "minoots-cli".into(),
            ..Default::default()
        }
    }
}

fn print_selection(done: &proto::SelectTimersResponse, dry_run: bool, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({"matched": done.matched, "changed": done.changed, "dryRun": dry_run})
        );
    } else if dry_run {
        println!("{} timers match (dry run: nothing changed)", done.matched);
    } else {
        println!("{} timers matched, {} changed", done.matched, done.changed);
    }
}

fn print_tenant(state: &proto::TenantPause, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({
                "tenantId": state.tenant_id, "paused": state.paused,
                "pausedAt": state.paused_at.as_ref().map(ToString::to_string),
                "pausedBy": state.paused_by, "reason": state.reason, "changed": state.changed,
            })
        );
    } else if state.paused {
        println!(
            "tenant {} paused since {} ({} timers changed now)",
            state.tenant_id,
            time(&state.paused_at),
            state.changed
        );
    } else {
        println!(
            "tenant {} delivering ({} timers changed now)",
            state.tenant_id, state.changed
        );
    }
}

/// One `--label KEY=VALUE`, parsed by the SDK's label parser (the one the bindings and the
/// GitHub Action use).
pub(super) fn label(text: &str) -> Result<(String, String), String> {
    let labels = minoots::parse_labels(text).map_err(|e| e.to_string())?;
    match labels.into_iter().collect::<Vec<_>>().as_slice() {
        [(key, value)] if !text.trim_start().starts_with('{') => Ok((key.clone(), value.clone())),
        _ => Err(format!("{text:?}: expected one KEY=VALUE")),
    }
}

pub(super) fn json_arg(
    flag: &str,
    text: Option<String>,
) -> anyhow::Result<Option<serde_json::Value>> {
    text.map(|t| serde_json::from_str(&t).with_context(|| format!("--{flag}: not JSON")))
        .transpose()
}

pub(super) fn time(t: &Option<prost_types::Timestamp>) -> String {
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
            key_policy,
            late_policy,
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
                key_policy,
                late_policy,
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
        TimersCommand::Get { which, connect } => {
            let client = connect.client().await?;
            let timer = match (which.id, which.key) {
                (_, Some(key)) => client.get_by_key(&key).await?,
                (id, None) => client.get(&id.unwrap_or_default()).await?,
            };
            print_timer(&timer, connect.json);
        }
        TimersCommand::Cancel {
            which,
            reason,
            connect,
        } => {
            let client = connect.client().await?;
            let timer = match (which.id, which.key) {
                (_, Some(key)) => client.cancel_by_key(&key, &reason).await?,
                (id, None) => client.cancel(&id.unwrap_or_default(), &reason).await?,
            };
            print_timer(&timer, connect.json);
        }
        TimersCommand::Update {
            which,
            duration,
            fire_at,
            name,
            labels,
            metadata,
            webhook,
            action_bundle,
            expected_state_version,
            connect,
        } => {
            let update = TimerUpdate {
                id: which.id,
                idempotency_key: which.key,
                duration: duration.map(Into::into),
                fire_at,
                name,
                labels: (!labels.is_empty()).then(|| labels.into_iter().collect()),
                metadata: json_arg("metadata", metadata)?,
                action_bundle: json_arg("action-bundle", action_bundle)?,
                webhook,
                expected_state_version,
                requested_by: Some("minoots-cli".into()),
                ..Default::default()
            };
            let timer = connect.client().await?.update(update).await?;
            print_timer(&timer, connect.json);
        }
        TimersCommand::Pause {
            id,
            reason,
            connect,
        } => {
            let timer = connect.client().await?.pause(&id, &reason).await?;
            print_timer(&timer, connect.json);
        }
        TimersCommand::Resume { id, connect } => {
            let timer = connect.client().await?.resume(&id).await?;
            print_timer(&timer, connect.json);
        }
        TimersCommand::BulkCancel {
            selection,
            reason,
            connect,
        } => {
            let dry_run = selection.dry_run;
            let client = connect.client().await?;
            let done = client.cancel_timers(selection.request(reason)).await?;
            print_selection(&done, dry_run, connect.json);
        }
        TimersCommand::BulkPause {
            selection,
            reason,
            connect,
        } => {
            let dry_run = selection.dry_run;
            let client = connect.client().await?;
            let done = client.pause_timers(selection.request(reason)).await?;
            print_selection(&done, dry_run, connect.json);
        }
        TimersCommand::BulkResume { selection, connect } => {
            let dry_run = selection.dry_run;
            let client = connect.client().await?;
            let done = client
                .resume_timers(selection.request(String::new()))
                .await?;
            print_selection(&done, dry_run, connect.json);
        }
        TimersCommand::PauseTenant { reason, connect } => {
            let state = connect.client().await?.pause_tenant(&reason).await?;
            print_tenant(&state, connect.json);
        }
        TimersCommand::ResumeTenant { connect } => {
            let state = connect.client().await?.resume_tenant().await?;
            print_tenant(&state, connect.json);
        }
        TimersCommand::TenantStatus { connect } => {
            let state = connect.client().await?.tenant_pause().await?;
            print_tenant(&state, connect.json);
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
