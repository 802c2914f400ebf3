//! `minoots timers create|list|get|cancel|watch` against a real `minoots serve`, as a shell
//! user runs them: JSON and human output, a webhook delivered, errors on stderr with a non-zero
//! exit.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Output, Stdio},
    sync::{Arc, Mutex},
};

use common::{Server, WAIT};
use serde_json::Value;

/// `minoots timers <args>` for tenant acme on the server at `url`.
fn timers(url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_minoots"));
    command.arg("timers").args(args).args([
        "--url",
        url,
        "--api-key",
        common::DEV_KEY,
        "--tenant",
        "acme",
    ]);
    command
}

fn cli(url: &str, args: &[&str]) -> Output {
    timers(url, args).output().expect("running minoots timers")
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `minoots timers watch <args>` in the background; its stdout lines arrive on the channel.
fn watch(url: &str, args: &[&str]) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut child = timers(url, &[&["watch"], args].concat())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (child, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_commands_create_list_get_cancel_and_watch() {
    // A webhook receiver, so `--webhook` is seen delivering.
    let hits = Arc::new(Mutex::new(Vec::<Value>::new()));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post({
            let hits = hits.clone();
            move |body: axum::body::Bytes| async move {
                hits.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "--data-dir",
        &dir.path().display().to_string(),
        "--webhook-allow",
        "127.0.0.1",
    ]
    .map(str::to_owned)
    .to_vec();
    let server = Server::start_with(&args, Stdio::inherit()).await;
    let url = server.url.as_str();

    let (mut watcher, lines) = watch(url, &["--after-sequence", "0", "--json"]);
    let created: Value = serde_json::from_str(&ok(cli(
        url,
        &[
            "create",
            "--in",
            "150ms",
            "--name",
            "cli-timer",
            "--label",
            "team=core",
            "--webhook",
            &hook,
            "--json",
        ],
    )))
    .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["labels"]["team"], "core");
    assert_eq!(created["durationMs"], 150);

    // watch --json prints each delivered payload with its sequence, from the start.
    let mut types = Vec::new();
    let deadline = std::time::Instant::now() + WAIT;
    while !types.contains(&"timer.settled".to_owned()) {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .expect("watch printed the timer's events");
        let event: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(event["data"]["id"], id.as_str());
        assert_eq!(event["sequence"], types.len() as u64 + 1);
        types.push(event["type"].as_str().unwrap().to_owned());
    }
    watcher.kill().unwrap();
    watcher.wait().unwrap();
    assert_eq!(
        types,
        [
            "timer.scheduled",
            "timer.armed",
            "timer.fired",
            "timer.settled"
        ]
    );
    let delivered = hits.lock().unwrap().clone();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["data"]["id"], id.as_str());

    // Human output: one line per timer (id, status, fire time, name); events likewise.
    let human = ok(cli(url, &["create", "--duration", "1h", "--name", "later"]));
    let later_id = human.split_whitespace().next().unwrap().to_owned();
    assert!(
        human.contains("armed") && human.trim_end().ends_with("later"),
        "{human}"
    );
    assert!(ok(cli(url, &["get", &id])).contains("settled"));
    let listed: Value = serde_json::from_str(&ok(cli(
        url,
        &["list", "--selector", "team=core", "--json"],
    )))
    .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(
        ok(cli(url, &["list", "--status", "armed"])).lines().count(),
        1
    );
    let cancelled: Value = serde_json::from_str(&ok(cli(
        url,
        &["cancel", &later_id, "--reason", "changed plans", "--json"],
    )))
    .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancelReason"], "changed plans");
    let (mut human_watch, human_lines) =
        watch(url, &["--after-sequence", "0", "--type", "settled"]);
    let line = human_lines.recv_timeout(WAIT).unwrap();
    assert!(
        line.contains("timer.settled") && line.contains(&id) && line.ends_with("cli-timer"),
        "{line}"
    );
    human_watch.kill().unwrap();
    human_watch.wait().unwrap();

    // Errors: a message on stderr and a failing exit status.
    let missing = cli(url, &["get", "0190c0de-0000-7000-8000-000000000000"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("not found"));
    let bad = cli(url, &["create", "--in", "soon", "--name", "x"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("duration"));
    let neither = cli(url, &["create", "--name", "x"]);
    assert!(!neither.status.success());

    // No --url, --api-key or --tenant: the environment every client reads, including the
    // original toolkit's MINOOTS_API_URL.
    let from_env = |url_variable: &str| {
        Command::new(env!("CARGO_BIN_EXE_minoots"))
            .args(["timers", "create", "--fire-at", "2030-01-01T00:00:00Z"])
            .args(["--name", url_variable, "--json"])
            .env_remove("MINOOTS_URL")
            .env_remove("MINOOTS_API_URL")
            .env(url_variable, url)
            .env("MINOOTS_API_KEY", common::DEV_KEY)
            .env("MINOOTS_TENANT", "from-env")
            .output()
            .unwrap()
    };
    for variable in ["MINOOTS_URL", "MINOOTS_API_URL"] {
        let timer: Value = serde_json::from_str(&ok(from_env(variable))).unwrap();
        assert_eq!(timer["tenantId"], "from-env");
        assert_eq!(timer["name"], variable);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_commands_update_pause_resume_bulk_and_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = ["--data-dir", &dir.path().display().to_string()]
        .map(str::to_owned)
        .to_vec();
    let server = Server::start_with(&args, Stdio::inherit()).await;
    let url = server.url.as_str();
    let json = |args: &[&str]| -> Value {
        serde_json::from_str(&ok(cli(url, &[args, &["--json"]].concat()))).unwrap()
    };
    let create = ["create", "--name", "nightly", "--idempotency-key", "k1"];
    let first = json(&[&create[..], &["--duration", "1h", "--label", "team=ops"]].concat());
    let id = first["id"].as_str().unwrap().to_owned();
    let replaced = json(
        &[
            &create[..],
            &[
                "--duration",
                "2h",
                "--label",
                "team=ops",
                "--key-policy",
                "replace",
            ],
        ]
        .concat(),
    );
    assert_eq!(replaced["id"], id.as_str());
    assert!(replaced["fireAt"].as_str() > first["fireAt"].as_str());
    let bad = cli(
        url,
        &[
            &create[..],
            &["--duration", "1h", "--key-policy", "overwrite"],
        ]
        .concat(),
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("key_policy"));

    let renamed = json(&["update", "--key", "k1", "--name", "renamed"]);
    assert_eq!(
        (renamed["id"].as_str(), renamed["name"].as_str()),
        (Some(id.as_str()), Some("renamed"))
    );
    let stale = cli(
        url,
        &[
            "update",
            &id,
            "--duration",
            "3h",
            "--expected-state-version",
            "1",
        ],
    );
    assert!(!stale.status.success());
    assert!(String::from_utf8_lossy(&stale.stderr).contains("aborted"));
    assert_eq!(
        json(&["pause", &id, "--reason", "freeze"])["status"],
        "paused"
    );
    assert_eq!(json(&["resume", &id])["status"], "armed");

    let dry = ok(cli(
        url,
        &["bulk-cancel", "--selector", "team=ops", "--dry-run"],
    ));
    assert!(dry.contains("1 timers match"), "{dry}");
    let done = json(&["bulk-cancel", "--selector", "team=ops", "--reason", "reorg"]);
    assert_eq!(
        (done["matched"].as_u64(), done["changed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(json(&["get", "--key", "k1"])["status"], "cancelled");
    let none = cli(url, &["bulk-pause"]);
    assert!(!none.status.success(), "a selector (or --all) is required");

    let paused = json(&["pause-tenant", "--reason", "incident"]);
    assert_eq!(paused["paused"], true);
    assert_eq!(json(&["tenant-status"])["reason"], "incident");
    let held = json(&["create", "--name", "held", "--duration", "1s"]);
    assert_eq!(held["status"], "paused");
    let resumed = json(&["resume-tenant"]);
    assert_eq!(
        (resumed["paused"].as_bool(), resumed["changed"].as_u64()),
        (Some(false), Some(1))
    );
}

/// `minoots schedules <args>` for tenant acme on the server at `url`.
fn schedules(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_minoots"))
        .arg("schedules")
        .args(args)
        .args([
            "--url",
            url,
            "--api-key",
            common::DEV_KEY,
            "--tenant",
            "acme",
        ])
        .output()
        .expect("running minoots schedules")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_commands_create_preview_pause_resume_update_delete() {
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = ["--data-dir", &dir.path().display().to_string()]
        .map(str::to_owned)
        .to_vec();
    let server = Server::start_with(&args, Stdio::inherit()).await;
    let url = server.url.as_str();
    let json = |args: &[&str]| -> Value {
        serde_json::from_str(&ok(schedules(url, &[args, &["--json"]].concat()))).unwrap()
    };

    let created = json(&[
        "create",
        "--name",
        "standup",
        "--cron",
        "0 9 * * MON",
        "--time-zone",
        "Europe/Paris",
        "--jitter",
        "30s",
        "--overlap",
        "allow_all",
        "--catch-up",
        "all",
        "--catch-up-window",
        "2h",
        "--max-runs",
        "10",
        "--label",
        "team=core",
        "--idempotency-key",
        "standup-cli",
    ]);
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (
            &created["cron"],
            &created["timeZone"],
            &created["state"],
            &created["jitterMs"],
            &created["overlapPolicy"],
            &created["catchUpPolicy"],
            &created["catchUpWindowMs"],
            &created["maxRuns"],
        ),
        (
            &Value::from("0 9 * * MON"),
            &Value::from("Europe/Paris"),
            &Value::from("active"),
            &Value::from(30_000),
            &Value::from("allow_all"),
            &Value::from("all"),
            &Value::from(7_200_000),
            &Value::from(10),
        )
    );
    assert_eq!(json(&["get", "--key", "standup-cli"])["id"], id.as_str());

    // Preview across the Paris daylight-saving change (2026-03-29): 09:00 wall time each week.
    let preview = json(&[
        "preview",
        &id,
        "--count",
        "2",
        "--after",
        "2026-03-20T00:00:00Z",
    ]);
    let at: Vec<_> = preview["occurrences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["fireAt"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(at, ["2026-03-23T08:00:00Z", "2026-03-30T07:00:00Z"]);
    let human = ok(schedules(
        url,
        &[
            "preview",
            "--cron",
            "0 9 * * MON",
            "--time-zone",
            "Europe/Paris",
            "--count",
            "2",
            "--after",
            "2026-03-20T00:00:00Z",
        ],
    ));
    assert_eq!(human.lines().count(), 2, "{human}");
    assert!(human.contains("2026-03-30T09:00:00+02:00"), "{human}");

    assert_eq!(
        json(&["pause", &id, "--reason", "holiday"])["state"],
        "paused"
    );
    assert_eq!(
        json(&["list", "--state", "paused"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(json(&["resume", &id])["state"], "active");
    let moved = json(&["update", &id, "--time-zone", "America/New_York"]);
    assert_eq!(
        (&moved["cron"], &moved["timeZone"]),
        (
            &Value::from("0 9 * * MON"),
            &Value::from("America/New_York")
        )
    );
    // Human output: id, state, next fire time, when, zone, name.
    let line = ok(schedules(url, &["get", &id]));
    assert!(
        line.starts_with(&id) && line.contains("active") && line.trim_end().ends_with("standup"),
        "{line}"
    );
    assert_eq!(json(&["delete", &id])["state"], "deleted");
    assert!(json(&["list"]).as_array().unwrap().is_empty());

    // Errors: a message naming the field on stderr and a failing exit status.
    let bad = schedules(url, &["create", "--name", "x", "--cron", "0 25 * * *"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("cron"));
    let bad = schedules(url, &["create", "--name", "x", "--interval", "soon"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("interval"));
}
