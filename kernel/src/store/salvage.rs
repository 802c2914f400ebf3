//! Damaged records: one stored record that cannot be decoded must never fail a read or a write
//! batch of other records. Such a record is read as far as it goes (each top-level field that
//! does not decode on its own is left out; when not even that works, the row's columns give the
//! timer's identity), reads show it with a `failure_reason` saying so, and the next transition
//! that touches it quarantines it instead: the timer becomes FAILED with the reason, in the
//! same commit a dead letter records it, and the writer counts and logs it
//! ([`Outcome::Quarantined`](super::Outcome::Quarantined)).
//!
//! Validation keeps new records decodable (`validate::MAX_JSON_DEPTH`); this is for records
//! written before it, or damaged on disk.

use minoots_proto::v1::{DeadLetter, Timer, TimerEvent, TimerStatus};
use prost::Message;

use crate::clock::{Micros, to_timestamp};

/// Starts the `failure_reason` of a timer read from a damaged record, and of the FAILED timer
/// its quarantine leaves.
pub const QUARANTINE_PREFIX: &str = "quarantined: ";

/// The version given to a timer whose record is unreadable, so its real one is unknown: far
/// above any a timer reaches, so the dedupe key of its FAILED event repeats none already sent.
const UNKNOWN_VERSION: u64 = 1 << 20;

fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// One top-level field of an encoded message: its number, its bytes (key included), and the
/// payload of a length-delimited one.
struct Field<'a> {
    number: u32,
    bytes: &'a [u8],
    payload: Option<&'a [u8]>,
}

/// A field left out of a salvaged message: its number and payload.
type Dropped<'a> = (u32, &'a [u8]);

/// An encoded message's top-level fields; None when the framing itself is broken.
fn fields(mut buf: &[u8]) -> Option<Vec<Field<'_>>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let start = buf;
        let key = varint(&mut buf)?;
        let number = u32::try_from(key >> 3).ok()?;
        let payload = match key & 7 {
            0 => {
                varint(&mut buf)?;
                None
            }
            1 => {
                buf = buf.get(8..)?;
                None
            }
            5 => {
                buf = buf.get(4..)?;
                None
            }
            2 => {
                let len = usize::try_from(varint(&mut buf)?).ok()?;
                let payload = buf.get(..len)?;
                buf = &buf[len..];
                Some(payload)
            }
            // Groups: never written by this code.
            _ => return None,
        };
        out.push(Field {
            number,
            bytes: &start[..start.len() - buf.len()],
            payload,
        });
    }
    Some(out)
}

/// Decodes what it can of a record that does not decode whole: every top-level field that does
/// not decode on its own is left out and returned (number, payload).
fn salvage<M: Message + Default>(body: &[u8]) -> Option<(M, Vec<Dropped<'_>>)> {
    let mut kept = Vec::with_capacity(body.len());
    let mut dropped = Vec::new();
    for field in fields(body)? {
        match field.payload {
            Some(payload) if M::decode(field.bytes).is_err() => {
                dropped.push((field.number, payload));
            }
            _ => kept.extend_from_slice(field.bytes),
        }
    }
    M::decode(kept.as_slice()).ok().map(|m| (m, dropped))
}

/// A decode error short enough for a reason: its nesting path can run to kilobytes.
fn brief(error: &prost::DecodeError) -> String {
    let text = error.to_string();
    if text.len() <= 160 {
        return text;
    }
    let mut tail = text.len() - 100;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!("{}…{}", &text[..40], &text[tail..])
}

fn timer_field(number: u32) -> String {
    match number {
        13 => "metadata".to_owned(),
        14 => "action_bundle".to_owned(),
        15 => "agent_binding".to_owned(),
        23 => "action_results".to_owned(),
        n => format!("field {n}"),
    }
}

/// A timer as read from its row: decoded whole, or salvaged with the damage described. `row`
/// builds it from the row's columns when not even the salvage keeps its identity.
pub(crate) fn read_timer(body: &[u8], row: impl FnOnce() -> Timer) -> (Timer, Option<String>) {
    let error = match Timer::decode(body) {
        Ok(timer) => return (timer, None),
        Err(error) => brief(&error),
    };
    let stub = row();
    let (timer, damage) = match salvage::<Timer>(body) {
        Some((timer, dropped)) if timer.id == stub.id && timer.tenant_id == stub.tenant_id => {
            let names: Vec<String> = dropped.iter().map(|(n, _)| timer_field(*n)).collect();
            let damage = format!(
                "its stored record could not be decoded ({error}); read without {}",
                names.join(", ")
            );
            (timer, damage)
        }
        _ => {
            let mut timer = stub;
            timer.state_version = UNKNOWN_VERSION;
            let damage = format!(
                "its stored record could not be decoded ({error}); only its id, name, status and fire time were read"
            );
            (timer, damage)
        }
    };
    tracing::warn!(timer = %timer.id, tenant = %timer.tenant_id, %damage, "damaged timer record");
    (timer, Some(damage))
}

