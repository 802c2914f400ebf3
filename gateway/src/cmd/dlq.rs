//! `minoots dlq list|show|replay`: dead letters on a running server.

use clap::Subcommand;

use super::args::ConnectArgs;

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Unresolved dead letters, oldest first.
    List {
        /// Only those created since: an RFC 3339 time, or a duration ago (`24h`).
        #[arg(long)]
        since: Option<String>,
        /// Replayed ones too.
        #[arg(long)]
        include_resolved: bool,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// One dead letter.
    Show {
        id: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Run a dead-lettered action again (same idempotency key): `replay ID`, or
    /// `replay --all [--since T]`.
    Replay {
        id: Option<String>,
        #[arg(long)]
        all: bool,
        #[arg(long)]
        since: Option<String>,
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

/// An RFC 3339 time, or a duration before now (the SDK's rule).
fn parse_since(text: &str) -> anyhow::Result<minoots_proto::prost_types::Timestamp> {
    minoots::parse_since(text).map_err(|_| {
        anyhow::anyhow!("--since {text:?}: not an RFC 3339 time or a duration like 24h")
    })
}

pub async fn run(command: DlqCommand) -> anyhow::Result<()> {
    use minoots_kernel::json::{action_result_to_json, dead_letter_to_json, timer_to_json};
    let print_letter = |letter: &minoots_proto::v1::DeadLetter, json: bool| {
        if json {
            println!("{}", dead_letter_to_json(letter));
        } else {
            let state = if letter.resolved_at.is_some() {
                "resolved"
            } else {
                "dead"
            };
            println!(
                "{}  {state:<8}  attempts {:<3} replays {:<2}  {}",
                letter.id, letter.attempts, letter.replays, letter.last_error
            );
        }
    };
    let print_replay = |result: &minoots_proto::v1::ReplayResult, json: bool| {
        if json {
            let out = serde_json::json!({
                "deadLetter": result.dead_letter.as_ref().map(dead_letter_to_json),
                "result": result.result.as_ref().map(action_result_to_json),
                "timer": result.timer.as_ref().map(timer_to_json),
            });
            println!("{out}");
        } else {
            let letter = result.dead_letter.as_ref().map_or("", |l| l.id.as_str());
            let outcome = result.result.as_ref().map_or(String::new(), |r| {
                format!(
                    "{} ({})",
                    if r.ok { "ok" } else { "failed again" },
                    r.detail
                )
            });
            let status = result.timer.as_ref().map_or("", |t| t.status().wire_name());
            println!("{letter}  {outcome}  timer {status}");
        }
    };
    match command {
        DlqCommand::List {
            since,
            include_resolved,
            connect,
        } => {
            let since = since.as_deref().map(parse_since).transpose()?;
            let letters = connect
                .client()
                .await?
                .dead_letters(since, include_resolved)
                .await?;
            for letter in &letters {
                print_letter(letter, connect.json);
            }
        }
        DlqCommand::Show { id, connect } => {
            let letter = connect.client().await?.dead_letter(&id).await?;
            print_letter(&letter, true);
        }
        DlqCommand::Replay {
            id,
            all,
            since,
            connect,
        } => {
            let client = connect.client().await?;
            match (id, all) {
                (Some(id), false) => {
                    print_replay(&client.replay_dead_letter(&id).await?, connect.json)
                }
                (None, true) => {
                    let since = since.as_deref().map(parse_since).transpose()?;
                    for result in client.replay_dead_letters(since).await? {
                        print_replay(&result, connect.json);
                    }
                }
                _ => anyhow::bail!("give a dead letter id, or --all (with an optional --since)"),
            }
        }
    }
    Ok(())
}
