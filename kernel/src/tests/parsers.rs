//! Property tests of the kernel's parsers: label selectors, page tokens, schedule requests as
//! validation sees them, JSON metadata and action bundles. For any input: no panic; a refusal
//! is INVALID_ARGUMENT naming the field (and, where an entry is at fault, the entry); what is
//! accepted and has a printer reads back as the same value.

use std::collections::BTreeMap;

use proptest::{
    prelude::*,
    test_runner::{Config, TestRunner},
};
use serde_json::{Value, json};

use super::*;
use crate::{
    actions::validate_bundle,
    json::{action_bundle_from_json, action_bundle_to_json, json_to_struct},
    labels::{LabelSelector, Requirement},
};

const CASES: u32 = 256;

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// A runtime and a kernel on a memory store, shared by every case of one property.
fn kernel() -> (tokio::runtime::Runtime, Kernel) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let kernel = runtime.block_on(start(Arc::new(MemoryStore::new()), &ManualClock::new(T0)));
    (runtime, kernel)
}

/// Whether `message` quotes `input`: whole, or (a long input) its first characters.
fn quotes(message: &str, input: &str) -> bool {
    let start: String = input.chars().take(32).collect();
    let quoted = format!("{start:?}");
    message.contains(&quoted[..quoted.len() - 1])
}

fn field_of(error: &KernelError) -> &str {
    match error {
        KernelError::InvalidArgument { field, .. } => field,
        other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Generators

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,16}",
        "[a-zA-Z0-9=!,. /_-]{0,24}",
        "[\\x00-\\x1f\\u{7f}-\\u{9f}a]{0,4}",
        (1usize..400).prop_map(|n| "x".repeat(n)),
    ]
}

fn label_key() -> impl Strategy<Value = String> {
    let name = "[A-Za-z0-9]([A-Za-z0-9._-]{0,10}[A-Za-z0-9])?";
    let prefix = "[a-z0-9]([a-z0-9.-]{0,10}[a-z0-9])?";
    (proptest::option::of(prefix), name).prop_map(|(prefix, name)| match prefix {
        Some(prefix) => format!("{prefix}/{name}"),
        None => name,
    })
}

fn requirement() -> impl Strategy<Value = Requirement> {
    let value = "[A-Za-z0-9._-]{0,12}";
    prop_oneof![
        (label_key(), value).prop_map(|(k, v)| Requirement::Equals(k, v)),
        (label_key(), value).prop_map(|(k, v)| Requirement::NotEquals(k, v)),
        label_key().prop_map(Requirement::Exists),
        label_key().prop_map(Requirement::NotExists),
    ]
}

