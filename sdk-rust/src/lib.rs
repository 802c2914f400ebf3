//! The MINOOTS client. It holds every piece of client logic (connection, TLS, retries, duration
//! parsing, pagination, stream resume, waiting, webhook verification, error mapping); the
//! Python, Node and Kotlin bindings wrap it instead of re-implementing it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), minoots::Error> {
//! use minoots::{Client, StreamOptions, TimerSpec, WaitFor};
//!
//! let client = Client::builder("http://127.0.0.1:7070")
//!     .api_key("local-dev-key")
//!     .connect()
//!     .await?;
//! let timer = client
//!     .schedule(TimerSpec::new("standup", "15m").label("team", "core"))
//!     .await?;
//! println!("{} fires at {:?}", timer.id, timer.fire_at);
//!
//! let mut events = client.stream(StreamOptions::default()).await?;
//! while let Some(event) = events.next_event().await {
//!     println!("{} {}", event?.sequence, timer.id);
//! }
//! let fired = client.wait_for(&timer.id, WaitFor::Fired, None).await?;
//! # Ok(()) }
//! ```

mod client;
mod dead_letter;
mod duration;
mod error;
mod labels;
mod schedule;
mod stream;
mod timer;
pub mod tools;
mod webhook;

pub use client::{Client, ClientBuilder, ConnectOptions, DEFAULT_URL, ListFilter, Retry, WaitFor};
pub use dead_letter::parse_since;
pub use duration::parse_duration;
pub use error::Error;
pub use labels::parse_labels;
pub use minoots_proto::{json, v1 as proto};
pub use schedule::{
    PreviewOf, ScheduleOptions, ScheduleQuery, ScheduleTiming, ScheduleUpdate, catch_up_policy,
    overlap_policy, preview_to_json,
};
pub use stream::{CloseHandle, EventStream, Reconnect, StreamOptions};
pub use timer::{After, TimerOptions, TimerSpec, TimerUpdate, key_policy, late_policy};
pub use webhook::{DEFAULT_TOLERANCE, verify_webhook};
