//! A schedule's spec, checked and ready to compute slots: a cron in an IANA time zone (parsed by
//! croner, zone rules from jiff's bundled tz database) or a fixed interval from an anchor.
//!
//! DST: a cron wall time that does not exist (spring forward) fires at the next valid instant
//! (croner); a wall time that happens twice (fall back) fires once: a slot whose wall time is
//! not after the previous slot's is dropped, so `*/30 1 * * *` does not fire again in the
//! repeated hour.

use croner::{
    Cron,
    parser::{CronParser, Seconds},
};
use jiff::{Timestamp, tz::TimeZone};
use minoots_proto::v1::{CatchUpPolicy, OverlapPolicy, ScheduleSpec};
use sha2::{Digest, Sha256};

use crate::{
    clock::{Micros, from_duration, from_timestamp},
    error::{KernelError, Result},
    validate,
};

/// The shortest interval (and so at most one occurrence a second per schedule).
pub const MIN_INTERVAL: Micros = 1_000_000;
pub const DEFAULT_CATCH_UP_WINDOW: Micros = 3_600_000_000;
pub const MAX_CATCH_UP_WINDOW: Micros = 7 * 86_400_000_000;
pub const MAX_JITTER: Micros = 86_400_000_000;

#[derive(Debug, Clone)]
enum Every {
    Cron(Box<Cron>),
    Interval(Micros),
}

impl Spec {
    pub fn is_interval(&self) -> bool {
        matches!(self.every, Every::Interval(_))
    }
}

/// A checked spec.
#[derive(Debug, Clone)]
pub struct Spec {
    every: Every,
    zone: TimeZone,
    /// No slot before this (for intervals: the anchor every slot counts from).
    pub start: Micros,
    pub end: Option<Micros>,
    pub max_runs: u64,
    pub jitter: Micros,
    pub overlap: OverlapPolicy,
    pub catch_up: CatchUpPolicy,
    pub catch_up_window: Micros,
}

const FIELDS_6: [&str; 6] = [
    "second",
    "minute",
    "hour",
    "day-of-month",
    "month",
    "day-of-week",
];

fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        // Vixie cron: a day matching day-of-month OR day-of-week.
        .dom_and_dow(false)
        .build()
}

/// Parses a cron expression; an error names the field that is wrong.
pub fn parse_cron(field: &str, expr: &str) -> Result<Cron> {
    let expr = expr.trim();
    let parts: Vec<&str> = expr.split_whitespace().collect();
    if !(expr.starts_with('@') || parts.len() == 5 || parts.len() == 6) {
        return Err(KernelError::invalid(
            field,
            format!(
                "`{expr}` has {} fields; a cron has 5 (minute hour day-of-month month day-of-week) or 6 (second first)",
                parts.len()
            ),
        ));
    }
    parser().parse(expr).map_err(|error| {
        // Find the field at fault: the expression with only that field kept.
        let names = &FIELDS_6[6 - parts.len().min(6)..];
        let culprit = (0..parts.len()).find(|&i| {
            let probe: Vec<&str> = (0..parts.len())
                .map(|j| if i == j { parts[j] } else { "*" })
                .collect();
            parser().parse(&probe.join(" ")).is_err()
        });
        let message = match culprit {
            Some(i) if !expr.starts_with('@') => {
                format!("{} field `{}` is not valid ({error})", names[i], parts[i])
            }
            _ => format!("`{expr}` is not a valid cron expression ({error})"),
        };
        KernelError::invalid(field, message)
    })
}

pub fn parse_zone(field: &str, name: &str) -> Result<TimeZone> {
    if name.is_empty() || name.eq_ignore_ascii_case("utc") {
        return Ok(TimeZone::UTC);
    }
    TimeZone::get(name).map_err(|_| {
        KernelError::invalid(
            field,
            format!(
                "{} is not an IANA time zone (e.g. Europe/Paris, America/New_York, UTC)",
                crate::error::quote(name)
            ),
        )
    })
}

fn optional_duration(field: &str, d: &Option<prost_types::Duration>) -> Result<Option<Micros>> {
    match d {
        None => Ok(None),
        Some(d) => {
            validate::duration(field, d)?;
            let micros = from_duration(d);
            if micros < 0 {
                return Err(KernelError::invalid(field, "must not be negative"));
            }
            Ok(Some(micros))
        }
    }
}

