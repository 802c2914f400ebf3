//! `minoots schedules create|get|list|update|pause|resume|delete|preview`: recurring schedules
//! through the SDK, against a running server. Human-readable output by default, JSON (the REST
//! form) with `--json`.

use clap::Subcommand;
use minoots::{
    PreviewOf, ScheduleOptions, ScheduleQuery, ScheduleTiming, ScheduleUpdate, preview_to_json,
    proto,
};
use minoots_kernel::json::schedule_to_json;

use super::{
    args::ConnectArgs,
    timers::{json_arg, label, time},
};

/// When a schedule fires: the flags `create`, `update` and `preview` share.
#[derive(Debug, Clone, clap::Args)]
pub struct Timing {
    /// 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, in
    /// --time-zone: `"0 9 * * MON-FRI"`, `@daily`.
    #[arg(long)]
    cron: Option<String>,
    /// Instead of --cron: every this long, `15m`, `1h30m` (at least 1s).
    #[arg(long, conflicts_with = "cron")]
    interval: Option<String>,
    /// IANA zone of the cron's wall times, `Europe/Paris` (default UTC).
    #[arg(long)]
    time_zone: Option<String>,
    /// RFC 3339: no occurrence before.
    #[arg(long)]
    start_at: Option<String>,
    /// RFC 3339: no occurrence after.
    #[arg(long)]
    end_at: Option<String>,
    /// Occurrences to create at most.
    #[arg(long)]
    max_runs: Option<u64>,
    /// Fire each occurrence up to this much after its slot, `30s`.
    #[arg(long)]
    jitter: Option<String>,
    /// While the previous occurrence still runs: `skip` (default), `buffer_one`, `allow_all`.
    #[arg(long = "overlap", value_name = "POLICY")]
    overlap_policy: Option<String>,
    /// Slots missed while no server ran: `none`, `latest` (default), `all`.
    #[arg(long = "catch-up", value_name = "POLICY")]
    catch_up_policy: Option<String>,
    /// How far back missed slots still fire, `1h` (default).
    #[arg(long)]
    catch_up_window: Option<String>,
}

