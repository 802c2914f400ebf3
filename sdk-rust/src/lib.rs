//! The MINOOTS client. It holds every piece of client logic (connection, tenant, duration parsing,
//! error mapping); the Python, Node and Kotlin bindings wrap it instead of re-implementing it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), minoots::Error> {
//! let mut client = minoots::Client::builder("http://127.0.0.1:7070")
//!     .api_key("local-dev-key")
//!     .connect()
//!     .await?;
//! let timer = client.schedule(minoots::TimerSpec::new("standup", minoots::parse_duration("15m")?)).await?;
//! println!("{} fires at {:?}", timer.id, timer.fire_at);
//! # Ok(()) }
//! ```

mod client;
mod duration;
mod error;

pub use client::{Client, ClientBuilder, TimerSpec};
pub use duration::parse_duration;
pub use error::Error;
pub use minoots_proto::v1 as proto;