impl Spec {
    /// Checks a spec; field names are prefixed with `prefix` (`spec`). `anchor` starts an interval
    /// that names no start_at.
    pub fn parse(prefix: &str, spec: &ScheduleSpec, anchor: Micros) -> Result<Self> {
        // An interval is a fixed duration (DST does not stretch it); its zone only names wall
        // times in previews.
        let f = |name: &str| format!("{prefix}.{name}");
        let every = match (spec.cron.trim().is_empty(), &spec.interval) {
            (false, Some(_)) => {
                return Err(KernelError::invalid(
                    f("cron"),
                    "give cron or interval, not both",
                ));
            }
            (true, None) => {
                return Err(KernelError::invalid(
                    f("cron"),
                    "one of cron or interval is required",
                ));
            }
            (false, None) => Every::Cron(Box::new(parse_cron(&f("cron"), &spec.cron)?)),
            (true, Some(_)) => {
                let micros = optional_duration(&f("interval"), &spec.interval)?.unwrap_or(0);
                if micros < MIN_INTERVAL {
                    return Err(KernelError::invalid(f("interval"), "must be at least 1s"));
                }
                if micros > validate::MAX_HORIZON {
                    return Err(KernelError::invalid(
                        f("interval"),
                        "must be at most 10 years",
                    ));
                }
                Every::Interval(micros)
            }
        };
        let zone = parse_zone(&f("time_zone"), &spec.time_zone)?;
        let start = match &spec.start_at {
            Some(ts) => {
                validate::timestamp(&f("start_at"), ts)?;
                from_timestamp(ts)
            }
            None => anchor,
        };
        let end = match &spec.end_at {
            Some(ts) => {
                validate::timestamp(&f("end_at"), ts)?;
                let end = from_timestamp(ts);
                if end <= start {
                    return Err(KernelError::invalid(
                        f("end_at"),
                        "must be after start_at (or after now, when start_at is unset)",
                    ));
                }
                Some(end)
            }
            None => None,
        };
        let jitter = optional_duration(&f("jitter"), &spec.jitter)?.unwrap_or(0);
        if jitter > MAX_JITTER {
            return Err(KernelError::invalid(f("jitter"), "must be at most 24h"));
        }
        let overlap = OverlapPolicy::try_from(spec.overlap_policy).map_err(|_| {
            KernelError::invalid(
                f("overlap_policy"),
                format!("{} is not an overlap policy", spec.overlap_policy),
            )
        })?;
        let catch_up = CatchUpPolicy::try_from(spec.catch_up_policy).map_err(|_| {
            KernelError::invalid(
                f("catch_up_policy"),
                format!("{} is not a catch-up policy", spec.catch_up_policy),
            )
        })?;
        let catch_up_window = optional_duration(&f("catch_up_window"), &spec.catch_up_window)?
            .unwrap_or(DEFAULT_CATCH_UP_WINDOW);
        if catch_up_window > MAX_CATCH_UP_WINDOW {
            return Err(KernelError::invalid(
                f("catch_up_window"),
                "must be at most 7 days",
            ));
        }
        let spec = Self {
            every,
            zone,
            start,
            end,
            max_runs: spec.max_runs,
            jitter,
            overlap: match overlap {
                OverlapPolicy::Unspecified => OverlapPolicy::Skip,
                other => other,
            },
            catch_up: match catch_up {
                CatchUpPolicy::Unspecified => CatchUpPolicy::Latest,
                other => other,
            },
            catch_up_window,
        };
        if spec.next_after(spec.start - 1).is_none() {
            return Err(KernelError::invalid(
                f("cron"),
                "gives no occurrence between start_at and end_at",
            ));
        }
        Ok(spec)
    }

    /// The first slot strictly after `after` (and not before start, not after end).
    pub fn next_after(&self, after: Micros) -> Option<Micros> {
        let after = after.max(self.start - 1);
        let next = match &self.every {
            Every::Interval(every) => {
                let k = (after - self.start).div_euclid(*every) + 1;
                self.start.checked_add(k.checked_mul(*every)?)?
            }
            Every::Cron(cron) => {
                let mut from = self.zoned(after)?;
                let floor = from.datetime();
                let mut found = None;
                // A few rounds at most: only slots in a repeated (fall-back) hour are dropped.
                for _ in 0..64 {
                    let next = cron.find_next_occurrence(&from, false).ok()?;
                    if next.datetime() > floor {
                        found = Some(next.timestamp().as_microsecond());
                        break;
                    }
                    from = next;
                }
                found?
            }
        };
        match self.end {
            Some(end) if next > end => None,
            _ => Some(next),
        }
    }

    fn zoned(&self, at: Micros) -> Option<jiff::Zoned> {
        Some(
            Timestamp::from_microsecond(at)
                .ok()?
                .to_zoned(self.zone.clone()),
        )
    }

    /// The slot as wall time in the spec's zone (RFC 3339 with offset, then `[zone]`).
    pub fn local_time(&self, at: Micros) -> String {
        self.zoned(at).map(|z| z.to_string()).unwrap_or_default()
    }

    /// How far after its slot an occurrence fires: the same for a slot every time it is
    /// computed (a retry after a crash schedules the same timer).
    pub fn jitter_for(&self, schedule_id: &str, slot: Micros) -> Micros {
        if self.jitter <= 0 {
            return 0;
        }
        let digest = Sha256::digest(format!("{schedule_id}:{slot}"));
        let n = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
        (n % (self.jitter as u64 + 1)) as Micros
    }

    /// Slots in the 24 hours after `from` (counted up to `cap`), for the quota check.
    pub fn per_day(&self, from: Micros, cap: u64) -> u64 {
        let until = from + 86_400_000_000;
        let mut n = 0;
        let mut at = from;
        while n < cap {
            match self.next_after(at) {
                Some(next) if next <= until => {
                    n += 1;
                    at = next;
                }
                _ => break,
            }
        }
        n
    }
}
