//! The `since` of dead-letter lists and replays, as people give it.

use std::time::SystemTime;

use crate::{Error, parse_duration};

/// An RFC 3339 time (`2026-11-23T00:00:00Z`), or a duration before now (`24h`), as the
/// `since` of [`crate::Client::dead_letters`] and [`crate::Client::replay_dead_letters`];
/// anything else is an [`Error::InvalidArgument`] for `since`.
pub fn parse_since(text: &str) -> Result<prost_types::Timestamp, Error> {
    if let Ok(at) = text.parse::<prost_types::Timestamp>() {
        return Ok(at);
    }
    let invalid = || Error::InvalidArgument {
        field: "since".into(),
        message: format!("{text:?}: not an RFC 3339 time or a duration like 24h"),
    };
    let ago = parse_duration(text).map_err(|_| invalid())?;
    let at = SystemTime::now().checked_sub(ago).ok_or_else(invalid)?;
    Ok(at.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_a_time_or_a_duration_ago() {
        assert_eq!(
            parse_since("2026-11-23T00:00:00Z").unwrap().to_string(),
            "2026-11-23T00:00:00Z"
        );
        let day_ago = parse_since("24h").unwrap();
        let now = prost_types::Timestamp::from(SystemTime::now());
        assert!((now.seconds - day_ago.seconds - 86_400).abs() <= 1);
        assert!(matches!(
            parse_since("yesterday"),
            Err(Error::InvalidArgument { field, .. }) if field == "since"
        ));
    }
}
