//! `minoots config print`: the settings a command would run with and where each comes from.

use clap::{FromArgMatches as _, Subcommand};

use super::{Cli, validate};
use crate::config::{self, FileConfig};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// The settings a command would run with (defaults, file, environment, and the flags after
    /// `--`), where each comes from, secrets masked; fails on an invalid one.
    Print {
        /// serve, kernel, gateway, keys or dlq.
        #[arg(default_value = "serve")]
        command: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Flags of that command, after `--`.
        #[arg(last = true)]
        args: Vec<String>,
    },
}

pub fn run(
    command: ConfigCommand,
    file: &FileConfig,
    clap_command: &clap::Command,
) -> anyhow::Result<()> {
    let ConfigCommand::Print {
        command,
        json,
        args,
    } = command;
    print_config(file, clap_command, &command, json, &args)
}

fn print_config(
    file: &FileConfig,
    clap_command: &clap::Command,
    command: &str,
    json: bool,
    args: &[String],
) -> anyhow::Result<()> {
    if !config::SECTIONS.contains(&command) {
        anyhow::bail!(
            "unknown command {command:?} ({})",
            config::SECTIONS.join(", ")
        );
    }
    let argv = ["minoots", command]
        .into_iter()
        .map(str::to_owned)
        .chain(args.iter().cloned());
    let matches = clap_command
        .clone()
        .try_get_matches_from(argv)
        .map_err(|e| anyhow::anyhow!("{}", e.render()))?;
    let parsed = Cli::from_arg_matches(&matches).map_err(|e| anyhow::anyhow!("{}", e.render()))?;
    validate(&parsed.command)?;
    let (_, sub) = matches.subcommand().expect("a subcommand was given");
    let settings = file.describe(command, sub, clap_command);
    if json {
        println!("{}", serde_json::to_string_pretty(&settings)?);
    } else {
        if let Some(path) = &file.path {
            println!("# config file: {}", path.display());
        }
        for setting in settings {
            println!(
                "{:<24} = {:<40} # {}",
                setting.name, setting.value, setting.source
            );
        }
    }
    Ok(())
}
