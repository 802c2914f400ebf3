//! The Rust SDK (every binding wraps it) against a real `minoots serve`: text durations, paging,
//! wait_for, typed errors, retries on UNAVAILABLE, and an event stream that survives a cut
//! connection without gaps or repeats.

mod common;

use std::{collections::HashSet, sync::atomic::Ordering, time::Duration};

use common::{Proxy, Server, WAIT};
use minoots::{
    Client, Error, ListFilter, Reconnect, Retry, StreamOptions, TimerSpec, WaitFor, proto,
};
use tokio_stream::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_pages_waits_and_maps_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let client = common::client(&server.url, "acme").await;

    let soon = client
        .schedule(TimerSpec::new("soon", "150ms").label("suite", "sdk"))
        .await
        .unwrap();
    assert_eq!(soon.duration.unwrap().nanos, 150_000_000);
    let fired = client
        .wait_for(&soon.id, WaitFor::Fired, Some(WAIT))
        .await
        .unwrap();
    assert!(fired.fired_at.is_some());
    let done = client
        .wait_for(&soon.id, WaitFor::Done, Some(WAIT))
        .await
        .unwrap();
    assert_eq!(done.status(), proto::TimerStatus::Settled);

    let later = (0..7).map(|i| TimerSpec::new(format!("page-{i}"), "1h").label("suite", "paging"));
    client.schedule_many(later).await.unwrap();
    let filter = ListFilter {
        label_selector: "suite=paging".into(),
        page_size: 3,
        ..Default::default()
    };
    let listed: Vec<proto::Timer> = client
        .list_all(filter)
        .collect::<Result<_, _>>()
        .await
        .unwrap();
    let names: HashSet<_> = listed.iter().map(|t| t.name.clone()).collect();
    assert_eq!(names.len(), 7, "three pages, nothing twice: {names:?}");
    let scheduled = ListFilter::default()
        .status_names(["armed", "scheduled"])
        .unwrap();
    let pending: Vec<Result<proto::Timer, Error>> = client.list_all(scheduled).collect().await;
    assert_eq!(pending.len(), 7);

    let waited = client
        .wait_for(
            &listed[0].id,
            WaitFor::Fired,
            Some(Duration::from_millis(200)),
        )
        .await;
    assert!(
        matches!(waited, Err(Error::DeadlineExceeded(_))),
        "{waited:?}"
    );

    let cancelled = client.cancel(&listed[0].id, "not needed").await.unwrap();
    assert_eq!(cancelled.status(), proto::TimerStatus::Cancelled);
    let ended = client
        .wait_for(&listed[0].id, WaitFor::Done, Some(WAIT))
        .await
        .unwrap();
    assert_eq!(ended.cancel_reason, "not needed");

    // Typed errors, with the field where there is one.
    let field = |result: Result<proto::Timer, Error>| match result {
        Err(Error::InvalidArgument { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        field(client.schedule(TimerSpec::new("x", "15 parsecs")).await),
        "duration"
    );
    assert_eq!(
        field(client.schedule(TimerSpec::new("", "1m")).await),
        "name"
    );
    let missing = client.get("0190c0de-0000-7000-8000-000000000000").await;
    assert!(matches!(missing, Err(Error::NotFound(_))), "{missing:?}");
    let bad_key = common::client_with_key(&server.url, "wrong-key", "acme").await;
    let refused = bad_key.get(&soon.id).await.unwrap_err();
    assert!(matches!(refused, Error::Unauthenticated(_)), "{refused:?}");
    assert_eq!(refused.code(), "UNAUTHENTICATED");
    assert!(matches!(
        bad_key.stream(StreamOptions::default()).await,
        Err(Error::Unauthenticated(_))
    ));
}

/// Reads `events` until every timer in `ids` has settled, recording each sequence.
async fn settle(events: &mut minoots::EventStream, seen: &mut Vec<u64>, mut ids: HashSet<String>) {
    tokio::time::timeout(WAIT, async {
        while !ids.is_empty() {
            let event = events.next_event().await.unwrap().unwrap();
            seen.push(event.sequence);
            if event.event_type() == proto::TimerEventType::Settled {
                ids.remove(&event.timer_id);
            }
        }
    })
    .await
    .expect("every timer settled on the stream");
}

fn via(proxy: &Proxy) -> minoots::ClientBuilder {
    Client::builder(format!("http://127.0.0.1:{}", proxy.port))
        .api_key(common::DEV_KEY)
        .tenant("acme")
}

/// Waits until the proxy has refused `n` more connection attempts.
async fn refusals(proxy: &Proxy, from: usize, n: usize) {
    tokio::time::timeout(WAIT, async {
        while proxy.refused.load(Ordering::SeqCst) < from + n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the client kept trying");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_idempotent_calls_and_resumes_the_stream_after_a_cut() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let direct = common::client(&server.url, "acme").await;
    let proxy = Proxy::start(server.url.trim_start_matches("http://").to_owned()).await;
    let patient = Retry {
        attempts: 1_000,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    };
    let client = via(&proxy)
        .retry(patient)
        .reconnect(Reconnect {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(50),
        })
        .connect()
        .await
        .unwrap();

    let mut events = client
        .stream(StreamOptions::default().after_sequence(0))
        .await
        .unwrap();
    let mut seen = Vec::new();
    let batch =
        |tag: &'static str| (0..3).map(move |i| TimerSpec::new(format!("{tag}-{i}"), "10ms"));
    let first: HashSet<_> = direct
        .schedule_many(batch("before"))
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    settle(&mut events, &mut seen, first.clone()).await;

    // Cut: the stream breaks while three more timers run their whole lifecycle.
    proxy.cut();
    let refused_before = proxy.refused.load(Ordering::SeqCst);
    let second: HashSet<_> = direct
        .schedule_many(batch("during"))
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    for id in &second {
        direct
            .wait_for(id, WaitFor::Done, Some(WAIT))
            .await
            .unwrap();
    }
    // A read retries through the outage; it answers once the proxy is back.
    let id = first.iter().next().unwrap().clone();
    let reader = client.clone();
    let read = tokio::spawn(async move { reader.get(&id).await });
    // So does opening a new event stream.
    let subscriber = client.clone();
    let opening = tokio::spawn(async move {
        subscriber
            .stream(StreamOptions::default())
            .await
            .map(|_| ())
    });
    refusals(&proxy, refused_before, 3).await;
    // A schedule without an idempotency key is not retried (it may have been applied): it
    // fails at once, with an error that says a retry may work.
    let once = client
        .schedule(TimerSpec::new("once", "1h"))
        .await
        .unwrap_err();
    assert!(once.is_retryable(), "{once:?}");
    proxy.restore();
    opening
        .await
        .unwrap()
        .expect("the stream opened once the proxy was back");
    assert_eq!(
        read.await.unwrap().unwrap().status(),
        proto::TimerStatus::Settled
    );

    settle(&mut events, &mut seen, second).await;
    let expected: Vec<u64> = (1..=seen.len() as u64).collect();
    assert_eq!(
        seen, expected,
        "resumed after the last sequence: no gap, no repeat"
    );
}

/// A TLS front for `upstream` with a fresh self-signed certificate for 127.0.0.1 (ALPN h2).
/// Returns its port and the certificate in PEM, for the client to trust.
async fn tls_front(upstream: String) -> (u16, String) {
    use tokio_rustls::rustls::{self, pki_types::PrivateKeyDer};
    let issued = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(issued.signing_key.serialize_der().into());
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![issued.cert.der().clone()], key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if let Ok(mut plain) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    (port, issued.cert.pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_urls_use_tls_and_trust_only_known_authorities() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let (port, ca) = tls_front(server.url.trim_start_matches("http://").to_owned()).await;
    let url = format!("https://127.0.0.1:{port}");

    let client = Client::builder(url.clone())
        .api_key(common::DEV_KEY)
        .tenant("acme")
        .ca_certificate(ca)
        .connect()
        .await
        .unwrap();
    let timer = client
        .schedule(TimerSpec::new("over-tls", "1h"))
        .await
        .unwrap();
    assert_eq!(client.get(&timer.id).await.unwrap().name, "over-tls");

    // The same server, its certificate not trusted: the handshake fails.
    let untrusted = Client::builder(url)
        .api_key(common::DEV_KEY)
        .connect()
        .await;
    assert!(
        matches!(untrusted, Err(Error::Transport(_))),
        "{untrusted:?}"
    );
}
