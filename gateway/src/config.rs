//! One configuration story for every `minoots` process: built-in defaults, then a `minoots.toml`
//! file, then environment variables (`MINOOTS_*`, and the original names such as `KERNEL_STORE`,
//! `DATABASE_URL`, `EVENT_ENVELOPE_SECRET` below them), then flags.
//!
//! The file holds the same names as the flags (`data-dir` or `data_dir`), at the top level for
//! every command, or in a `[serve]`, `[kernel]` or `[gateway]` table for one:
//!
//! ```toml
//! data-dir = "/var/lib/minoots"
//! timer-retention = "7d"
//! [gateway]
//! region-targets = "us-east=http://10.0.0.5:7071,eu-west=http://10.1.0.5:7071"
//! ```
//!
//! File values become the flags' defaults, so clap parses and validates every value once, with
//! its usual errors; an unknown name in the file is an error that names it.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use clap::{ArgMatches, Command, parser::ValueSource};

/// Commands whose flags a file may set.
pub const SECTIONS: [&str; 5] = ["serve", "kernel", "gateway", "keys", "dlq"];

/// Turns an original variable's value into what the flag takes.
type Convert = fn(&str) -> String;

/// The original deployment guide's variable names, read when the `MINOOTS_*` one is unset (below
/// it, above the file): `(flag id, variable, its value as the flag takes it)`; for a flag named by
/// several, the first one set wins. Not here because nothing here means the same:
/// `NATS_JETSTREAM_CONSUMER` (MINOOTS only publishes; consumers name their own).
const LEGACY_ENV: [(&str, &str, Convert); 11] = [
    ("store", "KERNEL_STORE", as_is),
    ("database_url", "DATABASE_URL", as_is),
    ("signing_secrets", "EVENT_ENVELOPE_SECRET", as_is),
    ("signing_secrets", "KERNEL_ENVELOPE_SECRET", as_is),
    ("nats_url", "NATS_URL", as_is),
    ("nats_url", "NATS_JETSTREAM_URL", as_is),
    ("nats_stream", "NATS_JETSTREAM_STREAM", as_is),
    ("nats_subject", "NATS_SUBJECT", as_is),
    ("nats_dlq_subject", "NATS_DLQ_SUBJECT", as_is),
    ("action_timeout", "ACTION_WEBHOOK_TIMEOUT_MS", milliseconds),
    ("kernels", "KERNEL_GRPC_URL", http_url),
];

fn as_is(value: &str) -> String {
    value.to_owned()
}

/// `10000` (the original's milliseconds) as a duration the flag parses.
fn milliseconds(value: &str) -> String {
    format!("{value}ms")
}

/// The original's `localhost:50051` as a URL; one with a scheme stays as it is.
fn http_url(value: &str) -> String {
    if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    }
}

/// The first original variable set for flag `id`: its name and its value as the flag takes it.
fn legacy_env(id: &str) -> Option<(&'static str, String)> {
    LEGACY_ENV
        .iter()
        .filter(|(arg, _, _)| *arg == id)
        .find_map(|(_, var, convert)| {
            std::env::var(var)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| (*var, convert(v.trim())))
        })
}

/// Values shown masked by `config print`.
const SECRETS: [&str; 3] = ["signing_secrets", "api_key", "database_url"];

#[derive(Debug, Default, Clone)]
pub struct FileConfig {
    pub path: Option<PathBuf>,
    /// command -> (arg id -> value), "" for top-level keys.
    values: BTreeMap<String, BTreeMap<String, String>>,
}

/// The config file named by `--config` / `MINOOTS_CONFIG`, else `./minoots.toml` if present.
pub fn locate(args: &[String]) -> Option<PathBuf> {
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--config" {
            return iter.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    if let Ok(path) = std::env::var("MINOOTS_CONFIG")
        && !path.is_empty()
    {
        return Some(PathBuf::from(path));
    }
    let default = PathBuf::from("minoots.toml");
    default.exists().then_some(default)
}

fn value_text(path: &Path, key: &str, value: &toml::Value) -> anyhow::Result<String> {
    Ok(match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Array(items) => items
            .iter()
            .map(|item| value_text(path, key, item))
            .collect::<anyhow::Result<Vec<_>>>()?
            .join(","),
        other => anyhow::bail!(
            "{}: `{key}` must be a string, number, boolean or list, not {}",
            path.display(),
            other.type_str()
        ),
    })
}

