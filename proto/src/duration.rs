//! Durations as people write them (`15m`, `1h30m`, `250ms`, or bare milliseconds), the one
//! syntax of REST `duration`, the CLI flags and every SDK: the server and the clients share
//! this parser so a text accepted by one is accepted by all.

use std::{fmt, time::Duration};

/// A text that is not a duration; shows as `"<input>": <reason>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError {
    pub input: String,
    pub reason: String,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.input, self.reason)
    }
}

impl std::error::Error for DurationError {}

/// Parses `250ms`, `15s`, `15m`, `2h`, `7d`, compound forms like `1h30m`, or a bare integer of
/// milliseconds.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let invalid = |why: &str| DurationError {
        input: input.to_owned(),
        reason: why.to_owned(),
    };
    let text = input.trim();
    if text.is_empty() {
        return Err(invalid("is empty"));
    }
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(Duration::from_millis(ms));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(invalid("expected a number"));
        }
        let value: u64 = rest[..digits]
            .parse()
            .map_err(|_| invalid("number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3_600),
            "d" => Duration::from_secs(86_400),
            "" => return Err(invalid("missing unit (ms, s, m, h, d)")),
            other => return Err(invalid(&format!("unknown unit {other:?} (ms, s, m, h, d)"))),
        };
        total = u32::try_from(value)
            .ok()
            .and_then(|v| unit.checked_mul(v))
            .and_then(|d| total.checked_add(d))
            .ok_or_else(|| invalid("too large"))?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_compounds_and_bare_milliseconds() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5_400));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        assert_eq!(
            parse_duration("1500").unwrap(),
            Duration::from_millis(1_500)
        );
        for bad in ["", "m", "15x", "-5s", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn errors_name_the_input_and_the_reason() {
        let error = parse_duration("15x").unwrap_err();
        assert_eq!(error.input, "15x");
        assert_eq!(
            error.to_string(),
            r#""15x": unknown unit "x" (ms, s, m, h, d)"#
        );
    }
}
