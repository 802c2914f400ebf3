//! `Client`: suspend functions over the SDK, and a callback-interface event stream.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, OnceLock},
    time::Duration,
};

use minoots::{ListFilter, StreamOptions, TimerOptions, TimerSpec, WaitFor};
use tokio::runtime::Runtime;

use crate::{
    error::MinootsError,
    timer::{Timer, TimerEvent},
};

/// The binding's runtime: suspend functions await work spawned here, so callers need no
/// tokio of their own.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("minoots-uniffi")
            .enable_all()
            .build()
            .expect("starting the minoots runtime")
    })
}

async fn run<T: Send + 'static>(
    work: impl Future<Output = Result<T, minoots::Error>> + Send + 'static,
) -> Result<T, MinootsError> {
    match runtime().spawn(work).await {
        Ok(result) => result.map_err(MinootsError::from),
        Err(e) => Err(MinootsError::Internal {
            detail: e.to_string(),
        }),
    }
}

fn invalid(field: &str, detail: String) -> MinootsError {
    MinootsError::InvalidArgument {
        field: field.into(),
        detail,
    }
}

fn json(field: &str, text: &str) -> Result<serde_json::Value, MinootsError> {
    serde_json::from_str(text).map_err(|e| invalid(field, e.to_string()))
}

#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct ConnectOptions {
    #[uniffi(default = None)]
    pub api_key: Option<String>,
    #[uniffi(default = None)]
    pub tenant: Option<String>,
    #[uniffi(default = None)]
    pub region: Option<String>,
}

/// What to schedule: `after` (`"15m"`) or `fire_at` (RFC 3339).
#[derive(Debug, Clone, uniffi::Record)]
pub struct ScheduleOptions {
    pub name: String,
    #[uniffi(default = None)]
    pub after: Option<String>,
    #[uniffi(default = None)]
    pub fire_at: Option<String>,
    pub labels: HashMap<String, String>,
    /// A JSON object.
    #[uniffi(default = None)]
    pub metadata_json: Option<String>,
    /// The REST API's JSON form: `{"actions": [{"type": "webhook", "url": "..."}]}`.
    #[uniffi(default = None)]
    pub action_bundle_json: Option<String>,
    #[uniffi(default = None)]
    pub webhook: Option<String>,
    #[uniffi(default = None)]
    pub idempotency_key: Option<String>,
}

impl ScheduleOptions {
    fn into_spec(self) -> Result<TimerSpec, MinootsError> {
        Ok(TimerOptions {
            name: self.name,
            after: self.after.map(Into::into),
            fire_at: self.fire_at,
            labels: self.labels.into_iter().collect(),
            metadata: self
                .metadata_json
                .map(|t| json("metadata", &t))
                .transpose()?,
            action_bundle: self
                .action_bundle_json
                .map(|t| json("action_bundle", &t))
                .transpose()?,
            webhook: self.webhook,
            idempotency_key: self.idempotency_key,
            requested_by: None,
        }
        .into())
    }
}

/// Receives a stream's events on a background thread.
#[uniffi::export(callback_interface)]
pub trait EventListener: Send + Sync {
    fn on_event(&self, event: TimerEvent);
    /// The stream ended with an error a reconnect cannot fix; `code` is the kind.
    fn on_error(&self, code: String, message: String);
}

/// Stops its stream when closed (Kotlin `close()`/`use {}`, Swift deinit) or `cancel()`led.
#[derive(uniffi::Object)]
pub struct StreamHandle {
    task: tokio::task::AbortHandle,
}

