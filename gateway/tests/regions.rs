//! `minoots gateway` in front of remote kernels: two `minoots kernel` processes as two regions,
//! region routing by label and header, lists and streams spanning regions, failover when a
//! kernel is killed, and not-leader failover inside a region.

mod common;

use std::{process::Stdio, time::Duration};

use common::{Server, WAIT};
use minoots::{Error, TimerSpec, proto};
use minoots_kernel::testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_stream::StreamExt;

async fn call(request: reqwest::RequestBuilder) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        headers,
    )
}

async fn kernel(dir: &std::path::Path) -> Server {
    let args = ["--data-dir".to_owned(), dir.display().to_string()];
    Server::run("kernel", &args, Stdio::inherit()).await
}

async fn gateway(dir: &std::path::Path, targets: &str) -> Server {
    let args: Vec<String> = [
        "--dev",
        "--data-dir",
        &dir.display().to_string(),
        "--region-targets",
        targets,
        "--primary-region",
        "us-east",
        "--kernel-timeout",
        "2s",
    ]
    .map(str::to_owned)
    .to_vec();
    Server::run("gateway", &args, Stdio::inherit()).await
}

fn region(timer: &Value) -> Option<&str> {
    timer["labels"]["minoots.io/region"].as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_kernels_as_two_regions_with_failover() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut us = kernel(dirs[0].path()).await;
    let eu = kernel(dirs[1].path()).await;
    let gw = gateway(
        dirs[2].path(),
        &format!("us-east={},eu-west={}", us.url, eu.url),
    )
    .await;
    let (url, http) = (gw.url.clone(), common::http());
    let acme = |r: reqwest::RequestBuilder| r.header("x-tenant-id", "acme");
    let schedule = |body: Value| acme(http.post(format!("{url}/timers")).json(&body));

    // Primary by default, then the header, then the label (which wins over the header).
    let (status, primary, _) = call(schedule(json!({"name": "p", "duration": "1h"}))).await;
    assert_eq!(
        (status, region(&primary)),
        (StatusCode::CREATED, Some("us-east"))
    );
    let (_, by_header, _) = call(
        schedule(json!({"name": "h", "duration": "1h"})).header("x-minoots-region", "eu-west"),
    )
    .await;
    assert_eq!(region(&by_header), Some("eu-west"));
    let (_, by_label, _) = call(
        schedule(
            json!({"name": "l", "duration": "1h", "labels": {"minoots.io/region": "eu-west"}}),
        )
        .header("x-minoots-region", "us-east"),
    )
    .await;
    assert_eq!(region(&by_label), Some("eu-west"));
    let (status, unknown, _) = call(schedule(
        json!({"name": "u", "duration": "1h", "labels": {"minoots.io/region": "mars"}}),
    ))
    .await;
    assert_eq!(
        (
            status,
            unknown["error"]["fieldViolations"][0]["field"].as_str()
        ),
        (StatusCode::BAD_REQUEST, Some("labels"))
    );

    // Get and cancel find a timer in any region; the kernels keep tenants apart.
    let eu_id = by_header["id"].as_str().unwrap();
    let (status, found, _) = call(acme(http.get(format!("{url}/timers/{eu_id}")))).await;
    assert_eq!(
        (status, found["name"].as_str()),
        (StatusCode::OK, Some("h"))
    );
    let (status, _, _) = call(
        http.get(format!("{url}/timers/{eu_id}"))
            .header("x-tenant-id", "globex"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Update, pause, resume and bulk calls reach the region holding the timer.
    let (status, moved, _) =
        call(acme(http.patch(format!("{url}/timers/{eu_id}"))).json(&json!({"name": "h2"}))).await;
    assert_eq!(
        (status, moved["name"].as_str()),
        (StatusCode::OK, Some("h2")),
        "{moved}"
    );
    let (status, paused, _) = call(acme(http.post(format!("{url}/timers/{eu_id}/pause")))).await;
    assert_eq!(
        (status, paused["status"].as_str()),
        (StatusCode::OK, Some("paused"))
    );
    let (_, resumed, _) = call(acme(http.post(format!("{url}/timers/{eu_id}/resume")))).await;
    assert_eq!(resumed["status"], "armed");
    let (_, counted, _) = call(
        acme(http.post(format!("{url}/timers:cancel")))
            .header("x-minoots-region", "*")
            .json(&json!({"all": true, "dryRun": true})),
    )
    .await;
    assert_eq!(counted["matched"], 3, "{counted}");
    let (_, state, _) = call(acme(http.get(format!("{url}/tenants/acme/pause")))).await;
    assert_eq!(state["paused"], false, "{state}");
    let (status, renamed, _) =
        call(acme(http.patch(format!("{url}/timers/{eu_id}"))).json(&json!({"name": "h"}))).await;
    assert_eq!(status, StatusCode::OK, "{renamed}");

    // A list covers one region, or every region with `*` (paging per region).
    let (_, us_only, _) = call(acme(http.get(format!("{url}/timers")))).await;
    assert_eq!(us_only["timers"].as_array().unwrap().len(), 1);
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut request = acme(http.get(format!("{url}/timers")))
            .header("x-minoots-region", "*")
            .query(&[("pageSize", "1")]);
        if let Some(token) = &token {
            request = request.query(&[("pageToken", token)]);
        }
        let (status, page, _) = call(request).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for timer in page["timers"].as_array().unwrap() {
            names.push(timer["name"].as_str().unwrap().to_owned());
        }
        match page["nextPageToken"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    names.sort();
    assert_eq!(names, ["h", "l", "p"]);

    // A stream spanning regions carries events of both.
    let all = minoots::Client::builder(url.clone())
        .api_key(common::DEV_KEY)
        .tenant("acme")
        .region("*")
        .connect()
        .await
        .unwrap();
    let mut events = all.stream(minoots::StreamOptions::default()).await.unwrap();
    let in_us = common::client(&url, "acme").await;
    let soon_us = in_us
        .schedule(TimerSpec::new("soon-us", Duration::from_millis(50)))
        .await
        .unwrap();
    let soon_eu = in_us
        .schedule(
            TimerSpec::new("soon-eu", Duration::from_millis(50))
                .label("minoots.io/region", "eu-west"),
        )
        .await
        .unwrap();
    let mut settled = std::collections::HashSet::new();
    tokio::time::timeout(WAIT, async {
        while settled.len() < 2 {
            let event = events.next().await.unwrap().unwrap();
            if event.event_type() == proto::TimerEventType::Settled {
                settled.insert(event.timer_id);
            }
        }
    })
    .await
    .expect("both regions' timers settle on the spanning stream");
    assert!(settled.contains(&soon_us.id) && settled.contains(&soon_eu.id));

    // Dead letters live in their region's kernel; the gateway finds them there. (These kernels
    // have no signing secret, so a webhook action is refused at once.)
    let (_, doomed, _) = call(schedule(
        json!({"name": "doomed", "duration": "10ms", "labels": {"minoots.io/region": "eu-west"},
            "actionBundle": {"actions": [{"type": "webhook", "url": "https://example.com/hook"}]}}),
    ))
    .await;
    let doomed_id = doomed["id"].as_str().unwrap().to_owned();
    let letter = tokio::time::timeout(WAIT, async {
        loop {
            let (_, list, _) =
                call(acme(http.get(format!("{url}/dead-letters"))).header("x-minoots-region", "*"))
                    .await;
            if let Some(letter) = list["deadLetters"]
                .as_array()
                .and_then(|l| l.first())
                .cloned()
            {
                return letter;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the dead letter is listed across regions");
    assert_eq!(letter["timerId"], doomed_id.as_str());
    assert!(
        letter["lastError"]
            .as_str()
            .unwrap()
            .contains("signing secret"),
        "{letter}"
    );
    let letter_id = letter["id"].as_str().unwrap();
    let (status, found, _) = call(acme(http.get(format!("{url}/dead-letters/{letter_id}")))).await;
    assert_eq!(
        (status, found["id"].as_str()),
        (StatusCode::OK, Some(letter_id))
    );
    let (status, replay, _) = call(acme(
        http.post(format!("{url}/dead-letters/{letter_id}/replay")),
    ))
    .await;
    assert_eq!(
        (status, replay["result"]["ok"].as_bool()),
        (StatusCode::OK, Some(false))
    );
    let (_, us_only, _) = call(acme(http.get(format!("{url}/dead-letters")))).await;
    assert_eq!(
        us_only["deadLetters"].as_array().map(Vec::len),
        Some(0),
        "us-east has none"
    );

    // Kill us-east: scheduling fails over to eu-west and says so in the label.
    us.kill();
    let (status, moved, _) = call(schedule(json!({"name": "after", "duration": "1h"}))).await;
    assert_eq!(
        (status, region(&moved)),
        (StatusCode::CREATED, Some("eu-west")),
        "{moved}"
    );
    let timer = in_us
        .schedule(
            TimerSpec::new("after-grpc", Duration::from_secs(3_600))
                .label("minoots.io/region", "us-east"),
        )
        .await
        .unwrap();
    assert_eq!(timer.labels["minoots.io/region"], "eu-west");
    // A timer that lived only in the dead region: 503 with a retry hint, not a false 404.
    let us_id = primary["id"].as_str().unwrap();
    let (status, body, headers) = call(acme(http.get(format!("{url}/timers/{us_id}")))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body["error"]["retryAfterMs"].as_u64().is_some());
    assert!(headers.contains_key("retry-after"));
    // eu-west keeps answering everything it holds.
    let (status, _, _) = call(acme(http.get(format!("{url}/timers/{eu_id}")))).await;
    assert_eq!(status, StatusCode::OK);
    match in_us.get(us_id).await {
        Err(Error::Unavailable { retry_after, .. }) => assert!(retry_after.is_some()),
        other => panic!("expected UNAVAILABLE, got {other:?}"),
    }
}

/// Two kernels of one region on one Postgres: the follower answers not-leader, and the gateway
/// moves on to the leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_not_leader_answer_moves_the_call_to_the_leader() {
    let Some(db) = TestDatabase::create("regions").await else {
        return;
    };
    let cluster = |node: &str| {
        [
            "--store",
            "postgres",
            "--database-url",
            &db.url,
            "--node-id",
            node,
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let leader = Server::run("kernel", &cluster("leader"), Stdio::null()).await;
    let http = common::http();
    tokio::time::timeout(WAIT, async {
        while http
            .get(format!("{}/readyz", leader.url))
            .send()
            .await
            .unwrap()
            .status()
            != StatusCode::OK
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the first kernel leads");
    let follower = Server::run("kernel", &cluster("follower"), Stdio::null()).await;
    assert_eq!(
        http.get(format!("{}/readyz", follower.url))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(
        dir.path(),
        &format!("us-east={},us-east={}", follower.url, leader.url),
    )
    .await;
    let client = common::client(&gw.url, "acme").await;
    let timer = client
        .schedule(TimerSpec::new("led", Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(timer.labels["minoots.io/region"], "us-east");
    assert_eq!(client.get(&timer.id).await.unwrap().name, "led");
}
