//! Kernel behaviour on a manual clock: nothing here depends on how fast the machine is. Tests
//! wait on events (effects), never on sleeps; the timeouts only turn a hang into a failure.
//!
//! One file per topic; the helpers every topic uses are here.

mod actions;
mod control;
mod delivery;
mod group_commit;
mod janitor;
mod lifecycle;
mod parsers;
mod quotas;
mod schedules;
mod streams;
mod timers;

use std::{collections::HashMap, sync::Arc, time::Duration};

use minoots_proto::{
    prost_types,
    v1::{
        Action, ActionBundle, CancelTimerRequest, CommandAction, FileAction,
        ListDeadLettersRequest, ListTimersRequest, ScheduleTimerRequest, ScheduleTimerResponse,
        StreamTimerEventsRequest, Timer, TimerEvent, TimerEventType, TimerStatus, WebhookAction,
        action::Kind, schedule_timer_request::Schedule,
    },
};
use tokio::sync::mpsc;

use crate::{
    Kernel, KernelConfig, KernelError, ManualClock, Micros, Result,
    clock::{to_duration, to_timestamp},
    lifecycle::scheduler::system_transition,
    store::{self, ListQuery, MemoryStore, Mutation, Outcome, Store},
    validate,
};

const T0: Micros = 1_763_900_000_000_000;
const SEC: Micros = 1_000_000;

async fn start(store: Arc<dyn Store>, clock: &ManualClock) -> Kernel {
    let config = KernelConfig {
        scheduler_thread: false,
        ..KernelConfig::default()
    };
    Kernel::start(store, Arc::new(clock.clone()), config)
        .await
        .unwrap()
}

fn request(name: &str, after: Micros) -> ScheduleTimerRequest {
    ScheduleTimerRequest {
        name: name.into(),
        schedule: Some(Schedule::Duration(to_duration(after))),
        ..ScheduleTimerRequest::default()
    }
}

async fn next(rx: &mut mpsc::Receiver<Result<TimerEvent>>) -> TimerEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no event within 10 s")
        .unwrap()
        .unwrap()
}

/// Reads events until one matches.
async fn until(
    rx: &mut mpsc::Receiver<Result<TimerEvent>>,
    event_type: TimerEventType,
    timer_id: &str,
) -> TimerEvent {
    loop {
        let event = next(rx).await;
        if event.event_type == event_type as i32 && event.timer_id == timer_id {
            return event;
        }
    }
}

fn live() -> StreamTimerEventsRequest {
    StreamTimerEventsRequest::default()
}