/// A timer for a read (get, list): a damaged one says so in its `failure_reason`.
pub(crate) fn shown(body: &[u8], row: impl FnOnce() -> Timer) -> Timer {
    let (mut timer, damage) = read_timer(body, row);
    if let Some(damage) = damage {
        timer.failure_reason = format!("{QUARANTINE_PREFIX}{damage}");
    }
    timer
}

/// Whether a timer was read from a damaged record (see [`shown`]), and why.
pub fn quarantine_reason(timer: &Timer) -> Option<&str> {
    timer.failure_reason.strip_prefix(QUARANTINE_PREFIX)
}

/// An event as read from its row, salvaged when damaged (its timer too); None when nothing of
/// it can be read, and the stream skips it.
pub(crate) fn read_event(body: &[u8]) -> Option<TimerEvent> {
    let error = match TimerEvent::decode(body) {
        Ok(event) => return Some(event),
        Err(error) => brief(&error),
    };
    let Some((mut event, dropped)) = salvage::<TimerEvent>(body) else {
        tracing::error!(%error, "unreadable event record skipped");
        return None;
    };
    for (number, payload) in dropped {
        if number == 11 {
            event.timer = salvage::<Timer>(payload).map(|(timer, _)| timer);
        }
    }
    tracing::warn!(sequence = event.sequence, tenant = %event.tenant_id, timer = %event.timer_id, %error, "damaged event record read in part");
    Some(event)
}

/// Fails a damaged timer in place, with the reason.
pub(crate) fn quarantine(timer: &mut Timer, damage: &str, at: Micros) {
    let at = Some(to_timestamp(at));
    timer.status = TimerStatus::Failed as i32;
    timer.state_version += 1;
    timer.updated_at = at;
    timer.settled_at = at;
    timer.failure_reason = format!("{QUARANTINE_PREFIX}{damage}");
}

/// The dead letter that records a quarantined timer. It holds no action: there is nothing to
/// replay, only the record of what was lost.
pub(crate) fn dead_letter(timer: &Timer, at: Micros) -> DeadLetter {
    DeadLetter {
        id: format!("{}.quarantine", timer.id),
        tenant_id: timer.tenant_id.clone(),
        timer_id: timer.id.clone(),
        action_index: 0,
        action: None,
        idempotency_key: String::new(),
        attempts: 0,
        last_error: timer.failure_reason.clone(),
        created_at: Some(to_timestamp(at)),
        resolved_at: None,
        replays: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deep(depth: usize) -> prost_types::Struct {
        use prost_types::{Struct, Value, value::Kind};
        let mut value = Value {
            kind: Some(Kind::BoolValue(true)),
        };
        for _ in 0..depth {
            value = Value {
                kind: Some(Kind::StructValue(Struct {
                    fields: [("a".to_owned(), value)].into(),
                })),
            };
        }
        Struct {
            fields: [("a".to_owned(), value)].into(),
        }
    }

    #[test]
    fn a_record_nested_past_the_decoder_limit_is_read_without_the_deep_field() {
        let timer = Timer {
            id: "t1".into(),
            tenant_id: "acme".into(),
            name: "deep".into(),
            status: TimerStatus::Armed as i32,
            state_version: 2,
            metadata: Some(deep(40)),
            ..Timer::default()
        };
        let body = timer.encode_to_vec();
        assert!(
            Timer::decode(body.as_slice()).is_err(),
            "the decoder refuses it"
        );
        let columns = || Timer {
            id: "t1".into(),
            tenant_id: "acme".into(),
            ..Timer::default()
        };
        let (read, damage) = read_timer(&body, columns);
        assert_eq!(read.metadata, None);
        assert_eq!((read.id.as_str(), read.state_version), ("t1", 2));
        let damage = damage.unwrap();
        assert!(
            damage.contains("metadata") && damage.len() < 300,
            "{damage}"
        );

        let event = TimerEvent {
            sequence: 7,
            timer: Some(timer),
            ..TimerEvent::default()
        };
        let read = read_event(&event.encode_to_vec()).unwrap();
        assert_eq!(read.sequence, 7);
        assert_eq!(read.timer.unwrap().name, "deep");
    }

    #[test]
    fn garbage_is_read_from_the_columns() {
        let stub = || Timer {
            id: "t2".into(),
            tenant_id: "acme".into(),
            status: TimerStatus::Armed as i32,
            ..Timer::default()
        };
        let (read, damage) = read_timer(&[0xff, 0xff, 0xff], stub);
        assert_eq!(read.id, "t2");
        assert_eq!(read.state_version, UNKNOWN_VERSION);
        assert!(damage.is_some());
        assert!(read_event(&[0xff, 0xff, 0xff]).is_none());
    }
}
