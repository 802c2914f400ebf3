//! TLS end to end against the real `minoots` binary and a CA made at test time: one https port
//! serving the SDK (gRPC over HTTP/2), the CLI, REST and SSE (HTTP/2 and HTTP/1.1) and gRPC-web;
//! plain clients and stalled handshakes refused without stopping anyone else; mutual TLS;
//! `minoots gateway` on https; start-up errors that name the flag; and the kernel's store on a
//! Postgres that accepts only TLS, verified with `sslmode=verify-full`.

mod common;

use std::{path::Path, process::Stdio};

use common::{
    DEV_KEY, Server, WAIT,
    postgres::{self, Postgres},
    tls::Pki,
    wait_healthy_at,
};
use minoots::{Client, StreamOptions, TimerSpec, WaitFor, proto};
use prost::Message as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;
use tokio_stream::StreamExt as _;
use tonic::transport::Endpoint;
use tonic_health::pb::{
    HealthCheckRequest, HealthCheckResponse, health_check_response::ServingStatus,
    health_client::HealthClient,
};

/// `minoots serve --dev` with `extra` flags (and `env`) setting TLS from `pki`, once healthy
/// over https (presenting the client certificate when `identity`).
async fn serve_tls(
    pki: &Pki,
    data: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
    identity: bool,
) -> Server {
    start_tls("serve", pki, data, extra, env, identity).await
}

