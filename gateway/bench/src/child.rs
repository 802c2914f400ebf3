//! A `minoots serve` child process, for the benches that measure the process itself (`memory`,
//! `recovery`).

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{Context as _, bail};
use clap::Args;
use minoots::Client;
use minoots_gateway::setup::StoreKind;

#[derive(Debug, Clone, Args)]
pub struct ChildArgs {
    /// Store of the child server: sqlite or postgres.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub store: StoreKind,
    /// Postgres URL for `--store postgres` (the bench creates and drops its own tables there by
    /// using a fresh schema-less database you give it: point it at an empty database).
    #[arg(long, env = "KERNEL_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    #[arg(long, default_value_t = 1_000_000)]
    pub timers: usize,
    #[arg(long, default_value_t = 5_000)]
    pub batch: usize,
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// SQLite synchronous mode of the child (default `full`, as `minoots serve` runs).
    #[arg(long, default_value = "full")]
    pub sqlite_synchronous: String,
}

/// A `minoots serve` child process on 127.0.0.1:0.
pub struct ChildServer {
    process: std::process::Child,
    url: String,
    pub started: Instant,
}

impl ChildServer {
    pub fn spawn(
        args: &ChildArgs,
        data_dir: &Path,
        database_url: Option<&str>,
    ) -> anyhow::Result<Self> {
        use std::io::BufRead as _;
        let mut command = std::process::Command::new(minoots_binary()?);
        command
            .args([
                "serve",
                "--dev",
                "--listen",
                "127.0.0.1:0",
                "--sqlite-synchronous",
                &args.sqlite_synchronous,
            ])
            .args([
                "--quota-active-timers",
                "0",
                "--quota-daily-timers",
                "0",
                // Benches point webhook actions at receivers of their own on loopback.
                "--webhook-allow",
                "127.0.0.1",
                "--data-dir",
            ])
            .arg(data_dir)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit());
        if let (StoreKind::Postgres, Some(url)) = (args.store, database_url) {
            command.args(["--store", "postgres", "--database-url", url]);
        }
        let started = Instant::now();
        let mut process = command.spawn()?;
        let stdout = process.stdout.take().context("child stdout")?;
        let mut lines = std::io::BufReader::new(stdout).lines();
        let line = lines
            .next()
            .context("the server exited before listening")??;
        std::thread::spawn(move || for _ in lines {});
        let url = line
            .strip_prefix("minoots listening on ")
            .context("unexpected first line")?
            .to_owned();
        Ok(Self {
            process,
            url,
            started,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.process.id()))?;
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .context("VmRSS")?;
        Ok(kb * 1_024)
    }

    pub async fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::builder(self.url.clone())
            .api_key("local-dev-key")
            .connect()
            .await?)
    }

    /// `minoots_timers_fired_total` from /metrics.
    pub async fn fired(&self, http: &reqwest::Client) -> anyhow::Result<u64> {
        self.metric(http, "minoots_timers_fired_total").await
    }

    /// One unlabelled counter or gauge from /metrics (0 while it has no value yet).
    pub async fn metric(&self, http: &reqwest::Client, name: &str) -> anyhow::Result<u64> {
        let text = http
            .get(format!("{}/metrics", self.url))
            .send()
            .await?
            .text()
            .await?;
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0))
    }

    pub fn kill(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A fresh Postgres database for a child server (dropped after), or None for SQLite.
pub async fn child_database(
    args: &ChildArgs,
) -> anyhow::Result<Option<minoots_kernel::testing::TestDatabase>> {
    if !matches!(args.store, StoreKind::Postgres) {
        return Ok(None);
    }
    let admin = args.database_url.clone().context(
        "--store postgres needs --database-url (a server where the bench may create a database)",
    )?;
    let db = minoots_kernel::testing::TestDatabase::create_on(&admin, "bench")
        .await
        .context("Postgres is not reachable")?;
    Ok(Some(db))
}

/// The `minoots` binary a child runs: `MINOOTS_BIN`, else `minoots` beside this executable
/// (cargo builds both into the same target directory).
fn minoots_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("MINOOTS_BIN") {
        return Ok(path.into());
    }
    let beside = std::env::current_exe()?.with_file_name("minoots");
    if !beside.exists() {
        bail!(
            "{} not found: build it (cargo build --release -p minoots-gateway --bin minoots) or set MINOOTS_BIN",
            beside.display()
        );
    }
    Ok(beside)
}
