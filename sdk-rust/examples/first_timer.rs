//! The README's first timer: schedule one, then watch its lifecycle on the event stream.
//! Run `minoots serve --dev`, then `cargo run -p minoots --example first_timer`
//! (MINOOTS_URL and MINOOTS_API_KEY override the defaults).

use minoots::{Client, StreamOptions, TimerSpec, proto};

#[tokio::main]
async fn main() -> Result<(), minoots::Error> {
    let url = std::env::var("MINOOTS_URL").unwrap_or_else(|_| "http://127.0.0.1:7070".into());
    let key = std::env::var("MINOOTS_API_KEY").unwrap_or_else(|_| "local-dev-key".into());
    let client = Client::builder(url).api_key(key).connect().await?;
    let timer = client
        .schedule(TimerSpec::new("first-timer", "2s").label("team", "core"))
        .await?;
    println!(
        "{} is {:?}, fires at {:?}",
        timer.id,
        timer.status(),
        timer.fire_at
    );

    // The tenant's events from the start of the retained log, then live.
    let mut events = client
        .stream(StreamOptions::default().after_sequence(0))
        .await?;
    while let Some(event) = events.next_event().await {
        let event = event?;
        println!(
            "#{} {:?} {}",
            event.sequence,
            event.event_type(),
            event.timer_id
        );
        if event.timer_id == timer.id && event.event_type() == proto::TimerEventType::Settled {
            break;
        }
    }
    Ok(())
}