#[uniffi::export]
impl StreamHandle {
    pub fn cancel(&self) {
        self.task.abort();
    }
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Connects: `val client = connect(url, ConnectOptions(apiKey = "..."))`.
#[uniffi::export]
pub async fn connect(url: String, options: ConnectOptions) -> Result<Arc<Client>, MinootsError> {
    let mut builder = minoots::Client::builder(url);
    if let Some(key) = options.api_key {
        builder = builder.api_key(key);
    }
    if let Some(tenant) = options.tenant {
        builder = builder.tenant(tenant);
    }
    if let Some(region) = options.region {
        builder = builder.region(region);
    }
    let inner = run(builder.connect()).await?;
    Ok(Arc::new(Client { inner }))
}

/// Verifies a Standard Webhooks delivery from MINOOTS.
#[uniffi::export]
pub fn verify_webhook(
    secrets: Vec<String>,
    headers: HashMap<String, String>,
    body: Vec<u8>,
) -> Result<(), MinootsError> {
    Ok(minoots::verify_webhook(&secrets, headers, &body)?)
}

/// `"1h30m"` in milliseconds.
#[uniffi::export]
pub fn parse_duration_ms(text: String) -> Result<u64, MinootsError> {
    Ok(minoots::parse_duration(&text)?.as_millis() as u64)
}

#[derive(uniffi::Object)]
pub struct Client {
    inner: minoots::Client,
}

#[uniffi::export]
impl Client {
    pub async fn schedule(&self, options: ScheduleOptions) -> Result<Timer, MinootsError> {
        let (client, spec) = (self.inner.clone(), options.into_spec()?);
        run(async move { client.schedule(spec).await.map(Timer::from) }).await
    }

    pub async fn get(&self, id: String) -> Result<Timer, MinootsError> {
        let client = self.inner.clone();
        run(async move { client.get(&id).await.map(Timer::from) }).await
    }

    /// Every timer matching the label selector (pages fetched as needed), at most `limit`.
    pub async fn list(
        &self,
        label_selector: Option<String>,
        limit: Option<u32>,
    ) -> Result<Vec<Timer>, MinootsError> {
        let client = self.inner.clone();
        let filter = ListFilter {
            label_selector: label_selector.unwrap_or_default(),
            ..Default::default()
        };
        let limit = limit.map(|l| l as usize);
        run(async move {
            let timers = client.list_up_to(filter, limit).await?;
            Ok(timers.into_iter().map(Timer::from).collect())
        })
        .await
    }

    pub async fn cancel(&self, id: String, reason: String) -> Result<Timer, MinootsError> {
        let client = self.inner.clone();
        run(async move { client.cancel(&id, &reason).await.map(Timer::from) }).await
    }

    /// Until the timer fired (`done = false`) or ended (`done = true`).
    pub async fn wait_for(
        &self,
        id: String,
        done: bool,
        timeout_ms: Option<u64>,
    ) -> Result<Timer, MinootsError> {
        let client = self.inner.clone();
        let until = if done { WaitFor::Done } else { WaitFor::Fired };
        let timeout = timeout_ms.map(Duration::from_millis);
        run(async move { client.wait_for(&id, until, timeout).await.map(Timer::from) }).await
    }

    /// Streams lifecycle events to `listener` (reconnecting and resuming by itself) until the
    /// returned handle is closed or cancelled.
    pub fn stream(
        &self,
        after_sequence: Option<u64>,
        event_types: Vec<String>,
        listener: Box<dyn EventListener>,
    ) -> Result<Arc<StreamHandle>, MinootsError> {
        let options = StreamOptions {
            after_sequence,
            ..Default::default()
        }
        .event_type_names(event_types)?;
        let client = self.inner.clone();
        let task = runtime().spawn(async move {
            let mut events = match client.stream(options).await {
                Ok(events) => events,
                Err(e) => return listener.on_error(e.code().into(), e.to_string()),
            };
            while let Some(item) = events.next_event().await {
                match item {
                    Ok(event) => listener.on_event(event.into()),
                    Err(e) => return listener.on_error(e.code().into(), e.to_string()),
                }
            }
        });
        Ok(Arc::new(StreamHandle {
            task: task.abort_handle(),
        }))
    }
}
