//! Helpers shared by the integration tests: start the real `minoots` binary or an in-process
//! server on 127.0.0.1:0, and wait for readiness through the gRPC health service, never a sleep.

#![allow(dead_code)]

pub mod postgres;
pub mod tls;

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use minoots_gateway::auth::AuthConfig;
use minoots_kernel::{Kernel, KernelConfig, SystemClock, store::SqliteStore};
use tokio::{net::TcpListener, task::JoinHandle};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

pub const WAIT: Duration = Duration::from_secs(60);

/// The key `--dev` seeds (tenant `tenant-local`, every role, so it may act for any tenant).
pub const DEV_KEY: &str = "local-dev-key";

/// An SDK client acting for `tenant` with the development key.
pub async fn client(url: &str, tenant: &str) -> minoots::Client {
    client_with_key(url, DEV_KEY, tenant).await
}

pub async fn client_with_key(url: &str, key: &str, tenant: &str) -> minoots::Client {
    minoots::Client::builder(url)
        .api_key(key)
        .tenant(tenant)
        .connect()
        .await
        .unwrap()
}

/// `minoots keys create` against the store in `data_dir`; returns (id, secret).
/// `extra` takes further flags (`--tier slow --rate-limits slow=2:2`).
pub fn create_key(data_dir: &Path, tenant: &str, roles: &str, extra: &[&str]) -> (String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_minoots"));
    command
        .args(["keys", "create", "--json", "--data-dir"])
        .arg(data_dir);
    command.args(["--tenant", tenant, "--role", roles, "--name", "test"]);
    command.args(extra);
    let output = command.output().expect("running minoots keys create");
    assert!(
        output.status.success(),
        "keys create failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    (
        created["id"].as_str().unwrap().to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    )
}

/// Sends the development key on every gRPC call.
#[derive(Debug, Clone)]
pub struct DevKey;

impl tonic::service::Interceptor for DevKey {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("x-api-key", DEV_KEY.parse().unwrap());
        Ok(request)
    }
}

pub type RawClient = minoots_proto::v1::timer_service_client::TimerServiceClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, DevKey>,
>;

/// A raw generated gRPC client sending the development key.
pub async fn raw_client(url: &str) -> RawClient {
    let channel = tonic::transport::Endpoint::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    minoots_proto::v1::timer_service_client::TimerServiceClient::with_interceptor(channel, DevKey)
}

/// An HTTP client sending the development key on every request.
pub fn http() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-api-key", DEV_KEY.parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A `minoots serve` child process.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Server {
    pub async fn start(data_dir: &Path) -> Self {
        let args = vec!["--data-dir".to_owned(), data_dir.display().to_string()];
        Self::start_with(&args, Stdio::inherit()).await
    }

    /// A kernel of a cluster on the Postgres database at `url`, logging to `stderr`.
    pub async fn start_clustered(url: &str, node: &str, extra: &[&str], stderr: Stdio) -> Self {
        let mut args: Vec<String> = [
            "--store",
            "postgres",
            "--database-url",
            url,
            "--node-id",
            node,
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::start_with(&args, stderr).await
    }

    /// `minoots serve --dev` with `args`.
    pub async fn start_with(args: &[String], stderr: Stdio) -> Self {
        let mut all = vec!["--dev".to_owned()];
        all.extend_from_slice(args);
        Self::run("serve", &all, stderr).await
    }

    /// `minoots <command> --listen 127.0.0.1:0 <args>`, once it reports healthy.
    pub async fn run(command: &str, args: &[String], stderr: Stdio) -> Self {
        Self::run_with_env(command, args, &[], stderr).await
    }

    /// The same with extra environment variables.
    pub async fn run_with_env(
        command: &str,
        args: &[String],
        env: &[(&str, &str)],
        stderr: Stdio,
    ) -> Self {
        let server = Self::spawn(command, args, env, stderr).await;
        wait_healthy(&server.url).await;
        server
    }

    /// `minoots <command> --listen 127.0.0.1:0 <args>` once it prints its URL, before it is
    /// healthy (for servers that need more than a plain client to ask: TLS).
    pub async fn spawn(
        command: &str,
        args: &[String],
        env: &[(&str, &str)],
        stderr: Stdio,
    ) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_minoots"))
            .args([command, "--listen", "127.0.0.1:0"])
            .args(args)
            // The test command sets NATS_URL for the tests, and the server would read it (the
            // original deployment guide's name): a server publishes only when its test says so.
            .env_remove("NATS_URL")
            .env_remove("NATS_JETSTREAM_URL")
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn,minoots_kernel=info")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("starting minoots");
        let stdout = child.stdout.take().unwrap();
        let url = tokio::task::spawn_blocking(move || {
            let mut lines = BufReader::new(stdout).lines();
            let line = lines
                .next()
                .expect("minoots exited before listening")
                .unwrap();
            // Keep draining so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            line.strip_prefix("minoots listening on ")
                .expect("unexpected first line")
                .to_owned()
        })
        .await
        .unwrap();
        Self { child, url }
    }

    pub fn kill(&mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }

    pub fn signal(&self, signal: i32) {
        let pid = self.child.id() as i32;
        // SAFETY: plain kill(2) on our own child's pid.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal})");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn wait_healthy(url: &str) {
    wait_healthy_at(tonic::transport::Endpoint::from_shared(url.to_owned()).unwrap()).await;
}