impl From<Timing> for ScheduleTiming {
    fn from(t: Timing) -> Self {
        Self {
            cron: t.cron,
            interval: t.interval.map(Into::into),
            time_zone: t.time_zone,
            start_at: t.start_at,
            end_at: t.end_at,
            max_runs: t.max_runs,
            jitter: t.jitter.map(Into::into),
            overlap_policy: t.overlap_policy,
            catch_up_policy: t.catch_up_policy,
            catch_up_window: t.catch_up_window.map(Into::into),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum SchedulesCommand {
    /// Create a schedule: `create --name standup --cron "0 9 * * MON-FRI" --time-zone
    /// Europe/Paris --webhook URL`. Each occurrence is an ordinary timer.
    Create {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        timing: Timing,
        /// `key=value`, copied onto each occurrence; repeat for more.
        #[arg(long = "label", value_name = "KEY=VALUE", value_parser = label)]
        labels: Vec<(String, String)>,
        /// A JSON object stored with the schedule and each occurrence.
        #[arg(long)]
        metadata: Option<String>,
        /// POST each occurrence's signed event to this URL when it fires.
        #[arg(long)]
        webhook: Option<String>,
        /// Actions as JSON, in the REST form (`{"actions": [...]}`).
        #[arg(long)]
        action_bundle: Option<String>,
        /// The agent to hand each occurrence to, in the REST form (JSON).
        #[arg(long)]
        agent_binding: Option<String>,
        /// Creating again with this key returns the first schedule.
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Create it paused.
        #[arg(long)]
        paused: bool,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// One schedule, by id or `--key`.
    Get {
        #[arg(required_unless_present = "key")]
        id: Option<String>,
        /// The idempotency key the schedule was created with, instead of its id.
        #[arg(long, conflicts_with = "id")]
        key: Option<String>,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// The tenant's schedules (every state but deleted unless --state says), every page.
    List {
        /// `active`, `paused`, `completed`, `deleted`; repeat for more.
        #[arg(long)]
        state: Vec<String>,
        /// `key=value,key!=value,key,!key`.
        #[arg(long)]
        selector: Option<String>,
        /// At most this many.
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Change a schedule from its next occurrence on: `update ID --cron "0 10 * * *"`; timing
    /// flags given alone keep the rest of its timing.
    Update {
        id: String,
        #[command(flatten)]
        timing: Timing,
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
        /// Apply only if the schedule is still at this version.
        #[arg(long)]
        expected_version: Option<u64>,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Create no occurrence until resumed; slots passed meanwhile are skipped.
    Pause {
        id: String,
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Resume a paused schedule from its next slot.
    Resume {
        id: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Stop a schedule for good and cancel its pending occurrence.
    Delete {
        id: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// The next occurrences of a schedule (`preview ID`) or of timing flags (`preview --cron
    /// "0 9 * * MON" --time-zone Europe/Paris`), creating nothing.
    Preview {
        /// A stored schedule; without it, the timing flags.
        #[arg(conflicts_with_all = ["cron", "interval"], required_unless_present_any = ["cron", "interval"])]
        id: Option<String>,
        #[command(flatten)]
        timing: Timing,
        /// How many (default 10, at most 1000).
        #[arg(long, default_value_t = 10)]
        count: u32,
        /// RFC 3339: list slots after this instant (default now).
        #[arg(long)]
        after: Option<String>,
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

fn print_schedule(schedule: &proto::Schedule, json: bool) {
    if json {
        println!("{}", schedule_to_json(schedule));
        return;
    }
    let spec = schedule.spec.clone().unwrap_or_default();
    let when = match &spec.interval {
        Some(every) if spec.cron.is_empty() => {
            format!("every {}ms", minoots::json::duration_millis(every))
        }
        _ => format!("{:?}", spec.cron),
    };
    let zone = if spec.time_zone.is_empty() {
        "UTC"
    } else {
        &spec.time_zone
    };
    println!(
        "{}  {:<9}  next {}  {} {}  {}",
        schedule.id,
        schedule.state().wire_name(),
        time(&schedule.next_fire_at),
        when,
        zone,
        schedule.name
    );
}

pub async fn run(command: SchedulesCommand) -> anyhow::Result<()> {
    match command {
        SchedulesCommand::Create {
            name,
            timing,
            labels,
            metadata,
            webhook,
            action_bundle,
            agent_binding,
            idempotency_key,
            paused,
            connect,
        } => {
            let options = ScheduleOptions {
                name,
                timing: timing.into(),
                labels: labels.into_iter().collect(),
                metadata: json_arg("metadata", metadata)?,
                action_bundle: json_arg("action-bundle", action_bundle)?,
                webhook,
                agent_binding: json_arg("agent-binding", agent_binding)?,
                idempotency_key,
                requested_by: Some("minoots-cli".into()),
                paused,
            };
            let schedule = connect.client().await?.create_schedule(options).await?;
            print_schedule(&schedule, connect.json);
        }
        SchedulesCommand::Get { id, key, connect } => {
            let client = connect.client().await?;
            let schedule = match key {
                Some(key) => client.get_schedule_by_key(&key).await?,
                None => client.get_schedule(&id.unwrap_or_default()).await?,
            };
            print_schedule(&schedule, connect.json);
        }
        SchedulesCommand::List {
            state,
            selector,
            limit,
            connect,
        } => {
            let query = ScheduleQuery {
                label_selector: selector.unwrap_or_default(),
                ..Default::default()
            }
            .state_names(state)?;
            let client = connect.client().await?;
            let schedules = client.list_schedules_up_to(query, limit).await?;
            if connect.json {
                let all: Vec<_> = schedules.iter().map(schedule_to_json).collect();
                println!("{}", serde_json::Value::Array(all));
            } else {
                for schedule in &schedules {
                    print_schedule(schedule, false);
                }
            }
        }
        SchedulesCommand::Update {
            id,
            timing,
            name,
            labels,
            metadata,
            webhook,
            action_bundle,
            expected_version,
            connect,
        } => {
            let update = ScheduleUpdate {
                id,
                expected_version,
                name,
                timing: timing.into(),
                labels: (!labels.is_empty()).then(|| labels.into_iter().collect()),
                metadata: json_arg("metadata", metadata)?,
                action_bundle: json_arg("action-bundle", action_bundle)?,
                webhook,
                agent_binding: None,
                requested_by: Some("minoots-cli".into()),
            };
            let schedule = connect.client().await?.update_schedule(update).await?;
            print_schedule(&schedule, connect.json);
        }
        SchedulesCommand::Pause {
            id,
            reason,
            connect,
        } => {
            let schedule = connect.client().await?.pause_schedule(&id, &reason).await?;
            print_schedule(&schedule, connect.json);
        }
        SchedulesCommand::Resume { id, connect } => {
            let schedule = connect.client().await?.resume_schedule(&id).await?;
            print_schedule(&schedule, connect.json);
        }
        SchedulesCommand::Delete { id, connect } => {
            let schedule = connect.client().await?.delete_schedule(&id).await?;
            print_schedule(&schedule, connect.json);
        }
        SchedulesCommand::Preview {
            id,
            timing,
            count,
            after,
            connect,
        } => {
            let of = match id {
                Some(id) => PreviewOf::Id(id),
                None => PreviewOf::from(ScheduleOptions {
                    timing: timing.into(),
                    ..Default::default()
                }),
            };
            let after = after
                .map(|at| {
                    at.parse::<prost_types::Timestamp>()
                        .map_err(|_| anyhow::anyhow!("--after: {at:?} is not an RFC 3339 time"))
                })
                .transpose()?;
            let client = connect.client().await?;
            let preview = client.preview_schedule(of, count, after).await?;
            if connect.json {
                println!("{}", preview_to_json(&preview));
            } else {
                for (i, at) in preview.fire_at.iter().enumerate() {
                    let local = preview.local_times.get(i).map_or("", String::as_str);
                    println!("{at}  {local}");
                }
            }
        }
    }
    Ok(())
}
