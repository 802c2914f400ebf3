//! `GET /timers/stream`: the event stream as Server-Sent Events, timer and schedule events alike;
//! `GET /schedules/stream`: the same stream, of schedule events unless `eventTypes` says otherwise.

use std::{convert::Infallible, time::Duration};

use axum::{
    Extension,
    extract::State,
    http::HeaderMap,
    response::sse::{Event, KeepAlive, Sse},
};
use minoots_proto::v1::{StreamTimerEventsRequest, TimerEventType};
use serde::Deserialize;
use serde_json::json;
use tokio_stream::{Stream, StreamExt};

use super::{ApiQuery, error::ApiError, invalid};
use crate::{Gateway, auth::Principal};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StreamQuery {
    tenant_id: Option<String>,
    after_sequence: Option<u64>,
    /// Comma-separated: `timer.fired,timer.settled` (or `fired,settled`).
    event_types: Option<String>,
    label_selector: Option<String>,
}

fn parse_event_type(name: &str) -> Result<i32, ApiError> {
    TimerEventType::from_wire_name(name)
        .map(|t| t as i32)
        .ok_or_else(|| {
            invalid(
                "event_types",
                format!(
                    "unknown event type {}",
                    minoots_kernel::error::quote(name.trim())
                ),
            )
        })
}

/// `GET /timers/stream`: `event: <type>`, `id: <sequence>`, `data: <the delivered payload>`.
/// Resumes after `Last-Event-ID` (or `afterSequence`); keep-alive comments every 15 s.
pub(super) async fn stream(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    events(gateway, principal, headers, query, &[]).await
}

/// Schedule events: `schedule.created`, ..., `schedule.skipped`.
const SCHEDULE_EVENTS: [TimerEventType; 7] = [
    TimerEventType::ScheduleCreated,
    TimerEventType::ScheduleUpdated,
    TimerEventType::SchedulePaused,
    TimerEventType::ScheduleResumed,
    TimerEventType::ScheduleDeleted,
    TimerEventType::ScheduleCompleted,
    TimerEventType::ScheduleSkipped,
];

/// `GET /schedules/stream`: as `GET /timers/stream`, of the schedule events unless
/// `eventTypes` names others.
pub(super) async fn schedules(
    State(gateway): State<Gateway>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    events(gateway, principal, headers, query, &SCHEDULE_EVENTS).await
}

/// The stream of `event_types` (else `default_types`, else every type).
async fn events(
    gateway: Gateway,
    principal: Principal,
    headers: HeaderMap,
    query: StreamQuery,
    default_types: &'static [TimerEventType],
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let target = principal.target(&headers, query.tenant_id.as_deref().unwrap_or_default())?;
    let last_event_id = match headers.get("last-event-id") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| invalid("last_event_id", "must be an event sequence number"))?,
        ),
    };
    let event_types = match &query.event_types {
        None => default_types.iter().map(|t| *t as i32).collect(),
        Some(list) => list
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(parse_event_type)
            .collect::<Result<_, _>>()?,
    };
    let request = StreamTimerEventsRequest {
        tenant_id: String::new(),
        after_sequence: last_event_id.or(query.after_sequence),
        event_types,
        label_selector: query.label_selector.unwrap_or_default(),
    };
    let events = gateway.subscribe(&principal, &target, request).await?;
    // The data is the delivered payload as stored, so a schedule event shows the schedule
    // (`schedule_event_payload`) as a timer event shows its timer.
    let stream = events.map(|item| {
        Ok(match item {
            Ok(event) => Event::default()
                .event(
                    TimerEventType::try_from(event.event_type)
                        .unwrap_or_default()
                        .wire_name(),
                )
                .id(event.sequence.to_string())
                .data(String::from_utf8_lossy(&event.payload)),
            Err(status) => Event::default().event("error").data(
                json!({"code": super::error::code_name(status.code()), "message": status.message()})
                    .to_string(),
            ),
        })
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