fn print_selector(requirements: &[Requirement]) -> String {
    requirements
        .iter()
        .map(|r| match r {
            Requirement::Equals(k, v) => format!("{k}={v}"),
            Requirement::NotEquals(k, v) => format!("{k}!={v}"),
            Requirement::Exists(k) => k.clone(),
            Requirement::NotExists(k) => format!("!{k}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Any JSON value, a few levels deep.
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

/// A JSON value for `key` of an action: often plausible, sometimes anything.
fn action_field(key: &'static str) -> BoxedStrategy<Value> {
    let plausible: BoxedStrategy<Value> = match key {
        "type" => prop::sample::select(vec![
            "webhook",
            "command",
            "file",
            "agent_prompt",
            "agentPrompt",
            "sms",
        ])
        .prop_map(|s| json!(s))
        .boxed(),
        "url" | "target" => prop::sample::select(vec![
            "https://example.com/hook",
            "http://127.0.0.1:9/x",
            "ftp://example.com",
            "not a url",
            "https://user:pw@example.com/",
            "",
        ])
        .prop_map(|s| json!(s))
        .boxed(),
        "method" => prop::sample::select(vec!["POST", "get", "TRACE", ""])
            .prop_map(|s| json!(s))
            .boxed(),
        "headers" | "env" => prop::collection::btree_map("[a-zA-Z: \r\n-]{0,8}", ".{0,8}", 0..3)
            .prop_map(|m| json!(m))
            .boxed(),
        "timeoutMs" | "ackTimeoutMs" => prop_oneof![0u64..700_000, any::<u64>()]
            .prop_map(|n| json!(n))
            .boxed(),
        "args" => prop::collection::vec(".{0,8}", 0..3)
            .prop_map(|v| json!(v))
            .boxed(),
        "mode" => prop::sample::select(vec!["write", "append", "truncate"])
            .prop_map(|s| json!(s))
            .boxed(),
        "adapter" => prop::sample::select(vec!["mcp", "http", "nats", "carrier-pigeon"])
            .prop_map(|s| json!(s))
            .boxed(),
        "body" | "arguments" => prop::collection::btree_map("[a-z]{1,4}", json_value(), 0..3)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
            .boxed(),
        _ => "[a-zA-Z0-9 ./_-]{0,16}".prop_map(|s| json!(s)).boxed(),
    };
    prop_oneof![4 => plausible, 1 => json_value()].boxed()
}

const ACTION_KEYS: [&str; 16] = [
    "type",
    "id",
    "url",
    "method",
    "headers",
    "body",
    "timeoutMs",
    "program",
    "args",
    "env",
    "path",
    "mode",
    "content",
    "adapter",
    "target",
    "prompt",
];

fn action_json() -> impl Strategy<Value = Value> {
    let fields: Vec<_> = ACTION_KEYS
        .iter()
        .map(|key| {
            proptest::option::weighted(if *key == "type" { 0.95 } else { 0.4 }, action_field(key))
        })
        .collect();
    (fields, proptest::option::weighted(0.05, ".{1,6}")).prop_map(|(values, unknown)| {
        let mut object = serde_json::Map::new();
        for (key, value) in ACTION_KEYS.iter().zip(values) {
            if let Some(value) = value {
                object.insert((*key).to_owned(), value);
            }
        }
        if let Some(unknown) = unknown {
            object.insert(unknown, json!(1));
        }
        Value::Object(object)
    })
}

fn bundle_json() -> impl Strategy<Value = Value> {
    let retry = (
        proptest::option::of(0u32..20),
        proptest::option::of(0u64..100_000),
        proptest::option::of(-1.0f64..10.0),
        proptest::option::of(0.0f64..2.0),
    )
        .prop_map(|(attempts, backoff, multiplier, jitter)| {
            let mut r = serde_json::Map::new();
            if let Some(a) = attempts {
                r.insert("maxAttempts".into(), json!(a));
            }
            if let Some(b) = backoff {
                r.insert("initialBackoffMs".into(), json!(b));
            }
            if let Some(m) = multiplier {
                r.insert("multiplier".into(), json!(m));
            }
            if let Some(j) = jitter {
                r.insert("jitter".into(), json!(j));
            }
            Value::Object(r)
        });
    let structured = (
        prop::collection::vec(action_json(), 0..4),
        proptest::option::of(retry),
        proptest::option::of(0u32..100),
        proptest::option::weighted(0.2, action_json()),
    )
        .prop_map(|(actions, retry, concurrency, fallback)| {
            let mut b = serde_json::Map::new();
            b.insert("actions".into(), Value::Array(actions));
            if let Some(r) = retry {
                b.insert("retryPolicy".into(), r);
            }
            if let Some(c) = concurrency {
                b.insert("concurrency".into(), json!(c));
            }
            if let Some(f) = fallback {
                b.insert("fallback".into(), f);
            }
            Value::Object(b)
        });
    prop_oneof![4 => structured, 1 => json_value()]
}

// ---------------------------------------------------------------------------------------------
// Label selectors

#[test]
fn parsers_label_selectors_never_panic_and_errors_name_the_label() {
    let mut runner = TestRunner::new(config(CASES));
    runner
        .run(&any_text(), |text| {
            if let Err(message) = LabelSelector::parse(&text) {
                prop_assert!(message.contains("label"), "{message:?} names no label");
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn parsers_label_selectors_round_trip() {
    let mut runner = TestRunner::new(config(CASES));
    runner
        .run(
            &prop::collection::vec(requirement(), 0..6),
            |requirements| {
                let printed = print_selector(&requirements);
                let parsed = LabelSelector::parse(&printed);
                prop_assert_eq!(parsed, Ok(LabelSelector { requirements }), "{}", printed);
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn parsers_label_selectors_in_a_list_are_refused_as_label_selector() {
    let (runtime, kernel) = kernel();
    let mut runner = TestRunner::new(config(CASES));
    runner
        .run(&any_text(), |selector| {
            let request = ListTimersRequest {
                label_selector: selector.clone(),
                ..Default::default()
            };
            let result = runtime.block_on(kernel.list("acme", request));
            match (LabelSelector::parse(&selector), result) {
                (Ok(_), Ok(_)) => {}
                (Err(_), Err(error)) => prop_assert_eq!(field_of(&error), "label_selector"),
                (parsed, listed) => {
                    prop_assert!(false, "parse {parsed:?} but list {listed:?}")
                }
            }
            Ok(())
        })
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Page tokens

fn page_token_of(id: &str) -> String {
    // The kernel's encoding, so a token for any id can be forged.
    id.bytes().map(|b| format!("{:02x}", b ^ 0x5a)).collect()
}

#[test]
fn parsers_page_tokens_never_panic_and_errors_name_page_token() {
    let (runtime, kernel) = kernel();
    let tokens = prop_oneof![
        any_text(),
        "[0-9a-fA-F+-]{0,80}",
        any::<u128>().prop_map(|n| page_token_of(&uuid::Uuid::from_u128(n).to_string())),
        ".{0,40}".prop_map(|id| page_token_of(&id)),
    ];
    let mut runner = TestRunner::new(config(CASES));
    runner
        .run(&tokens, |page_token| {
            let request = ListTimersRequest {
                page_token,
                ..Default::default()
            };
            if let Err(error) = runtime.block_on(kernel.list("acme", request)) {
                prop_assert_eq!(field_of(&error), "page_token");
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn parsers_page_tokens_walk_every_timer_once() {
    let (runtime, kernel) = kernel();
    // Timers accumulate across cases; the runner takes a `Fn`.
    let scheduled = std::cell::RefCell::new(Vec::<String>::new());
    let mut runner = TestRunner::new(config(64));
    runner
        .run(&(0usize..12, 1u32..8), |(more, page_size)| {
            runtime.block_on(async {
                for _ in 0..more {
                    let timer = kernel
                        .schedule("acme", request("paged", 3_600 * SEC))
                        .await
                        .unwrap()
                        .timer
                        .unwrap();
                    scheduled.borrow_mut().push(timer.id);
                }
                let mut seen = Vec::new();
                let mut page_token = String::new();
                loop {
                    let page = kernel
                        .list(
                            "acme",
                            ListTimersRequest {
                                page_size,
                                page_token: page_token.clone(),
                                ..Default::default()
                            },
                        )
                        .await
                        .unwrap();
                    prop_assert!(page.timers.len() <= page_size as usize);
                    seen.extend(page.timers.into_iter().map(|t| t.id));
                    if page.next_page_token.is_empty() {
                        break;
                    }
                    page_token = page.next_page_token;
                }
                let mut expected = scheduled.borrow().clone();
                expected.sort();
                let mut walked = seen.clone();
                walked.sort();
                prop_assert_eq!(
                    walked,
                    expected,
                    "pages of {} missed or repeated",
                    page_size
                );
                Ok(())
            })
        })
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Schedule requests, JSON metadata and action bundles

const REQUEST_FIELDS: [&str; 9] = [
    "name",
    "requested_by",
    "idempotency_key",
    "duration",
    "fire_at",
    "labels",
    "metadata",
    "action_bundle",
    "agent_binding",
];

fn schedule_request() -> impl Strategy<Value = ScheduleTimerRequest> {
    let schedule = prop_oneof![
        Just(None),
        (any::<i64>(), any::<i32>()).prop_map(|(seconds, nanos)| Some(Schedule::Duration(
            prost_types::Duration { seconds, nanos }
        ))),
        (1i64..100_000, 0i32..1_000_000_000).prop_map(|(seconds, nanos)| Some(Schedule::Duration(
            prost_types::Duration { seconds, nanos }
        ))),
        (any::<i64>(), any::<i32>()).prop_map(|(seconds, nanos)| Some(Schedule::FireAt(
            prost_types::Timestamp { seconds, nanos }
        ))),
    ];
    let labels = prop::collection::btree_map(
        prop_oneof![label_key(), any_text()],
        prop_oneof![".{0,8}", any_text()],
        0..4,
    );
    let metadata = proptest::option::of(
        prop::collection::btree_map(".{0,6}", json_value(), 0..4)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
    );
    (
        prop_oneof![Just("ok".to_owned()), any_text()],
        prop_oneof![Just(String::new()), any_text()],
        prop_oneof![Just(String::new()), any_text()],
        schedule,
        labels,
        metadata,
        proptest::option::weighted(0.5, bundle_json()),
    )
        .prop_map(
            |(name, requested_by, idempotency_key, schedule, labels, metadata, bundle)| {
                ScheduleTimerRequest {
                    name,
                    requested_by,
                    idempotency_key,
                    schedule,
                    labels,
                    metadata: metadata.map(|m| json_to_struct("metadata", &m).unwrap()),
                    action_bundle: bundle.and_then(|b| action_bundle_from_json(&b).ok()),
                    ..Default::default()
                }
            },
        )
}

#[test]
fn parsers_schedule_requests_are_accepted_or_refused_naming_the_field() {
    let mut runner = TestRunner::new(config(CASES));
    runner
        .run(&schedule_request(), |request| {
            let id = uuid::Uuid::now_v7().to_string();
            if let Err(error) = validate::schedule(&request, "acme", id, T0) {
                let KernelError::InvalidArgument { field, message } = &error else {
                    panic!("expected INVALID_ARGUMENT, got {error:?}");
                };
                let top = field.split(['.', '[']).next().unwrap_or_default();
                prop_assert!(
                    REQUEST_FIELDS.contains(&top),
                    "{field:?} is not a request field"
                );
                prop_assert!(!message.is_empty());
                if field == "labels" {
                    // The offending entry is named too.
                    let named = request.labels.iter().any(|(k, _)| quotes(message, k));
                    prop_assert!(
                        named || message.contains("at most"),
                        "{message:?} names no label"
                    );
                }
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn parsers_json_metadata_is_an_object_or_refused_as_metadata() {
    let mut runner = TestRunner::new(config(CASES));
    runner
        .run(&json_value(), |value| {
            match json_to_struct("metadata", &value) {
                Ok(s) => {
                    prop_assert!(value.is_object());
                    prop_assert_eq!(s.fields.len(), value.as_object().unwrap().len());
                }
                Err(e) => {
                    prop_assert!(!value.is_object());
                    prop_assert_eq!(e.field, "metadata");
                }
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn parsers_action_bundles_never_panic_errors_name_the_action_and_valid_ones_round_trip() {
    let mut runner = TestRunner::new(config(CASES));
    // The generator must reach every outcome, or the property says little.
    let outcomes = std::cell::RefCell::new([0usize; 3]);
    runner
        .run(&bundle_json(), |value| {
            let bundle = match action_bundle_from_json(&value) {
                Ok(bundle) => bundle,
                Err(e) => {
                    outcomes.borrow_mut()[0] += 1;
                    prop_assert!(
                        e.field.starts_with("action_bundle"),
                        "{:?} is not under action_bundle",
                        e.field
                    );
                    prop_assert!(!e.message.is_empty());
                    return Ok(());
                }
            };
            match validate_bundle(&bundle) {
                Err(error) => {
                    outcomes.borrow_mut()[1] += 1;
                    let field = field_of(&error);
                    prop_assert!(
                        field.starts_with("action_bundle"),
                        "{field:?} is not under action_bundle"
                    );
                }
                Ok(()) => {
                    outcomes.borrow_mut()[2] += 1;
                    let printed = action_bundle_to_json(&bundle);
                    let again = action_bundle_from_json(&printed);
                    prop_assert_eq!(again.as_ref(), Ok(&bundle), "{}", printed);
                }
            }
            Ok(())
        })
        .unwrap();
    let [unparsed, invalid, valid] = *outcomes.borrow();
    println!(
        "action bundles: {unparsed} refused by the JSON form, {invalid} by validation, {valid} round-tripped"
    );
    assert!(
        unparsed > 0 && invalid > 0 && valid > 0,
        "{:?}",
        outcomes.borrow()
    );
}

#[test]
fn parsers_label_maps_name_the_offending_key() {
    let mut runner = TestRunner::new(config(CASES));
    let labels = prop::collection::btree_map(any_text(), any_text(), 1..4);
    runner
        .run(&labels, |labels: BTreeMap<String, String>| {
            for (key, value) in &labels {
                if let Err(m) = crate::labels::check_key(key) {
                    prop_assert!(quotes(&m, key), "{m:?}");
                }
                if let Err(m) = crate::labels::check_value(key, value) {
                    prop_assert!(quotes(&m, key), "{m:?}");
                }
            }
            Ok(())
        })
        .unwrap();
}
