//! Delivery control against real HTTP receivers on loopback: a receiver's `Retry-After`,
//! caller-set flow control under a burst, and the bundle's `on_success` / `on_failure`
//! callbacks. Timers fire on the manual clock; the waits asserted are lower bounds (a sleep
//! never ends early), so a slow machine cannot fail them.

use std::{
    collections::VecDeque,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
    routing::post,
};
use minoots_proto::v1::{FlowControl, RetryPolicy};
use tokio::sync::watch;

use super::*;
use crate::{actions::net::AddressPolicy, signing::Signer};

const SECRET: &str = minoots_proto::signing::DEV_SECRET;

#[derive(Debug, Clone)]
struct Hit {
    at: Instant,
    headers: HeaderMap,
    body: Bytes,
}

/// What a receiver answers: a status and, optionally, a `Retry-After`.
#[derive(Debug, Clone)]
struct Answer(u16, Option<String>);

/// An HTTP receiver on 127.0.0.1:0: scripted answers, then `then`; it counts requests in
/// flight (each is held `hold` before the answer) and records every hit.
#[derive(Clone)]
struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
    then: Arc<Mutex<Answer>>,
    hold: Duration,
    in_flight: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    count: watch::Sender<usize>,
}

impl Receiver {
    async fn start(script: Vec<Answer>, then: Answer, hold: Duration) -> (Self, String) {
        let receiver = Self {
            hits: Arc::default(),
            script: Arc::new(Mutex::new(script.into())),
            then: Arc::new(Mutex::new(then)),
            hold,
            in_flight: Arc::default(),
            most: Arc::default(),
            count: watch::Sender::new(0),
        };
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Waits until `n` requests have arrived (the timeout only turns a hang into a failure).
    async fn arrived(&self, n: usize) {
        let mut count = self.count.subscribe();
        tokio::time::timeout(Duration::from_secs(300), count.wait_for(|c| *c >= n))
            .await
            .unwrap_or_else(|_| panic!("{n} requests arrived (got {})", *self.count.borrow()))
            .unwrap();
    }
}

async fn receive(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let now = receiver.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    receiver.most.fetch_max(now, Ordering::SeqCst);
    receiver.hits.lock().unwrap().push(Hit {
        at: Instant::now(),
        headers,
        body,
    });
    if !receiver.hold.is_zero() {
        tokio::time::sleep(receiver.hold).await;
    }
    let Answer(status, retry_after) = receiver
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| receiver.then.lock().unwrap().clone());
    receiver.in_flight.fetch_sub(1, Ordering::SeqCst);
    receiver.count.send_modify(|c| *c += 1);
    let mut response = StatusCode::from_u16(status).unwrap().into_response();
    if let Some(value) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", value.parse().unwrap());
    }
    response
}

/// A kernel on a manual clock whose actions may reach loopback and are signed with `SECRET`.
async fn kernel(clock: &ManualClock) -> Kernel {
    let config = KernelConfig {
        scheduler_thread: false,
        actions: crate::actions::ActionConfig {
            signer: Signer::new(&[SECRET]).unwrap(),
            address_policy: AddressPolicy::from_list("127.0.0.1").unwrap(),
            ..Default::default()
        },
        ..KernelConfig::default()
    };
    Kernel::start(
        Arc::new(MemoryStore::new()),
        Arc::new(clock.clone()),
        config,
    )
    .await
    .unwrap()
}

fn webhook(url: &str, flow_control: Option<FlowControl>) -> Action {
    Action {
        id: String::new(),
        kind: Some(Kind::Webhook(WebhookAction {
            url: url.into(),
            flow_control,
            ..Default::default()
        })),
    }
}

fn retry(max_attempts: u32, initial_ms: u64, max_ms: u64) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_backoff: Some(to_duration(initial_ms as Micros * 1_000)),
        multiplier: 2.0,
        max_backoff: Some(to_duration(max_ms as Micros * 1_000)),
        jitter: 0.0,
    }
}

fn with_bundle(name: &str, bundle: ActionBundle) -> ScheduleTimerRequest {
    let mut request = request(name, SEC);
    request.action_bundle = Some(bundle);
    request
}

