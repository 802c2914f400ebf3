//! Events on NATS JetStream through the outbox, against the real NATS at NATS_URL: the kernel
//! reaches NATS through a TCP proxy this test cuts and restores, so NATS is unreachable while
//! timers fire; when it is back every event arrives, none twice, in order per timer, signed, and
//! the dead letter of a failed timer arrives on the DLQ subject.

mod common;

use std::{
    collections::{HashMap, HashSet},
    process::Stdio,
    time::Duration,
};

use common::{Server, WAIT};
use minoots::proto;
use minoots_kernel::signing::{DEV_SECRET, Signer};
use serde_json::{Value, json};
use tokio_stream::StreamExt;

async fn finished(
    events: &mut (impl tokio_stream::Stream<Item = Result<proto::TimerEvent, minoots::Error>> + Unpin),
    ids: &HashSet<String>,
) {
    let mut left = ids.clone();
    tokio::time::timeout(WAIT, async {
        while !left.is_empty() {
            let event = events.next().await.unwrap().unwrap();
            if matches!(
                event.event_type(),
                proto::TimerEventType::Settled | proto::TimerEventType::Failed
            ) {
                left.remove(&event.timer_id);
            }
        }
    })
    .await
    .expect("every timer finished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_written_while_nats_is_down_arrive_once_in_order_when_it_is_back() {
    let Some((nats_url, nats)) = minoots_kernel::testing::nats("nats outage").await else {
        return;
    };
    let upstream = nats_url.trim_start_matches("nats://").to_owned();
    let proxy = common::Proxy::start(upstream).await;
    let unique = uuid::Uuid::now_v7().simple().to_string();
    let (stream_name, prefix) = (
        format!("MINOOTS_TEST_{unique}"),
        format!("test{unique}.timer"),
    );
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "--dev",
        "--data-dir",
        &dir.path().display().to_string(),
        "--nats-url",
        &format!("nats://127.0.0.1:{}", proxy.port),
        "--nats-stream",
        &stream_name,
        "--nats-subject-prefix",
        &prefix,
    ]
    .map(str::to_owned)
    .to_vec();
    let server = Server::run("serve", &args, Stdio::inherit()).await;
    let js = async_nats::jetstream::new(nats);
    // The kernel creates the stream on start.
    let mut stream = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(stream) = js.get_stream(&stream_name).await {
                return stream;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the stream is created");
    let http = common::http();
    let schedule = |body: Value| {
        http.post(format!("{}/timers", server.url))
            .header("x-tenant-id", "acme")
            .json(&body)
            .send()
    };
    let client = common::client(&server.url, "acme").await;
    let mut events = client
        .stream(minoots::StreamOptions::default())
        .await
        .unwrap();

    // One timer while NATS is reachable: its four events reach the stream.
    let first: Value = schedule(json!({"name": "before", "duration": "10ms"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    finished(
        &mut events,
        &HashSet::from([first["id"].as_str().unwrap().to_owned()]),
    )
    .await;
    tokio::time::timeout(WAIT, async {
        while stream.info().await.unwrap().state.messages < 4 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("events published while NATS is up");

    // NATS unreachable: 20 timers fire and settle, one fails and is dead-lettered.
    proxy.cut();
    let mut ids = HashSet::new();
    for i in 0..20 {
        let timer: Value = schedule(json!({"name": format!("during-{i}"), "duration": "10ms"}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.insert(timer["id"].as_str().unwrap().to_owned());
    }
    let failing: Value = schedule(
        json!({"name": "doomed", "duration": "10ms", "actionBundle": {
            "actions": [{"type": "webhook", "url": "http://10.9.9.9/hook"}],
        }}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let failing_id = failing["id"].as_str().unwrap().to_owned();
    ids.insert(failing_id.clone());
    finished(&mut events, &ids).await;
    assert_eq!(
        stream.info().await.unwrap().state.messages,
        4,
        "nothing got through the cut"
    );

    // Back: the outbox drains. 22 timers x 4 events, plus one dead letter.
    proxy.restore();
    let expected = 22 * 4 + 1;
    tokio::time::timeout(WAIT, async {
        while stream.info().await.unwrap().state.messages < expected {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("every event arrives once NATS is back");

    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut seen = HashSet::new();
    let mut per_timer: HashMap<String, Vec<String>> = HashMap::new();
    let mut dead = None;
    for _ in 0..expected {
        let message = tokio::time::timeout(WAIT, messages.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let headers = message.headers.clone().unwrap();
        let id = headers.get("Nats-Msg-Id").unwrap().to_string();
        assert!(seen.insert(id.clone()), "{id} arrived twice");
        // Signed over the exact bytes on the wire.
        let signed = Signer::new(&[DEV_SECRET]).unwrap().sign(
            headers.get("webhook-id").unwrap().as_str(),
            headers
                .get("webhook-timestamp")
                .unwrap()
                .as_str()
                .parse()
                .unwrap(),
            &message.payload,
        );
        assert_eq!(
            headers.get("webhook-signature").unwrap().as_str(),
            signed.unwrap().signature
        );
        let body: Value = serde_json::from_slice(&message.payload).unwrap();
        if message.subject.as_str() == format!("{prefix}.dlq") {
            dead = Some(body);
        } else {
            let timer = body["data"]["id"].as_str().unwrap().to_owned();
            per_timer
                .entry(timer)
                .or_default()
                .push(message.subject.to_string());
        }
    }
    assert_eq!(
        stream.info().await.unwrap().state.messages,
        expected,
        "no duplicates were stored"
    );
    let order: Vec<String> = ["scheduled", "armed", "fired", "settled"]
        .iter()
        .map(|t| format!("{prefix}.{t}"))
        .collect();
    for (timer, subjects) in &per_timer {
        if *timer == failing_id {
            assert_eq!(subjects.last().unwrap(), &format!("{prefix}.failed"));
        } else {
            assert_eq!(subjects, &order, "events of {timer} in order");
        }
    }
    let dead = dead.expect("the dead letter is on the DLQ subject");
    assert_eq!(dead["timerId"], failing_id.as_str());
    assert!(
        dead["lastError"]
            .as_str()
            .unwrap()
            .contains("private address")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_prompt_over_nats_waits_for_the_agents_acknowledgement() {
    let Some((nats_url, nats)) = minoots_kernel::testing::nats("nats agent").await else {
        return;
    };
    let subject = format!("agents.{}.inbox", uuid::Uuid::now_v7().simple());
    let mut inbox = nats.subscribe(subject.clone()).await.unwrap();
    // The agent: acknowledges each prompt with a reply.
    let agent = {
        let nats = nats.clone();
        tokio::spawn(async move {
            let mut prompts = Vec::new();
            while let Some(message) = inbox.next().await {
                let body: Value = serde_json::from_slice(&message.payload).unwrap();
                prompts.push(body.clone());
                if let Some(reply) = message.reply {
                    nats.publish(
                        reply,
                        format!("ack {}", body["prompt"].as_str().unwrap()).into(),
                    )
                    .await
                    .unwrap();
                    nats.flush().await.unwrap();
                }
                if prompts.len() == 1 {
                    return prompts;
                }
            }
            prompts
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "--dev",
        "--data-dir",
        &dir.path().display().to_string(),
        "--nats-url",
        &nats_url,
        "--nats-stream",
        &format!("MINOOTS_AGENT_{}", uuid::Uuid::now_v7().simple()),
        "--nats-subject-prefix",
        &format!("agent{}.timer", uuid::Uuid::now_v7().simple()),
    ]
    .map(str::to_owned)
    .to_vec();
    let server = Server::run("serve", &args, Stdio::inherit()).await;
    let client = common::client(&server.url, "acme").await;
    let mut events = client
        .stream(minoots::StreamOptions::default())
        .await
        .unwrap();
    let timer: Value = common::http()
        .post(format!("{}/timers", server.url))
        .header("x-tenant-id", "acme")
        .json(&json!({"name": "nudge", "duration": "10ms", "actionBundle": {"actions": [
            {"type": "agent_prompt", "adapter": "nats", "target": subject, "prompt": "check the deploy", "ackTimeoutMs": 5000},
        ]}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = timer["id"].as_str().unwrap().to_owned();
    let done = tokio::time::timeout(WAIT, async {
        loop {
            let event = events.next().await.unwrap().unwrap();
            if event.timer_id == id && event.event_type() == proto::TimerEventType::Settled {
                return event.timer.unwrap();
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(done.action_results[0].output, "ack check the deploy");
    let prompts = agent.await.unwrap();
    assert_eq!(prompts[0]["timer"]["id"], id.as_str());

    // Nobody listening: no acknowledgement, the timer fails.
    let lonely: Value = common::http()
        .post(format!("{}/timers", server.url))
        .header("x-tenant-id", "acme")
        .json(&json!({"name": "unheard", "duration": "10ms", "actionBundle": {
            "actions": [{"type": "agent_prompt", "adapter": "nats", "target": "agents.nobody.inbox", "prompt": "hello?", "ackTimeoutMs": 500}],
            "retryPolicy": {"maxAttempts": 1},
        }}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lonely_id = lonely["id"].as_str().unwrap().to_owned();
    let failed = tokio::time::timeout(WAIT, async {
        loop {
            let event = events.next().await.unwrap().unwrap();
            if event.timer_id == lonely_id && event.event_type() == proto::TimerEventType::Failed {
                return event.timer.unwrap();
            }
        }
    })
    .await
    .unwrap();
    assert!(
        failed.failure_reason.contains("no acknowledgement"),
        "{}",
        failed.failure_reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_subject_names_put_every_event_on_one_subject_and_dead_letters_on_another() {
    let Some((nats_url, nats)) = minoots_kernel::testing::nats("original subjects").await else {
        return;
    };
    let unique = uuid::Uuid::now_v7().simple().to_string();
    let (stream_name, events_subject, dlq_subject) = (
        format!("MINOOTS_TEST_{unique}"),
        format!("legacy{unique}.events"),
        format!("legacy{unique}.dead"),
    );
    let mut on_events = nats.subscribe(events_subject.clone()).await.unwrap();
    let mut on_dlq = nats.subscribe(dlq_subject.clone()).await.unwrap();
    nats.flush().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A prefix of its own, so the stream overlaps no other test's.
    let prefix = format!("legacy{unique}.timer");
    let args: Vec<String> = [
        "--dev",
        "--data-dir",
        &dir.path().display().to_string(),
        "--nats-subject-prefix",
        &prefix,
    ]
    .map(str::to_owned)
    .to_vec();
    // Otherwise only the deployment guide's names: no MINOOTS_* or flags for NATS.
    let env = [
        ("NATS_JETSTREAM_URL", nats_url.as_str()),
        ("NATS_JETSTREAM_STREAM", stream_name.as_str()),
        ("NATS_SUBJECT", events_subject.as_str()),
        ("NATS_DLQ_SUBJECT", dlq_subject.as_str()),
    ];
    let server = Server::run_with_env("serve", &args, &env, Stdio::inherit()).await;
    let http = common::http();
    let failing: Value = http
        .post(format!("{}/timers", server.url))
        .header("x-tenant-id", "acme")
        .json(
            &json!({"name": "doomed", "duration": "10ms", "actionBundle": {
                "actions": [{"type": "webhook", "url": "http://10.9.9.9/hook"}],
            }}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = failing["id"].as_str().unwrap();
    let mut types = Vec::new();
    tokio::time::timeout(WAIT, async {
        while types.last().map(String::as_str) != Some("timer.failed") {
            let message = on_events.next().await.unwrap();
            let body: Value = serde_json::from_slice(&message.payload).unwrap();
            assert_eq!(body["data"]["id"], id);
            types.push(body["type"].as_str().unwrap().to_owned());
        }
    })
    .await
    .expect("every event on the one subject");
    assert_eq!(
        types,
        [
            "timer.scheduled",
            "timer.armed",
            "timer.fired",
            "timer.failed"
        ]
    );
    let dead = tokio::time::timeout(WAIT, on_dlq.next())
        .await
        .expect("the dead letter on its subject")
        .unwrap();
    let dead: Value = serde_json::from_slice(&dead.payload).unwrap();
    assert_eq!(dead["timerId"], id);
    let stream = async_nats::jetstream::new(nats)
        .get_stream(&stream_name)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .config
        .subjects
        .clone();
    assert!(
        stream.contains(&events_subject) && stream.contains(&dlq_subject),
        "{stream:?}"
    );
}
