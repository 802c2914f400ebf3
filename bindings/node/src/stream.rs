//! The SDK's resuming event stream; `index.js` drives `next()` for `streamTimers` and
//! `for await`.

use std::sync::Arc;

use napi_derive::napi;
use tokio::sync::Mutex;

use crate::{
    error::{Result, to_js},
    timer::TimerEvent,
};

#[napi]
pub struct EventStream {
    inner: Arc<Mutex<minoots::EventStream>>,
    closer: minoots::CloseHandle,
}

impl EventStream {
    pub fn new(inner: minoots::EventStream) -> Self {
        Self {
            closer: inner.close_handle(),
            inner: Arc::new(Mutex::new(inner)),
        }
    }
}

#[napi]
impl EventStream {
    /// The next event, or `null` once the stream is closed.
    #[napi]
    pub async fn next(&self) -> Result<Option<TimerEvent>> {
        let mut inner = self.inner.lock().await;
        match inner.next_event().await {
            Some(Ok(event)) => Ok(Some(event.into())),
            Some(Err(e)) => Err(to_js(e)),
            None => Ok(None),
        }
    }

    /// Ends the stream; a pending `next()` resolves with `null`.
    #[napi]
    pub fn close(&self) {
        self.closer.close();
    }
}