/// Waits until the gRPC health service at `endpoint` (with its TLS settings) reports serving.
pub async fn wait_healthy_at(endpoint: tonic::transport::Endpoint) {
    let check = async {
        loop {
            if let Ok(channel) = endpoint.connect().await {
                let mut health = HealthClient::new(channel);
                let request = HealthCheckRequest {
                    service: "minoots.v1.TimerService".into(),
                };
                if let Ok(response) = health.check(request).await
                    && response.into_inner().status == ServingStatus::Serving as i32
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(WAIT, check)
        .await
        .expect("server never became healthy");
}

/// Kernel and gateway in this process, on SQLite in a temp dir, serving real gRPC.
pub struct InProcess {
    pub url: String,
    pub kernel: Kernel,
    running: Option<minoots_gateway::Running>,
    _dir: tempfile::TempDir,
}

impl InProcess {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(
            &dir.path().join("minoots.db"),
            minoots_kernel::store::Synchronous::Normal,
        )
        .await
        .unwrap();
        let kernel = Kernel::start(
            Arc::new(store),
            Arc::new(SystemClock::new()),
            KernelConfig::default(),
        )
        .await
        .unwrap();
        let gateway =
            minoots_gateway::Gateway::local(kernel.clone(), AuthConfig::default()).unwrap();
        gateway.auth().seed_dev_key().await.unwrap();
        let running = minoots_gateway::Running::spawn(
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
            gateway,
        )
        .unwrap();
        let url = running.url.clone();
        wait_healthy(&url).await;
        Self {
            url,
            kernel,
            running: Some(running),
            _dir: dir,
        }
    }

    pub async fn stop(mut self) {
        self.running.take().unwrap().stop().await.unwrap();
        self.kernel.shutdown().await;
    }
}

/// A loopback TCP proxy (to NATS, to a server) that can be cut: open connections dropped, new
/// ones accepted and closed at once (counted in `refused`).
pub struct Proxy {
    pub port: u16,
    pub refused: Arc<AtomicUsize>,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(AtomicUsize::new(0));
        let (flag, open, count) = (up.clone(), connections.clone(), refused.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !flag.load(Ordering::SeqCst) {
                    drop(inbound);
                    count.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                open.lock().unwrap().push(task);
            }
        });
        Self {
            port,
            refused,
            up,
            connections,
        }
    }

    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// `minoots` run in `dir` with none of the environment names configuration reads (MINOOTS_*,
/// KERNEL_*, NATS_*, DATABASE_URL, EVENT_ENVELOPE_SECRET, ACTION_WEBHOOK_TIMEOUT_MS), so a test
/// sets exactly the ones it is about.
pub fn config_command(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_minoots"));
    command.current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("MINOOTS_")
            || name.starts_with("KERNEL_")
            || name == "DATABASE_URL"
            || name == "EVENT_ENVELOPE_SECRET"
            || name.starts_with("NATS_")
            || name == "ACTION_WEBHOOK_TIMEOUT_MS"
        {
            command.env_remove(name);
        }
    }
    command
}

/// The settings `minoots config print ... --json` printed: name -> (value, source).
pub fn config_settings(
    output: &std::process::Output,
) -> std::collections::HashMap<String, (String, String)> {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let settings: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    settings
        .into_iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                (
                    s["value"].as_str().unwrap().to_owned(),
                    s["source"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect()
}