/// The same for `minoots <command>` (`serve` or `gateway`).
async fn start_tls(
    command: &str,
    pki: &Pki,
    data: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
    identity: bool,
) -> Server {
    let mut args = vec![
        "--dev".to_owned(),
        "--data-dir".to_owned(),
        data.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let server = Server::spawn(command, &args, env, Stdio::inherit()).await;
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    wait_healthy_at(grpc_endpoint(&server.url, pki, identity)).await;
    server
}

fn grpc_endpoint(url: &str, pki: &Pki, identity: bool) -> Endpoint {
    Endpoint::from_shared(url.to_owned())
        .unwrap()
        .tls_config(pki.grpc(identity))
        .unwrap()
}

async fn health(endpoint: Endpoint) -> Result<i32, String> {
    let channel = endpoint.connect().await.map_err(|e| format!("{e:?}"))?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: "minoots.v1.TimerService".into(),
        })
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(response.into_inner().status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_https_port_serves_the_sdk_rest_sse_and_grpc_web() {
    let pki = Pki::new("listener");
    let dir = tempfile::tempdir().unwrap();
    let tls = pki.server_flags();
    let tls: Vec<&str> = tls.iter().map(String::as_str).collect();
    let server = serve_tls(&pki, dir.path(), &tls, &[], false).await;
    let url = server.url.clone();

    // The Rust SDK (every binding wraps it): gRPC over HTTP/2, trusting the test CA.
    let client = Client::builder(url.clone())
        .api_key(DEV_KEY)
        .tenant("acme")
        .ca_certificate(pki.ca_pem())
        .connect()
        .await
        .unwrap();
    let mut events = client
        .stream(StreamOptions::default().after_sequence(0))
        .await
        .unwrap();
    let timer = client
        .schedule(TimerSpec::new("over-https", "20ms"))
        .await
        .unwrap();
    let mut seen = Vec::new();
    tokio::time::timeout(WAIT, async {
        loop {
            let event = events.next_event().await.unwrap().unwrap();
            assert_eq!(event.timer_id, timer.id);
            seen.push(event.event_type());
            if event.event_type() == proto::TimerEventType::Settled {
                break;
            }
        }
    })
    .await
    .expect("the timer's events arrive over https");
    assert!(seen.contains(&proto::TimerEventType::Fired), "{seen:?}");

    // The CLI, trusting the CA through --ca-certificate.
    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_minoots"))
        .args([
            "timers",
            "list",
            "--json",
            "--url",
            &url,
            "--api-key",
            DEV_KEY,
        ])
        .args(["--tenant", "acme", "--ca-certificate"])
        .arg(&pki.ca)
        .output()
        .unwrap();
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&timer.id));

    // REST over HTTP/2 and over HTTP/1.1: ALPN offers both on the one port.
    let h2 = pki.https(false).build().unwrap();
    let h1 = pki.https(false).http1_only().build().unwrap();
    let created = h2
        .post(format!("{url}/timers"))
        .header("x-tenant-id", "acme")
        .json(&json!({"name": "rest-over-https", "duration": "1h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(created.version(), reqwest::Version::HTTP_2);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let read = h1
        .get(format!("{url}/timers/{id}"))
        .header("x-tenant-id", "acme")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(read.version(), reqwest::Version::HTTP_11);
    assert_eq!(
        read.json::<Value>().await.unwrap()["name"],
        "rest-over-https"
    );

    // SSE over HTTP/1.1: the log from the start holds both timers.
    let stream = h1
        .get(format!("{url}/timers/stream"))
        .header("x-tenant-id", "acme")
        .header("last-event-id", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut body = stream.bytes_stream();
    let mut text = String::new();
    tokio::time::timeout(WAIT, async {
        while !(text.contains(&timer.id) && text.contains(&id)) {
            let chunk = body.next().await.unwrap().unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("SSE events over https");
    drop(body);

    // gRPC-web (what browsers send) over HTTP/1.1.
    let request = HealthCheckRequest {
        service: "minoots.v1.TimerService".into(),
    };
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(request.encoded_len() as u32).to_be_bytes());
    request.encode(&mut frame).unwrap();
    let web = h1
        .post(format!("{url}/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(frame)
        .send()
        .await
        .unwrap();
    assert_eq!(web.status(), StatusCode::OK);
    let body = web.bytes().await.unwrap();
    let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
    assert_eq!(body[0], 0, "a data frame first");
    let answer = HealthCheckResponse::decode(&body[5..5 + len]).unwrap();
    assert_eq!(answer.status, ServingStatus::Serving as i32);
    let trailers = String::from_utf8_lossy(&body[5 + len..]).to_lowercase();
    assert!(trailers.contains("grpc-status:0"), "{trailers}");

    // Plain clients are refused: REST and gRPC without TLS.
    let address = url.trim_start_matches("https://");
    let plain = common::http()
        .get(format!("http://{address}/healthz"))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP on the TLS port: {plain:?}");
    let plain_grpc = health(Endpoint::from_shared(format!("http://{address}")).unwrap()).await;
    assert!(
        plain_grpc.is_err(),
        "plain gRPC on the TLS port: {plain_grpc:?}"
    );
    // So is a client that does not trust the CA.
    let untrusted = reqwest::Client::builder()
        .build()
        .unwrap()
        .get(format!("{url}/healthz"))
        .send()
        .await;
    assert!(untrusted.is_err(), "{untrusted:?}");

    // A client that opens a connection and never finishes its handshake (one that sent half a
    // ClientHello, one that sent nothing) holds up no one: handshakes run apart from the accept loop.
    let mut stalled = tokio::net::TcpStream::connect(address).await.unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01, 0x02]).await.unwrap();
    let _silent = tokio::net::TcpStream::connect(address).await.unwrap();
    // Fresh clients, so each opens a connection of its own rather than reusing one.
    for client in [pki.https(false), pki.https(false).http1_only()] {
        let client = client.build().unwrap();
        let ok = client.get(format!("{url}/healthz")).send().await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
    }
    assert_eq!(
        health(grpc_endpoint(&url, &pki, false)).await,
        Ok(ServingStatus::Serving as i32),
        "gRPC after refused and stalled handshakes"
    );
    // ... while the stalled handshake is still waiting (an accept loop that did handshakes
    // itself would have served the others only after the stalled one's deadline closed it).
    let mut buf = [0u8; 16];
    assert!(
        matches!(stalled.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the stalled connection is still open, waiting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_admits_only_clients_with_a_certificate_from_the_client_ca() {
    let pki = Pki::new("mutual");
    let stranger = Pki::new("stranger");
    let dir = tempfile::tempdir().unwrap();
    // Set through the environment this time, as a service manager would.
    let (cert, key, ca) = (
        pki.server_cert.display().to_string(),
        pki.server_key.display().to_string(),
        pki.ca.display().to_string(),
    );
    let env = [
        ("MINOOTS_TLS_CERT", cert.as_str()),
        ("MINOOTS_TLS_KEY", key.as_str()),
        ("MINOOTS_TLS_CLIENT_CA", ca.as_str()),
    ];
    // Healthy as seen by a gRPC client presenting its certificate.
    let server = serve_tls(&pki, dir.path(), &[], &env, true).await;
    let url = server.url.clone();

    let with_cert = pki.https(true).build().unwrap();
    let created = with_cert
        .post(format!("{url}/timers"))
        .header("x-tenant-id", "acme")
        .json(&json!({"name": "mutual", "duration": "1h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);

    let without_cert = pki.https(false).build().unwrap();
    let refused = without_cert.get(format!("{url}/healthz")).send().await;
    assert!(refused.is_err(), "no client certificate: {refused:?}");
    let refused_grpc = health(grpc_endpoint(&url, &pki, false)).await;
    assert!(refused_grpc.is_err(), "gRPC without a client certificate");

    // A certificate from another CA is refused too.
    let foreign = pki
        .https(false)
        .identity(reqwest::Identity::from_pem(stranger.client_identity_pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let refused = foreign.get(format!("{url}/healthz")).send().await;
    assert!(
        refused.is_err(),
        "a stranger's client certificate: {refused:?}"
    );

    // And the server still serves the right client after the refusals.
    assert_eq!(
        health(grpc_endpoint(&url, &pki, true)).await,
        Ok(ServingStatus::Serving as i32)
    );
    let ok = with_cert
        .get(format!("{url}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minoots_gateway_serves_https_in_front_of_a_kernel() {
    let pki = Pki::new("gateway");
    let (kernel_dir, gateway_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let kernel = Server::run(
        "kernel",
        &[
            "--data-dir".to_owned(),
            kernel_dir.path().display().to_string(),
        ],
        Stdio::inherit(),
    )
    .await;
    let mut args = pki.server_flags();
    args.extend(["--kernel".to_owned(), kernel.url.clone()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let gateway = start_tls("gateway", &pki, gateway_dir.path(), &args, &[], false).await;

    let client = Client::builder(gateway.url.clone())
        .api_key(DEV_KEY)
        .tenant("acme")
        .ca_certificate(pki.ca_pem())
        .connect()
        .await
        .unwrap();
    let timer = client
        .schedule(TimerSpec::new("through-the-gateway", "20ms"))
        .await
        .unwrap();
    let done = client
        .wait_for(&timer.id, WaitFor::Done, Some(WAIT))
        .await
        .unwrap();
    assert_eq!(done.status(), proto::TimerStatus::Settled);
}

/// `minoots serve` with `args` must exit with an error whose text holds every one of `expected`.
fn refuses_to_start(args: &[&str], expected: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_minoots"))
        .args(["serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(args)
        .env_remove("MINOOTS_TLS_CERT")
        .env_remove("MINOOTS_TLS_KEY")
        .env_remove("MINOOTS_TLS_CLIENT_CA")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{args:?} started: {stderr}");
    assert!(
        output.stdout.is_empty(),
        "{args:?} printed a URL before failing"
    );
    for text in expected {
        assert!(stderr.contains(text), "{args:?}: {text:?} not in {stderr}");
    }
}

#[test]
fn bad_tls_files_stop_the_start_with_an_error_naming_the_flag() {
    let pki = Pki::new("bad");
    let other = Pki::new("other");
    let path = |p: &Path| p.display().to_string();
    let (cert, key, ca) = (path(&pki.server_cert), path(&pki.server_key), path(&pki.ca));
    let missing = path(&pki.dir.path().join("missing.pem"));

    refuses_to_start(
        &["--tls-cert", &missing, "--tls-key", &key],
        &["--tls-cert", "missing.pem", "No such file"],
    );
    refuses_to_start(
        &["--tls-cert", &key, "--tls-key", &key],
        &["--tls-cert", "no CERTIFICATE"],
    );
    refuses_to_start(
        &["--tls-cert", &cert, "--tls-key", &cert],
        &["--tls-key", "no private key"],
    );
    let garbage = pki.dir.path().join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN PRIVATE KEY-----\nnot base64!\n").unwrap();
    refuses_to_start(
        &["--tls-cert", &cert, "--tls-key", &path(&garbage)],
        &["--tls-key", "garbage.pem"],
    );
    refuses_to_start(
        &["--tls-cert", &cert, "--tls-key", &path(&other.server_key)],
        &[
            "--tls-cert and --tls-key",
            "does not belong to the certificate",
        ],
    );
    refuses_to_start(&["--tls-cert", &cert], &["--tls-key"]);
    refuses_to_start(
        &["--tls-client-ca", &ca],
        &["--tls-client-ca", "--tls-cert"],
    );
    refuses_to_start(
        &[
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--tls-client-ca",
            &key,
        ],
        &["--tls-client-ca", "no CERTIFICATE"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_store_verifies_the_server_certificate_with_verify_full() {
    let pki = Pki::new("postgres");
    let Some(pg) = Postgres::start_tls(
        "the_postgres_store_verifies_the_server_certificate_with_verify_full",
        postgres::Tls {
            cert: &pki.server_cert,
            key: &pki.server_key,
        },
    ) else {
        return;
    };
    let verified = pg.url(&format!(
        "sslmode=verify-full&sslrootcert={}",
        pki.ca.display()
    ));

    // The server takes only TLS, so everything below that works went over TLS.
    use sqlx::Connection as _;
    let plain = sqlx::PgConnection::connect(&pg.url("sslmode=disable"))
        .await
        .unwrap_err()
        .to_string();
    assert!(plain.contains("no encryption"), "{plain}");

    // The kernel's store on it: a timer scheduled, fired and settled.
    let server = Server::start_with(
        &[
            "--store".to_owned(),
            "postgres".to_owned(),
            "--database-url".to_owned(),
            verified.clone(),
        ],
        Stdio::inherit(),
    )
    .await;
    // Ready once it leads (holds the lease in that database).
    tokio::time::timeout(WAIT, async {
        while !reqwest::get(format!("{}/readyz", server.url))
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
        {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the kernel never led");
    let client = common::client(&server.url, "acme").await;
    let timer = client
        .schedule(TimerSpec::new("stored-over-tls", "20ms"))
        .await
        .unwrap();
    let settled = client
        .wait_for(&timer.id, WaitFor::Done, Some(WAIT))
        .await
        .unwrap();
    assert!(settled.fired_at.is_some());
    assert_eq!(settled.status(), proto::TimerStatus::Settled);
    drop(server);
    let mut connection = sqlx::PgConnection::connect(&verified).await.unwrap();
    let (ssl, name): (bool, String) = sqlx::query_as(
        "SELECT s.ssl, t.name FROM pg_stat_ssl s, timers t \
         WHERE s.pid = pg_backend_pid() AND t.id = $1 AND t.finished_at_us IS NOT NULL",
    )
    .bind(&timer.id)
    .fetch_one(&mut connection)
    .await
    .unwrap();
    assert!(ssl);
    assert_eq!(
        name, "stored-over-tls",
        "the settled timer is in the database"
    );

    // verify-full against a CA that did not issue the server's certificate: a clear refusal.
    let stranger = Pki::new("stranger");
    let wrong = pg.url(&format!(
        "sslmode=verify-full&sslrootcert={}",
        stranger.ca.display()
    ));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_minoots"))
        .args(["migrate", "--database-url", &wrong])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("certificate") && stderr.contains("UnknownIssuer"),
        "{stderr}"
    );
}
