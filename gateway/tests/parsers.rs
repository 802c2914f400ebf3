//! Property tests of the parsers at the door: text durations, RFC 3339 times (REST, SDK and CLI),
//! `POST /timers` bodies through a real server, rate-limit tiers, region targets and the
//! `minoots.toml` file through the real binary. For any input: no panic, and a refusal names the
//! field or entry at fault; what is accepted and has a printer reads back as the same value.
//! (The kernel's own parsers, label selectors, page tokens, metadata and action bundles, have
//! theirs in kernel/src/tests/parsers.rs.)

mod common;

use std::{process::Command, str::FromStr, time::Duration};

use minoots::TimerSpec;
use minoots_gateway::{auth::parse_tiers, backend::regions::parse_region_targets};
use minoots_proto::{parse_duration, prost_types};
use proptest::{
    prelude::*,
    test_runner::{Config, TestRunner},
};
use serde_json::{Value, json};

const CASES: u32 = 256;

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,16}",
        "[0-9a-zA-Z:=,.+ TZ-]{0,32}",
        "[0-9]{1,25}(ms|s|m|h|d|us|)",
        "[\\x00-\\x1f\\u{7f}-\\u{9f}a]{0,4}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Whether `message` quotes `input`: whole, or (a long input) its first characters.
fn quotes(message: &str, input: &str) -> bool {
    let start: String = input.chars().take(32).collect();
    let quoted = format!("{start:?}");
    message.contains(&quoted[..quoted.len() - 1])
}

// ---------------------------------------------------------------------------------------------
// Durations

