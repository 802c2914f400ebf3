use std::time::Duration;

use crate::Error;

/// Parses `250ms`, `15s`, `15m`, `2h`, `7d`, compound forms like `1h30m`, or a bare integer of
/// milliseconds.
pub fn parse_duration(input: &str) -> Result<Duration, Error> {
    let invalid = |why: &str| Error::InvalidArgument {
        field: "duration".into(),
        message: format!("{input:?}: {why}"),
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
        for bad in ["", "m", "15", "15x", "-5s", "1.5h"] {
            if bad == "15" {
                continue;
            }
            assert!(
                matches!(parse_duration(bad), Err(Error::InvalidArgument { .. })),
                "{bad:?}"
            );
        }
    }
}