/// Waits until every one of `ids` settles or fails, in any order; returns them by id. The
/// timeout only turns a hang into a failure (a burst of 20,000 fires is slow in a debug build
/// on a busy machine).
async fn finished(
    rx: &mut mpsc::Receiver<Result<TimerEvent>>,
    ids: &[&str],
) -> HashMap<String, Timer> {
    let mut done = HashMap::new();
    while done.len() < ids.len() {
        let event = tokio::time::timeout(Duration::from_secs(120), rx.recv())
            .await
            .expect("an event within 120 s")
            .expect("the stream is open")
            .unwrap();
        let last = event.event_type == TimerEventType::Settled as i32
            || event.event_type == TimerEventType::Failed as i32;
        if last && ids.contains(&event.timer_id.as_str()) {
            done.insert(event.timer_id.clone(), event.timer.unwrap());
        }
    }
    done
}

/// The Standard Webhooks signature of a hit matches the bytes received.
fn assert_signed(hit: &Hit) {
    let header = |name: &str| hit.headers[name].to_str().unwrap().to_owned();
    let expected = Signer::new(&[SECRET])
        .unwrap()
        .sign(
            &header("webhook-id"),
            header("webhook-timestamp").parse().unwrap(),
            &hit.body,
        )
        .unwrap();
    assert!(
        header("webhook-signature")
            .split(' ')
            .any(|s| s == expected.signature),
        "signed over the delivered bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receivers_retry_after_is_waited_for_in_both_forms_and_capped() {
    let clock = ManualClock::new(T0);
    let kernel = kernel(&clock).await;
    let mut events = kernel.subscribe("acme", live()).await.unwrap();
    // The HTTP-date is in the kernel's time (the manual clock), two seconds after the fire.
    let date = httpdate::fmt_http_date(
        std::time::UNIX_EPOCH + Duration::from_micros((T0 + 3 * SEC) as u64),
    );
    let cases = [
        (
            "seconds",
            Answer(429, Some("1".into())),
            Duration::from_secs(1),
        ),
        ("date", Answer(503, Some(date)), Duration::from_secs(2)),
        // An hour asked, capped at the policy's max_backoff of 1 s.
        (
            "cap",
            Answer(429, Some("3600".into())),
            Duration::from_secs(1),
        ),
    ];
    let mut running = Vec::new();
    for (name, answer, _) in &cases {
        let (receiver, url) =
            Receiver::start(vec![answer.clone()], Answer(200, None), Duration::ZERO).await;
        let bundle = ActionBundle {
            actions: vec![webhook(&url, None)],
            // The backoff alone would be 10 ms.
            retry_policy: Some(retry(3, 10, 1_000)),
            ..Default::default()
        };
        let bundle = if *name == "date" {
            ActionBundle {
                retry_policy: Some(retry(3, 10, 5_000)),
                ..bundle
            }
        } else {
            bundle
        };
        let timer = kernel
            .schedule("acme", with_bundle(name, bundle))
            .await
            .unwrap()
            .timer
            .unwrap();
        running.push((receiver, timer.id));
    }
    clock.advance(Duration::from_secs(1));
    let ids: Vec<&str> = running.iter().map(|(_, id)| id.as_str()).collect();
    let mut done = finished(&mut events, &ids).await;
    for ((receiver, id), (name, _, waited)) in running.iter().zip(&cases) {
        let timer = done.remove(id).unwrap();
        assert_eq!(timer.status, TimerStatus::Settled as i32, "{name}");
        let result = &timer.action_results[0];
        assert_eq!((result.attempts, result.ok), (2, true), "{name}");
        let hits = receiver.hits();
        assert_eq!(hits.len(), 2, "{name}");
        let gap = hits[1].at - hits[0].at;
        assert!(gap >= *waited, "{name}: the retry came after {gap:?}");
        // The cap: an hour was asked; the retry came after the 1 s cap.
        if *name == "cap" {
            assert!(gap < Duration::from_secs(3_600));
        }
        // The same delivery, retried: one webhook-id.
        assert_eq!(hits[0].headers["webhook-id"], hits[1].headers["webhook-id"]);
    }
    kernel.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_on_the_last_attempt_is_reported_and_other_statuses_ignore_it() {
    let clock = ManualClock::new(T0);
    let kernel = kernel(&clock).await;
    let mut events = kernel.subscribe("acme", live()).await.unwrap();
    // 500 is not "come back later": its Retry-After is not waited for.
    let (busy, busy_url) =
        Receiver::start(vec![], Answer(503, Some("7".into())), Duration::ZERO).await;
    let (broken, broken_url) = Receiver::start(
        vec![Answer(500, Some("3600".into()))],
        Answer(200, None),
        Duration::ZERO,
    )
    .await;
    let busy_timer = kernel
        .schedule(
            "acme",
            with_bundle(
                "busy",
                ActionBundle {
                    actions: vec![webhook(&busy_url, None)],
                    retry_policy: Some(retry(1, 10, 1_000)),
                    ..Default::default()
                },
            ),
        )
        .await
        .unwrap()
        .timer
        .unwrap();
    let broken_timer = kernel
        .schedule(
            "acme",
            with_bundle(
                "broken",
                ActionBundle {
                    actions: vec![webhook(&broken_url, None)],
                    retry_policy: Some(retry(2, 10, 60_000)),
                    ..Default::default()
                },
            ),
        )
        .await
        .unwrap()
        .timer
        .unwrap();
    clock.advance(Duration::from_secs(1));
    let mut done = finished(&mut events, &[&busy_timer.id, &broken_timer.id]).await;
    let failed = done.remove(&busy_timer.id).unwrap();
    assert_eq!(failed.status, TimerStatus::Failed as i32);
    assert_eq!(failed.action_results[0].detail, "HTTP 503 (Retry-After: 7)");
    assert_eq!(busy.hits().len(), 1);
    let settled = done.remove(&broken_timer.id).unwrap();
    assert_eq!(settled.status, TimerStatus::Settled as i32);
    let hits = broken.hits();
    // Settled at all within the test's time: an hour was not waited.
    assert_eq!(hits.len(), 2);
    kernel.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_control_holds_a_tenants_limit_under_a_burst_and_other_tenants_stay_on_time() {
    const BURST: usize = 20_000;
    const LIMIT: usize = 8;
    const RATE: u32 = 1_000;
    let clock = ManualClock::new(T0);
    let kernel = kernel(&clock).await;
    // A's receiver takes 2 ms per request, so that requests overlap if they may.
    let (slow, slow_url) =
        Receiver::start(vec![], Answer(200, None), Duration::from_millis(2)).await;
    let (b_receiver, b_url) = Receiver::start(vec![], Answer(200, None), Duration::ZERO).await;
    let mut b_events = kernel.subscribe("globex", live()).await.unwrap();
    let limits = FlowControl {
        key: String::new(),
        max_concurrent: LIMIT as u32,
        max_per_second: RATE,
    };
    let a_bundle = ActionBundle {
        actions: vec![webhook(&slow_url, Some(limits.clone()))],
        retry_policy: Some(retry(1, 10, 1_000)),
        ..Default::default()
    };
    for chunk in 0..BURST / 1_000 {
        let requests = (0..1_000)
            .map(|i| with_bundle(&format!("a-{chunk}-{i}"), a_bundle.clone()))
            .collect();
        kernel.schedule_many("acme", requests).await.unwrap();
    }
    // B gives the same limits for the same destination key: its own, not shared with A.
    let mut b_ids = Vec::new();
    for i in 0..20 {
        let bundle = ActionBundle {
            actions: vec![webhook(&b_url, Some(limits.clone()))],
            ..Default::default()
        };
        let timer = kernel
            .schedule("globex", with_bundle(&format!("b-{i}"), bundle))
            .await
            .unwrap()
            .timer
            .unwrap();
        b_ids.push(timer.id);
    }

    // Everything is due at once.
    let fired = Instant::now();
    clock.advance(Duration::from_secs(1));
    let b_ids: Vec<&str> = b_ids.iter().map(String::as_str).collect();
    for timer in finished(&mut b_events, &b_ids).await.values() {
        assert_eq!(timer.status, TimerStatus::Settled as i32);
    }
    // B was not queued behind A's backlog: at most 1,000 a second, A is far from done.
    let a_so_far = *slow.count.borrow();
    eprintln!(
        "B done after {a_so_far} of A's deliveries, {:?} after the fire",
        fired.elapsed()
    );
    assert!(
        a_so_far <= BURST / 2,
        "B finished after {a_so_far} of A's deliveries"
    );
    assert_eq!(b_receiver.hits().len(), 20);

    slow.arrived(BURST).await;
    // Without flow control the server's own limit would allow 32 at once.
    let most = slow.most.load(Ordering::SeqCst);
    assert!(
        (2..=LIMIT).contains(&most),
        "overlapping, yet at most {LIMIT} at once: saw {most}"
    );
    // At most RATE starts a second: 20,000 take at least 20 s (less a margin for arrival
    // jitter), and any 2 * RATE consecutive arrivals span at least about 2 s.
    let at: Vec<Instant> = slow.hits().iter().map(|h| h.at).collect();
    let span = at[BURST - 1] - at[0];
    eprintln!("A's {BURST} arrived over {span:?}");
    assert!(span >= Duration::from_secs(18), "{span:?}");
    let window = 2 * RATE as usize;
    let tightest = (0..BURST - window)
        .map(|i| at[i + window] - at[i])
        .min()
        .unwrap();
    assert!(tightest >= Duration::from_millis(1_500), "{tightest:?}");
    kernel.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_follow_the_outcome_are_signed_recorded_and_dead_lettered_apart() {
    let clock = ManualClock::new(T0);
    let kernel = kernel(&clock).await;
    let mut events = kernel.subscribe("acme", live()).await.unwrap();
    let (ok, ok_url) = Receiver::start(vec![], Answer(200, None), Duration::ZERO).await;
    let (down, down_url) = Receiver::start(vec![], Answer(500, None), Duration::ZERO).await;
    let (callbacks, callbacks_url) =
        Receiver::start(vec![], Answer(200, None), Duration::ZERO).await;
    let (broken_callback, broken_callback_url) =
        Receiver::start(vec![], Answer(500, None), Duration::ZERO).await;
    let both = |action: &str, on_success: &str| ActionBundle {
        actions: vec![webhook(action, None)],
        retry_policy: Some(retry(2, 10, 100)),
        on_success: Some(Action {
            id: "done".into(),
            ..webhook(on_success, None)
        }),
        on_failure: Some(Action {
            id: "alarm".into(),
            ..webhook(&callbacks_url, None)
        }),
        ..Default::default()
    };
    let schedule = async |name: &str, bundle: ActionBundle| {
        kernel
            .schedule("acme", with_bundle(name, bundle))
            .await
            .unwrap()
            .timer
            .unwrap()
            .id
    };
    let succeeds = schedule("succeeds", both(&ok_url, &callbacks_url)).await;
    let fails = schedule("fails", both(&down_url, &callbacks_url)).await;
    let callback_fails = schedule("callback-fails", both(&ok_url, &broken_callback_url)).await;
    clock.advance(Duration::from_secs(1));
    let mut done = finished(&mut events, &[&succeeds, &fails, &callback_fails]).await;

    // Each callback delivery says what it follows, and is signed like any delivery.
    let hits = callbacks.hits();
    assert_eq!(
        hits.len(),
        2,
        "on_success of one timer, on_failure of the other"
    );
    let body_of = |id: &str| {
        let hit = hits
            .iter()
            .find(|h| h.headers["webhook-id"].to_str().unwrap().starts_with(id))
            .unwrap_or_else(|| panic!("a callback for {id}"));
        assert_signed(hit);
        (
            hit.headers["webhook-id"].to_str().unwrap().to_owned(),
            serde_json::from_slice::<serde_json::Value>(&hit.body).unwrap(),
        )
    };
    let (key, body) = body_of(&succeeds);
    assert_eq!(key, format!("{succeeds}:on_success"));
    assert_eq!(body["type"], "timer.on_success");
    assert_eq!(body["callback"], "on_success");
    assert_eq!(body["idempotencyKey"], key);
    assert_eq!(body["data"]["id"], succeeds.as_str());
    assert_eq!(body["outcome"]["status"], "settled");
    assert_eq!(body["outcome"]["actionResults"][0]["detail"], "HTTP 200");
    let (key, body) = body_of(&fails);
    assert_eq!(key, format!("{fails}:on_failure"));
    assert_eq!(body["type"], "timer.on_failure");
    assert_eq!(body["outcome"]["status"], "failed");
    assert!(
        body["outcome"]["failureReason"]
            .as_str()
            .unwrap()
            .contains("HTTP 500 after 2 attempts"),
        "{body}"
    );

    // Recorded after the actions, marked as callbacks; the outcome is the actions'.
    let timer = done.remove(&succeeds).unwrap();
    assert_eq!(timer.status, TimerStatus::Settled as i32);
    let callback = &timer.action_results[1];
    assert_eq!(
        (
            callback.callback.as_str(),
            callback.action_id.as_str(),
            callback.ok
        ),
        ("on_success", "done", true)
    );
    assert_eq!(timer.action_results[0].callback, "");
    let timer = done.remove(&fails).unwrap();
    assert_eq!(timer.status, TimerStatus::Failed as i32);
    assert_eq!(timer.action_results[1].callback, "on_failure");
    assert!(
        !timer.failure_reason.contains("alarm"),
        "{}",
        timer.failure_reason
    );
    assert_eq!(down.hits().len(), 2);
    // A failing callback is retried and dead-lettered, and the timer still settles.
    let timer = done.remove(&callback_fails).unwrap();
    assert_eq!(
        timer.status,
        TimerStatus::Settled as i32,
        "{}",
        timer.failure_reason
    );
    let result = &timer.action_results[1];
    assert_eq!(
        (result.callback.as_str(), result.ok, result.attempts),
        ("on_success", false, 2)
    );
    assert_eq!(broken_callback.hits().len(), 2);
    assert_eq!(ok.hits().len(), 2);
    let letters = kernel
        .dead_letters("acme", &ListDeadLettersRequest::default())
        .await
        .unwrap();
    let mut ids: Vec<&str> = letters.iter().map(|l| l.id.as_str()).collect();
    ids.sort_unstable();
    let mut expected = vec![format!("{fails}.0"), format!("{callback_fails}.on_success")];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    let letter = letters
        .iter()
        .find(|l| l.timer_id == callback_fails)
        .unwrap();
    assert_eq!(
        letter.idempotency_key,
        format!("{callback_fails}:on_success")
    );
    assert_eq!(letter.action.as_ref().unwrap().id, "done");

    // Its replay delivers the callback again with its key; the timer's outcome stays.
    *broken_callback.then.lock().unwrap() = Answer(200, None);
    let replayed = kernel.replay_dead_letter("acme", &letter.id).await.unwrap();
    assert!(replayed.result.as_ref().unwrap().ok);
    assert_eq!(replayed.result.unwrap().callback, "on_success");
    assert!(replayed.dead_letter.unwrap().resolved_at.is_some());
    assert_eq!(replayed.timer.unwrap().status, TimerStatus::Settled as i32);
    let hit = broken_callback.hits().pop().unwrap();
    assert_signed(&hit);
    assert_eq!(
        hit.headers["webhook-id"],
        format!("{callback_fails}:on_success").as_str()
    );
    let body: serde_json::Value = serde_json::from_slice(&hit.body).unwrap();
    assert_eq!(
        (body["type"].as_str(), body["outcome"]["status"].as_str()),
        (Some("timer.on_success"), Some("settled"))
    );
    kernel.shutdown().await;
}

#[tokio::test]
async fn callbacks_and_flow_control_are_validated_by_field() {
    let clock = ManualClock::new(T0);
    let kernel = kernel(&clock).await;
    let refused = async |bundle: ActionBundle| match kernel
        .schedule("acme", with_bundle("bad", bundle))
        .await
    {
        Err(KernelError::InvalidArgument { field, .. }) => field,
        other => panic!("refused: {other:?}"),
    };
    let flow = |max_concurrent, max_per_second| {
        Some(FlowControl {
            key: String::new(),
            max_concurrent,
            max_per_second,
        })
    };
    let hook = "https://example.com/hook";
    assert_eq!(
        refused(ActionBundle {
            actions: vec![webhook(hook, flow(1, 100_001))],
            ..Default::default()
        })
        .await,
        "action_bundle.actions[0].webhook.flow_control.max_per_second"
    );
    assert_eq!(
        refused(ActionBundle {
            actions: vec![webhook(hook, flow(0, 0))],
            ..Default::default()
        })
        .await,
        "action_bundle.actions[0].webhook.flow_control"
    );
    assert_eq!(
        refused(ActionBundle {
            on_success: Some(webhook("ftp://example.com", None)),
            ..Default::default()
        })
        .await,
        "action_bundle.on_success.webhook.url"
    );
    assert_eq!(
        refused(ActionBundle {
            on_failure: Some(webhook(hook, flow(5_000, 0))),
            ..Default::default()
        })
        .await,
        "action_bundle.on_failure.webhook.flow_control.max_concurrent"
    );
    let prompt = Action {
        id: String::new(),
        kind: Some(Kind::AgentPrompt(minoots_proto::v1::AgentPromptAction {
            adapter: minoots_proto::v1::AgentAdapter::Http as i32,
            target: hook.into(),
            flow_control: Some(FlowControl {
                key: "k".repeat(300),
                max_concurrent: 1,
                max_per_second: 0,
            }),
            ..Default::default()
        })),
    };
    assert_eq!(
        refused(ActionBundle {
            actions: vec![prompt],
            ..Default::default()
        })
        .await,
        "action_bundle.actions[0].agent_prompt.flow_control.key"
    );
    kernel.shutdown().await;
}

/// A receiver that records each request's arrival and answers 200 only once released.
async fn gated_receiver() -> (String, watch::Receiver<usize>, Arc<tokio::sync::Notify>) {
    #[derive(Clone)]
    struct Gate {
        arrived: Arc<watch::Sender<usize>>,
        open: Arc<tokio::sync::Notify>,
    }
    async fn hold(State(gate): State<Gate>) -> StatusCode {
        gate.arrived.send_modify(|n| *n += 1);
        gate.open.notified().await;
        StatusCode::OK
    }
    let gate = Gate {
        arrived: Arc::new(watch::Sender::new(0)),
        open: Arc::new(tokio::sync::Notify::new()),
    };
    let arrived = gate.arrived.subscribe();
    let open = gate.open.clone();
    let app = axum::Router::new()
        .route("/hook", post(hold))
        .with_state(gate);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, arrived, open)
}

/// A due timer's webhook goes out before its fire is written. A cancel, update or pause that
/// comes while the webhook is on its way loses the race (the timer has fired), nothing is
/// written for it, and FIRED is written with the outcome; one cancelled before it came due is
/// never delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_racing_an_in_flight_delivery_is_refused_and_one_before_it_wins() {
    let clock = ManualClock::new(T0);
    let kernel = kernel(&clock).await;
    let mut events = kernel.subscribe("acme", live()).await.unwrap();
    let (url, mut arrived, open) = gated_receiver().await;
    let bundle = || ActionBundle {
        actions: vec![webhook(&url, None)],
        ..Default::default()
    };
    let cancel = async |id: &str| {
        let request = CancelTimerRequest {
            id: id.to_owned(),
            ..Default::default()
        };
        kernel.cancel("acme", request).await
    };
    let firing = kernel
        .schedule("acme", with_bundle("firing", bundle()))
        .await
        .unwrap()
        .timer
        .unwrap();
    let cancelled = kernel
        .schedule("acme", with_bundle("cancelled", bundle()))
        .await
        .unwrap()
        .timer
        .unwrap();
    cancel(&cancelled.id).await.unwrap();
    clock.advance(Duration::from_secs(1));
    tokio::time::timeout(Duration::from_secs(60), arrived.wait_for(|n| *n == 1))
        .await
        .expect("the webhook arrives")
        .unwrap();

    // In flight: the store still says ARMED, and every caller write is refused as too late.
    let refused = cancel(&firing.id).await.unwrap_err();
    assert!(
        matches!(&refused, KernelError::FailedPrecondition(m) if m.contains("is fired")),
        "{refused:?}"
    );
    let paused = kernel
        .pause(
            "acme",
            minoots_proto::v1::PauseTimerRequest {
                id: firing.id.clone(),
                ..Default::default()
            },
        )
        .await;
    assert!(
        matches!(&paused, Err(KernelError::FailedPrecondition(_))),
        "{paused:?}"
    );
    assert_eq!(
        kernel.get("acme", &firing.id).await.unwrap().status,
        TimerStatus::Armed as i32,
        "nothing is written in front of the delivery"
    );

    open.notify_one();
    let done = finished(&mut events, &[&firing.id]).await;
    let settled = &done[&firing.id];
    assert_eq!(settled.status, TimerStatus::Settled as i32);
    assert_eq!(settled.cancelled_at, None, "the cancel left no trace");
    assert_eq!(
        settled.fired_at,
        Some(to_timestamp(T0 + SEC)),
        "FIRED at the tick it came due"
    );
    let history: Vec<i32> = kernel
        .store()
        .events_after("acme", 0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.timer_id == firing.id)
        .map(|e| e.event_type)
        .collect();
    assert_eq!(
        history,
        [
            TimerEventType::Scheduled as i32,
            TimerEventType::Armed as i32,
            TimerEventType::Fired as i32,
            TimerEventType::Settled as i32
        ]
    );
    // Once settled, the store refuses it as ever.
    let late = cancel(&firing.id).await.unwrap_err();
    assert!(late.to_string().contains("is settled"), "{late}");
    assert_eq!(
        *arrived.borrow(),
        1,
        "the cancelled timer was never delivered"
    );
    assert_eq!(
        kernel.get("acme", &cancelled.id).await.unwrap().status,
        TimerStatus::Cancelled as i32
    );
}