/// `1d2h3m4s5ms`, leaving out zero parts (the printer the round trip checks against).
fn print_duration(parts: [u32; 5]) -> String {
    let units = ["d", "h", "m", "s", "ms"];
    let text: String = parts
        .iter()
        .zip(units)
        .filter(|(n, _)| **n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if text.is_empty() { "0s".into() } else { text }
}

#[test]
fn parsers_durations_never_panic_and_errors_quote_the_input() {
    let mut runner = TestRunner::new(config(CASES));
    runner
        .run(&any_text(), |text| {
            if let Err(error) = parse_duration(&text) {
                prop_assert_eq!(&error.input, &text);
                prop_assert!(quotes(&error.to_string(), &text), "{error}");
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn parsers_durations_round_trip() {
    let mut runner = TestRunner::new(config(CASES));
    let parts = prop::array::uniform5(0u32..100_000);
    runner
        .run(&parts, |parts| {
            let text = print_duration(parts);
            let expected = Duration::from_secs(
                u64::from(parts[0]) * 86_400
                    + u64::from(parts[1]) * 3_600
                    + u64::from(parts[2]) * 60
                    + u64::from(parts[3]),
            ) + Duration::from_millis(u64::from(parts[4]));
            prop_assert_eq!(parse_duration(&text), Ok(expected), "{}", text);
            Ok(())
        })
        .unwrap();
    runner
        .run(&any::<u64>(), |ms| {
            prop_assert_eq!(
                parse_duration(&ms.to_string()),
                Ok(Duration::from_millis(ms))
            );
            Ok(())
        })
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// RFC 3339 times: `fireAt` (REST), `TimerSpec::at_rfc3339` (SDK, CLI `--at`, bindings)

/// Any time from year 1 to 9999 with nanoseconds.
fn timestamp() -> impl Strategy<Value = prost_types::Timestamp> {
    (-62_135_596_800i64..253_402_300_799, 0i32..1_000_000_000)
        .prop_map(|(seconds, nanos)| prost_types::Timestamp { seconds, nanos })
}

#[test]
fn parsers_timestamps_never_panic_and_round_trip() {
    let mut runner = TestRunner::new(config(CASES));
    let texts = prop_oneof![
        any_text(),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,12})?(Z|[+-][0-9]{2}:[0-9]{2}|)",
    ];
    runner
        .run(&texts, |text| {
            let parsed = prost_types::Timestamp::from_str(&text);
            let spec = TimerSpec::at_rfc3339("t", &text).into_request();
            match (parsed, spec) {
                (Ok(_), Ok(_)) => {}
                (Err(_), Err(minoots::Error::InvalidArgument { field, message })) => {
                    prop_assert_eq!(field, "fire_at");
                    prop_assert!(quotes(&message, &text), "{message}");
                }
                (parsed, spec) => prop_assert!(false, "{text:?}: {parsed:?} vs {spec:?}"),
            }
            Ok(())
        })
        .unwrap();
    runner
        .run(&timestamp(), |ts| {
            let text = ts.to_string();
            prop_assert_eq!(
                prost_types::Timestamp::from_str(&text).ok(),
                Some(ts),
                "{}",
                text
            );
            Ok(())
        })
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// `POST /timers` bodies through a real server

/// The REST names of the request's fields (as `fieldViolations[].field` spells them), and
/// `body` for a body that is not the expected JSON at all.
const REST_FIELDS: [&str; 13] = [
    "body",
    "webhook",
    "tenantId",
    "requestedBy",
    "name",
    "duration",
    "fireAt",
    "labels",
    "metadata",
    "actionBundle",
    "agentBinding",
    "ecosystem",
    "idempotencyKey",
];

fn rest_field(key: &'static str) -> BoxedStrategy<Value> {
    let plausible: BoxedStrategy<Value> = match key {
        "name" => prop_oneof![Just(json!("t")), any_text().prop_map(|s| json!(s))].boxed(),
        "duration" => prop_oneof![
            any_text().prop_map(|s| json!(s)),
            any::<i64>().prop_map(|n| json!(n)),
            Just(json!("15m")),
        ]
        .boxed(),
        "fireAt" => prop_oneof![
            any_text().prop_map(|s| json!(s)),
            Just(json!("2099-01-01T00:00:00Z")),
            Just(json!("1999-01-01T00:00:00Z")),
        ]
        .boxed(),
        "labels" => prop::collection::btree_map(any_text(), any_text(), 0..3)
            .prop_map(|m| json!(m))
            .boxed(),
        "actionBundle" => prop_oneof![
            Just(json!({"actions": [{"type": "webhook", "url": "https://example.com/h"}]})),
            Just(json!({"actions": [{"type": "webhook", "url": "http://10.0.0.1/h"}]})),
            Just(json!({"actions": [{"type": "command", "program": "rm"}]})),
            Just(json!({"actions": [{"type": "file", "path": "../../etc/passwd"}]})),
            Just(json!({"actions": [{"type": "webhook", "url": "https://example.com/h", "headers": {"x": "a\r\nb"}}]})),
            Just(json!({"actions": [{"kind": "webhook", "parameters": {"url": "https://example.com"}}]})),
        ]
        .boxed(),
        "tenantId" => prop_oneof![Just(json!("acme")), any_text().prop_map(|s| json!(s))].boxed(),
        _ => any_text().prop_map(|s| json!(s)).boxed(),
    };
    prop_oneof![3 => plausible, 1 => json_value()].boxed()
}

fn rest_body() -> impl Strategy<Value = Value> {
    let keys = &REST_FIELDS[1..];
    let fields: Vec<_> = keys
        .iter()
        .map(|key| {
            let weight = if matches!(*key, "name" | "duration") {
                0.8
            } else {
                0.25
            };
            proptest::option::weighted(weight, rest_field(key))
        })
        .collect();
    let structured = fields.prop_map(move |values| {
        let object: serde_json::Map<String, Value> = keys
            .iter()
            .zip(values)
            .filter_map(|(key, value)| value.map(|v| ((*key).to_owned(), v)))
            .collect();
        Value::Object(object)
    });
    // A valid body with one field drawn as above: reaches 201 as often as a refusal.
    let one_field = prop::sample::select(keys.to_vec())
        .prop_flat_map(|key| (Just(key), rest_field(key)))
        .prop_map(|(key, value)| {
            let mut body = json!({"name": "t", "duration": "15m"});
            if key == "fireAt" {
                body.as_object_mut().unwrap().remove("duration");
            }
            body[key] = value;
            body
        });
    prop_oneof![2 => structured, 2 => one_field, 1 => json_value()]
}

#[test]
fn parsers_rest_timer_bodies_are_created_or_refused_naming_a_field() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(common::InProcess::start());
    let http = common::http();
    let url = format!("{}/timers", server.url);
    let mut runner = TestRunner::new(config(128));
    let (created, refused) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    let bodies = prop_oneof![
        9 => rest_body().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => prop::collection::vec(any::<u8>(), 0..40),
    ];
    runner
        .run(&bodies, |body| {
            let (status, answer) = runtime.block_on(async {
                let response = http
                    .post(&url)
                    .header("x-tenant-id", "acme")
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                (
                    status,
                    response.json::<Value>().await.unwrap_or(Value::Null),
                )
            });
            let shown = String::from_utf8_lossy(&body);
            match status.as_u16() {
                200 | 201 => {
                    created.set(created.get() + 1);
                    prop_assert!(answer["id"].is_string(), "{shown}: {answer}");
                }
                400 => {
                    refused.set(refused.get() + 1);
                    let field = answer["error"]["fieldViolations"][0]["field"]
                        .as_str()
                        .unwrap_or_default();
                    let top = field.split(['.', '[']).next().unwrap_or_default();
                    // A field the body has but the contract does not is refused by its name.
                    let unknown = serde_json::from_slice::<Value>(&body)
                        .ok()
                        .and_then(|v| v.as_object().cloned())
                        .is_some_and(|o| o.keys().any(|k| !REST_FIELDS.contains(&k.as_str())))
                        && answer["error"]["fieldViolations"][0]["description"]
                            .as_str()
                            .is_some_and(|d| d.starts_with("unknown field"));
                    prop_assert!(
                        REST_FIELDS.contains(&top) || unknown,
                        "{shown}: 400 names no known field: {answer}"
                    );
                }
                // The same idempotency key drawn twice for two different requests.
                409 if shown.contains("idempotencyKey") => {}
                other => prop_assert!(false, "{shown}: answered {other}: {answer}"),
            }
            Ok(())
        })
        .unwrap();
    runtime.block_on(server.stop());
    println!(
        "POST /timers bodies: {} created, {} refused naming a field",
        created.get(),
        refused.get()
    );
    assert!(
        created.get() > 0 && refused.get() > 0,
        "the bodies reach both outcomes"
    );
}

// ---------------------------------------------------------------------------------------------
// Configuration values

#[test]
fn parsers_rate_limit_tiers_never_panic_name_the_entry_and_round_trip() {
    let mut runner = TestRunner::new(config(CASES));
    runner
        .run(&any_text(), |text| {
            match parse_tiers(&text) {
                Ok(tiers) => prop_assert!(tiers.contains_key("unlimited")),
                Err(message) => prop_assert!(
                    message.starts_with("rate limit tier "),
                    "{message:?} names no tier"
                ),
            }
            Ok(())
        })
        .unwrap();
    let tiers =
        prop::collection::btree_map("[a-z][a-z0-9_-]{0,8}", (1u32..100_000, 1u32..100_000), 0..5);
    runner
        .run(&tiers, |tiers| {
            let printed = tiers
                .iter()
                .map(|(name, (rate, burst))| format!("{name}={rate}:{burst}"))
                .collect::<Vec<_>>()
                .join(",");
            let parsed = parse_tiers(&printed).unwrap();
            for (name, (rate, burst)) in &tiers {
                let tier = parsed[name];
                prop_assert_eq!(tier.per_second, Some(f64::from(*rate)));
                prop_assert_eq!(tier.burst, f64::from(*burst));
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn parsers_region_targets_never_panic_name_the_entry_and_round_trip() {
    let mut runner = TestRunner::new(config(CASES));
    runner
        .run(&any_text(), |text| {
            if let Err(message) = parse_region_targets(&text) {
                prop_assert!(
                    message.starts_with("region target "),
                    "{message:?} names no entry"
                );
            }
            Ok(())
        })
        .unwrap();
    let targets = prop::collection::vec(
        ("[a-zA-Z0-9._-]{1,10}", "http://[a-z0-9.]{1,12}:[0-9]{1,5}"),
        0..5,
    );
    runner
        .run(&targets, |targets| {
            let printed = targets
                .iter()
                .map(|(region, url)| format!("{region}={url}"))
                .collect::<Vec<_>>()
                .join(",");
            prop_assert_eq!(parse_region_targets(&printed), Ok(targets));
            Ok(())
        })
        .unwrap();
}

/// Settings of `minoots serve` a file may hold, with values of every TOML type.
const SETTINGS: [&str; 8] = [
    "listen",
    "timer-retention",
    "event-retention",
    "quota-active-timers",
    "rate-limits",
    "sqlite-synchronous",
    "lease-heartbeat-ms",
    "webhook-allow",
];

fn toml_value() -> impl Strategy<Value = toml::Value> {
    prop_oneof![
        any_text().prop_map(toml::Value::String),
        any::<i64>().prop_map(toml::Value::Integer),
        any::<f64>().prop_map(toml::Value::Float),
        any::<bool>().prop_map(toml::Value::Boolean),
        prop::collection::vec(any_text().prop_map(toml::Value::String), 0..3)
            .prop_map(toml::Value::Array),
        Just(toml::Value::Table(toml::Table::new())),
    ]
}

#[test]
fn parsers_config_files_never_crash_the_binary_and_errors_name_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let mut runner = TestRunner::new(config(32));
    let key = prop_oneof![
        4 => prop::sample::select(SETTINGS.to_vec()).prop_map(str::to_owned),
        1 => "[a-z][a-z_-]{0,10}",
    ];
    runner
        .run(&(key, toml_value()), |(key, value)| {
            let mut table = toml::Table::new();
            table.insert(key.clone(), value);
            let text = toml::to_string(&table).unwrap();
            std::fs::write(dir.path().join("minoots.toml"), &text).unwrap();
            let mut command = Command::new(env!("CARGO_BIN_EXE_minoots"));
            command.current_dir(dir.path());
            for (name, _) in std::env::vars() {
                if name.starts_with("MINOOTS_") || name.starts_with("KERNEL_") {
                    command.env_remove(name);
                }
            }
            let output = command
                .args(["config", "print", "serve", "--json"])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            prop_assert!(
                !stderr.contains("panicked") && output.status.code().is_some(),
                "{text}: {stderr}"
            );
            if !output.status.success() {
                let named = [key.clone(), key.replace('_', "-"), key.replace('-', "_")]
                    .iter()
                    .any(|k| stderr.contains(k.as_str()));
                prop_assert!(named, "{text}: the error names no setting: {stderr}");
            }
            Ok(())
        })
        .unwrap();
}