impl FileConfig {
    pub fn load(path: Option<PathBuf>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("reading config file {}: {e}", path.display()))?;
        let table: toml::Table = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))?;
        let mut values: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (key, value) in &table {
            match value {
                toml::Value::Table(section) if SECTIONS.contains(&key.as_str()) => {
                    for (inner, value) in section {
                        values
                            .entry(key.clone())
                            .or_default()
                            .insert(inner.replace('-', "_"), value_text(&path, inner, value)?);
                    }
                }
                toml::Value::Table(_) => anyhow::bail!(
                    "config file {}: unknown section [{key}] (sections: {})",
                    path.display(),
                    SECTIONS.join(", ")
                ),
                value => {
                    values
                        .entry(String::new())
                        .or_default()
                        .insert(key.replace('-', "_"), value_text(&path, key, value)?);
                }
            }
        }
        Ok(Self {
            path: Some(path),
            values,
        })
    }

    /// The file's value for `id` in `command`: its section first, then the top level.
    fn value(&self, command: &str, id: &str) -> Option<&String> {
        self.values
            .get(command)
            .and_then(|v| v.get(id))
            .or_else(|| self.values.get("").and_then(|v| v.get(id)))
    }

    pub fn sets(&self, command: &str, id: &str) -> bool {
        self.value(command, id).is_some()
    }

    /// Installs file values (and the original environment names) as the flags' defaults, after
    /// checking that every name in the file is a flag somewhere it applies.
    pub fn apply(&self, mut cli: Command) -> anyhow::Result<Command> {
        let ids = |cli: &Command, name: &str| -> BTreeSet<String> {
            cli.find_subcommand(name)
                .map(|sc| sc.get_arguments().map(|a| a.get_id().to_string()).collect())
                .unwrap_or_default()
        };
        let file = self
            .path
            .as_ref()
            .map_or_else(String::new, |p| p.display().to_string());
        for (section, values) in &self.values {
            let known: BTreeSet<String> = if section.is_empty() {
                SECTIONS
                    .iter()
                    .flat_map(|s| ids(&cli, s))
                    .chain(global_ids(&cli))
                    .collect()
            } else {
                ids(&cli, section)
            };
            for key in values.keys() {
                if !known.contains(key) {
                    let place = if section.is_empty() {
                        String::new()
                    } else {
                        format!(" in [{section}]")
                    };
                    anyhow::bail!(
                        "config file {file}: unknown setting `{}`{place}; settings are the long flag names (see `minoots <command> --help`)",
                        key.replace('_', "-")
                    );
                }
            }
        }
        // Settings of the whole program (`log-format`) from the top level of the file.
        for id in global_ids(&cli) {
            if let Some(value) = self.values.get("").and_then(|v| v.get(&id)).cloned() {
                let value: &'static str = Box::leak(value.into_boxed_str());
                cli = cli.mut_arg(id.as_str(), |a| a.default_value(value));
            }
        }
        for section in SECTIONS {
            for id in ids(&cli, section) {
                let legacy = legacy_env(&id).map(|(_, value)| value);
                let Some(value) = legacy.or_else(|| self.value(section, &id).cloned()) else {
                    continue;
                };
                let value: &'static str = Box::leak(value.into_boxed_str());
                cli = cli.mut_subcommand(section, |sc| {
                    sc.mut_arg(id.as_str(), |a| a.default_value(value))
                });
            }
        }
        Ok(cli)
    }

    /// The effective settings of a parsed command, with where each came from, secrets masked.
    pub fn describe(&self, command: &str, matches: &ArgMatches, cli: &Command) -> Vec<Setting> {
        let Some(sub) = cli.find_subcommand(command) else {
            return Vec::new();
        };
        sub.get_arguments()
            .filter(|a| {
                !matches!(
                    a.get_id().as_str(),
                    "help" | "version" | "config" | "log_format" | "json"
                )
            })
            .map(|arg| {
                let id = arg.get_id().as_str();
                let values: Vec<String> = matches
                    .get_raw(id)
                    .map(|v| v.map(|s| s.to_string_lossy().into_owned()).collect())
                    .unwrap_or_default();
                let legacy = legacy_env(id).map(|(var, _)| var);
                let source = match matches.value_source(id) {
                    Some(ValueSource::CommandLine) => "flag".to_owned(),
                    Some(ValueSource::EnvVariable) => format!(
                        "env {}",
                        arg.get_env()
                            .map(|e| e.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    ),
                    Some(ValueSource::DefaultValue) if legacy.is_some() => {
                        format!("env {}", legacy.unwrap_or_default())
                    }
                    Some(ValueSource::DefaultValue) if self.sets(command, id) => "file".to_owned(),
                    Some(_) => "default".to_owned(),
                    None => "unset".to_owned(),
                };
                let value = values.join(",");
                let value = if SECRETS.contains(&id) && !value.is_empty() {
                    mask(id, &value)
                } else {
                    value
                };
                Setting {
                    name: id.replace('_', "-"),
                    value,
                    source,
                }
            })
            .collect()
    }
}

/// Flags of the program itself that a file may set (not `--config`, which names the file).
fn global_ids(cli: &Command) -> Vec<String> {
    cli.get_arguments()
        .map(|a| a.get_id().to_string())
        .filter(|id| !matches!(id.as_str(), "config" | "help" | "version"))
        .collect()
}

fn mask(id: &str, value: &str) -> String {
    if id == "database_url" {
        // postgres://user:password@host/db -> postgres://user:****@host/db
        if let Some((scheme, rest)) = value.split_once("://")
            && let Some((credentials, host)) = rest.split_once('@')
        {
            let user = credentials.split(':').next().unwrap_or_default();
            return format!("{scheme}://{user}:****@{host}");
        }
        return value.to_owned();
    }
    "****".to_owned()
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Setting {
    pub name: String,
    pub value: String,
    pub source: String,
}
