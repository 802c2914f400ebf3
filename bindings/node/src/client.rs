//! `Client`: every method one call into the SDK, returning a Promise.

use std::{collections::HashMap, time::Duration};

use minoots::{ListFilter, StreamOptions, WaitFor};
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use crate::{
    error::{Result, invalid, to_js},
    stream::EventStream,
    timer::{ScheduleOptions, Timer},
};

#[napi(object)]
pub struct ConnectOptions {
    pub api_key: Option<String>,
    pub tenant: Option<String>,
    /// `x-minoots-region`; `*` lists and streams every region.
    pub region: Option<String>,
    /// A PEM certificate authority to trust for `https://` URLs.
    pub ca_certificate: Option<String>,
    pub connect_timeout_ms: Option<u32>,
}

#[napi(object)]
pub struct ListOptions {
    /// `scheduled`, `armed`, `fired`, `settled`, `failed`, `cancelled`.
    pub statuses: Option<Vec<String>>,
    pub label_selector: Option<String>,
    pub name_prefix: Option<String>,
    pub page_size: Option<u32>,
    /// At most this many timers (pages are fetched as needed).
    pub limit: Option<u32>,
}

#[napi(object)]
pub struct StreamTimersOptions {
    /// Replay retained events after this sequence, then go live.
    pub after_sequence: Option<i64>,
    /// `timer.fired` or `fired`, ...
    pub event_types: Option<Vec<String>>,
    pub label_selector: Option<String>,
}

#[napi(object)]
pub struct WaitOptions {
    /// `fired` (default) or `done` (settled, failed or cancelled).
    pub until: Option<String>,
    pub timeout_ms: Option<u32>,
}

pub fn stream_options(options: Option<StreamTimersOptions>) -> Result<StreamOptions> {
    let Some(options) = options else {
        return Ok(StreamOptions::default());
    };
    let after_sequence = options
        .after_sequence
        .map(|s| u64::try_from(s).map_err(|_| invalid("after_sequence", "must be >= 0")))
        .transpose()?;
    StreamOptions {
        after_sequence,
        label_selector: options.label_selector.unwrap_or_default(),
        ..Default::default()
    }
    .event_type_names(options.event_types.unwrap_or_default())
    .map_err(to_js)
}

/// A MINOOTS client: `const client = await Client.connect(url, { apiKey })`.
#[napi]
pub struct Client {
    inner: minoots::Client,
}

#[napi]
impl Client {
    #[napi(factory)]
    pub async fn connect(url: String, options: Option<ConnectOptions>) -> Result<Client> {
        let mut builder = minoots::Client::builder(url);
        if let Some(o) = options {
            if let Some(key) = o.api_key {
                builder = builder.api_key(key);
            }
            if let Some(tenant) = o.tenant {
                builder = builder.tenant(tenant);
            }
            if let Some(region) = o.region {
                builder = builder.region(region);
            }
            if let Some(pem) = o.ca_certificate {
                builder = builder.ca_certificate(pem.into_bytes());
            }
            if let Some(ms) = o.connect_timeout_ms {
                builder = builder.connect_timeout(Duration::from_millis(ms.into()));
            }
        }
        let inner = builder.connect().await.map_err(to_js)?;
        Ok(Client { inner })
    }

    #[napi]
    pub async fn schedule(&self, options: ScheduleOptions) -> Result<Timer> {
        let spec = options.into_spec()?;
        self.inner
            .schedule(spec)
            .await
            .map(Timer::from)
            .map_err(to_js)
    }

    #[napi]
    pub async fn get(&self, id: String) -> Result<Timer> {
        self.inner.get(&id).await.map(Timer::from).map_err(to_js)
    }

    #[napi]
    pub async fn list(&self, options: Option<ListOptions>) -> Result<Vec<Timer>> {
        let options = options.unwrap_or(ListOptions {
            statuses: None,
            label_selector: None,
            name_prefix: None,
            page_size: None,
            limit: None,
        });
        let filter = ListFilter {
            label_selector: options.label_selector.unwrap_or_default(),
            name_prefix: options.name_prefix.unwrap_or_default(),
            page_size: options.page_size.unwrap_or_default(),
            ..Default::default()
        }
        .status_names(options.statuses.unwrap_or_default())
        .map_err(to_js)?;
        let limit = options.limit.map(|l| l as usize);
        let timers = self.inner.list_up_to(filter, limit).await.map_err(to_js)?;
        Ok(timers.into_iter().map(Timer::from).collect())
    }

    #[napi]
    pub async fn cancel(&self, id: String, reason: Option<String>) -> Result<Timer> {
        let reason = reason.unwrap_or_default();
        self.inner
            .cancel(&id, &reason)
            .await
            .map(Timer::from)
            .map_err(to_js)
    }

    /// Resolves once the timer fired (`until: "fired"`) or ended (`"done"`); rejects with
    /// `DEADLINE_EXCEEDED` after `timeoutMs`.
    #[napi]
    pub async fn wait_for(&self, id: String, options: Option<WaitOptions>) -> Result<Timer> {
        let (until, timeout) = match options {
            None => (None, None),
            Some(o) => (o.until, o.timeout_ms),
        };
        let until = WaitFor::from_name(until.as_deref().unwrap_or("fired")).map_err(to_js)?;
        let timeout = timeout.map(|ms| Duration::from_millis(ms.into()));
        self.inner
            .wait_for(&id, until, timeout)
            .await
            .map(Timer::from)
            .map_err(to_js)
    }

    /// The native stream under `stream()` and `streamTimers()` (see index.js): opened before
    /// the promise resolves, reconnecting and resuming by itself.
    #[napi]
    pub async fn open_stream(&self, options: Option<StreamTimersOptions>) -> Result<EventStream> {
        let options = stream_options(options)?;
        let inner = self.inner.stream(options).await.map_err(to_js)?;
        Ok(EventStream::new(inner))
    }
}

/// Verifies a Standard Webhooks delivery from MINOOTS; throws with code `INVALID_SIGNATURE`
/// (the message names the header at fault).
#[napi]
pub fn verify_webhook(
    secrets: Vec<String>,
    headers: HashMap<String, String>,
    body: Buffer,
) -> Result<()> {
    minoots::verify_webhook(&secrets, headers, &body).map_err(to_js)
}

/// `"1h30m"` in milliseconds, with the SDK's parser.
#[napi]
pub fn parse_duration(text: String) -> Result<f64> {
    minoots::parse_duration(&text)
        .map(|d| d.as_secs_f64() * 1_000.0)
        .map_err(to_js)
}
