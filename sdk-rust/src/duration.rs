use std::time::Duration;

use crate::Error;

/// Parses `250ms`, `15s`, `15m`, `2h`, `7d`, compound forms like `1h30m`, or a bare integer of
/// milliseconds (the contract's parser, [`minoots_proto::parse_duration`], with the SDK's error).
pub fn parse_duration(input: &str) -> Result<Duration, Error> {
    minoots_proto::parse_duration(input).map_err(|e| Error::InvalidArgument {
        field: "duration".into(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_invalid_argument_on_the_duration_field() {
        let Err(Error::InvalidArgument { field, message }) = parse_duration("15x") else {
            panic!("15x parsed");
        };
        assert_eq!(field, "duration");
        assert_eq!(message, r#""15x": unknown unit "x" (ms, s, m, h, d)"#);
    }
}
