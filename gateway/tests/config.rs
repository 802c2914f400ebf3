//! Configuration precedence (defaults < minoots.toml < environment < flags), invalid
//! configuration, masking in `minoots config print`, and JSON logs.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::Stdio,
};

use serde_json::Value;

use common::{config_command as minoots, config_settings as settings};

#[test]
fn defaults_then_file_then_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("minoots.toml"),
        r#"
listen = "127.0.0.1:9999"
log-format = "text"
timer-retention = "2d"
quota_active_timers = 5
event-retention = "3h"
rate-limits = ["standard=10:20", "pro=100"]
[gateway]
listen = "127.0.0.1:8888"
"#,
    )
    .unwrap();
    let output = minoots(dir.path())
        .args([
            "config",
            "print",
            "serve",
            "--json",
            "--",
            "--event-retention",
            "9h",
        ])
        .env("MINOOTS_QUOTA_ACTIVE_TIMERS", "7")
        .env("MINOOTS_EVENT_RETENTION", "5h")
        .env("KERNEL_STORE", "memory")
        .env("DATABASE_URL", "postgres://app:hunter2@db.internal/minoots")
        .env(
            "MINOOTS_SIGNING_SECRETS",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        )
        .output()
        .unwrap();
    let s = settings(&output);
    assert_eq!(s["data-dir"], ("./minoots-data".into(), "default".into()));
    assert_eq!(s["listen"], ("127.0.0.1:9999".into(), "file".into()));
    assert_eq!(s["timer-retention"], ("2d".into(), "file".into()));
    assert_eq!(
        s["rate-limits"],
        ("standard=10:20,pro=100".into(), "file".into())
    );
    assert_eq!(
        s["quota-active-timers"],
        ("7".into(), "env MINOOTS_QUOTA_ACTIVE_TIMERS".into())
    );
    assert_eq!(s["event-retention"], ("9h".into(), "flag".into()));
    assert_eq!(s["store"], ("memory".into(), "env KERNEL_STORE".into()));
    // Secrets are masked.
    assert_eq!(
        s["database-url"].0,
        "postgres://app:****@db.internal/minoots"
    );
    assert_eq!(s["signing-secrets"].0, "****");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("hunter2"));

    // A section applies to its command only.
    let gateway = settings(
        &minoots(dir.path())
            .args(["config", "print", "gateway", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(gateway["listen"], ("127.0.0.1:8888".into(), "file".into()));
    // The environment beats the file for the original names too.
    let mut with_env = minoots(dir.path());
    with_env
        .args(["config", "print", "serve", "--json"])
        .env("MINOOTS_TIMER_RETENTION", "1d");
    assert_eq!(
        settings(&with_env.output().unwrap())["timer-retention"].0,
        "1d"
    );
    // --config names another file.
    std::fs::write(dir.path().join("other.toml"), "timer-retention = \"12h\"\n").unwrap();
    let other = settings(
        &minoots(dir.path())
            .args([
                "--config",
                "other.toml",
                "config",
                "print",
                "serve",
                "--json",
            ])
            .output()
            .unwrap(),
    );
    assert_eq!(other["timer-retention"], ("12h".into(), "file".into()));
}

#[test]
fn invalid_configuration_is_refused_with_the_setting_named() {
    let dir = tempfile::tempdir().unwrap();
    let check = |toml: &str, args: &[&str], wanted: &[&str]| {
        std::fs::write(dir.path().join("minoots.toml"), toml).unwrap();
        let output = minoots(dir.path()).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{toml:?} was accepted");
        for word in wanted {
            assert!(stderr.contains(word), "{toml:?}: {word:?} not in {stderr}");
        }
    };
    let print = ["config", "print", "serve"];
    check(
        "listn = \"127.0.0.1:1\"\n",
        &print,
        &["unknown setting `listn`", "minoots.toml"],
    );
    check(
        "[serve]\nregion-targets = \"x=y\"\n",
        &print,
        &["unknown setting `region-targets` in [serve]"],
    );
    check(
        "[servr]\nlisten = \"x\"\n",
        &print,
        &["unknown section [servr]"],
    );
    check(
        "quota-active-timers = \"many\"\n",
        &print,
        &["--quota-active-timers", "many"],
    );
    check(
        "timer-retention = \"soon\"\n",
        &print,
        &["--timer-retention", "soon"],
    );
    check(
        "lease-timeout-ms = 100\n",
        &print,
        &["--lease-timeout-ms (100)"],
    );
    check(
        "rate-limits = \"standard\"\n",
        &print,
        &["--rate-limits", "name=PER_SECOND"],
    );
    check(
        "signing-secrets = \"whsec_!!\"\n",
        &print,
        &["signing secret #1"],
    );
    check(
        "webhook-allow = \"10.0.0.0/99\"\n",
        &print,
        &["--webhook-allow", "prefix"],
    );
    check("listen = [1, 2\n", &print, &["minoots.toml"]);
    // The same checks stop a server before it starts.
    check(
        "rate-limits = \"standard\"\n",
        &["serve", "--data-dir", "data"],
        &["name=PER_SECOND"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_can_be_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = minoots(dir.path())
        .args([
            "--log-format",
            "json",
            "serve",
            "--dev",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            "data",
        ])
        .env("LOG_LEVEL", "info")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            let done = line.contains("development API key");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    });
    let lines = tokio::time::timeout(common::WAIT, lines)
        .await
        .unwrap()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(!lines.is_empty());
    for line in &lines {
        let entry: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert!(
            entry["level"].is_string() && entry["timestamp"].is_string(),
            "{line}"
        );
    }
    let dev: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(dev["key"], "local-dev-key");
}
