//! Recurring schedules: slots across real DST transitions (zone rules from the bundled tz
//! database), the runner on a manual clock (occurrences, overlap, catch-up, restart), and the
//! errors a bad spec gets.

use minoots_proto::v1::{
    CatchUpPolicy, CreateScheduleRequest, DeleteScheduleRequest, GetScheduleRequest,
    ListSchedulesRequest, OverlapPolicy, PauseScheduleRequest, PauseTimerRequest,
    PreviewScheduleRequest, ResumeScheduleRequest, Schedule as Recurring, ScheduleSpec,
    ScheduleState, UpdateScheduleRequest,
};

use super::*;
use crate::schedules::{Spec, occurrence_key, runner::LEAD};

/// 2026-06-01T00:00:00Z, a Monday: minute-aligned.
const JUNE: Micros = 1_780_272_000 * SEC;
const MIN: Micros = 60 * SEC;

fn at(rfc3339: &str) -> Micros {
    rfc3339.parse::<jiff::Timestamp>().unwrap().as_microsecond()
}

fn cron(expr: &str, zone: &str) -> ScheduleSpec {
    ScheduleSpec {
        cron: expr.into(),
        time_zone: zone.into(),
        ..ScheduleSpec::default()
    }
}

/// The next `n` slots after `from`, as wall times in the spec's zone.
fn slots(spec: &ScheduleSpec, from: &str, n: usize) -> Vec<String> {
    let spec = Spec::parse("spec", spec, at(from) - 86_400 * SEC).unwrap();
    let mut out = Vec::new();
    let mut t = at(from);
    for _ in 0..n {
        t = spec.next_after(t).unwrap();
        out.push(spec.local_time(t));
    }
    out
}

#[test]
fn a_wall_time_skipped_by_spring_forward_fires_at_the_next_valid_instant() {
    // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT.
    assert_eq!(
        slots(
            &cron("30 2 * * *", "America/New_York"),
            "2026-03-07T12:00:00Z",
            3
        ),
        [
            "2026-03-08T03:00:00-04:00[America/New_York]",
            "2026-03-09T02:30:00-04:00[America/New_York]",
            "2026-03-10T02:30:00-04:00[America/New_York]",
        ]
    );
    // London, 2026-03-29: 01:00 GMT jumps to 02:00 BST.
    assert_eq!(
        slots(
            &cron("30 1 * * *", "Europe/London"),
            "2026-03-28T12:00:00Z",
            2
        ),
        [
            "2026-03-29T02:00:00+01:00[Europe/London]",
            "2026-03-30T01:30:00+01:00[Europe/London]",
        ]
    );
    // Lord Howe, 2026-10-04: 02:00 jumps 30 minutes to 02:30.
    assert_eq!(
        slots(
            &cron("15 2 * * *", "Australia/Lord_Howe"),
            "2026-10-03T00:00:00Z",
            2
        ),
        [
            "2026-10-04T02:30:00+11:00[Australia/Lord_Howe]",
            "2026-10-05T02:15:00+11:00[Australia/Lord_Howe]",
        ]
    );
}

#[test]
fn a_wall_time_that_happens_twice_fires_once() {
    // New York, 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
    assert_eq!(
        slots(
            &cron("30 1 * * *", "America/New_York"),
            "2026-10-31T12:00:00Z",
            2
        ),
        [
            "2026-11-01T01:30:00-04:00[America/New_York]",
            "2026-11-02T01:30:00-05:00[America/New_York]",
        ]
    );
    // Every 30 minutes of the 01:00 hour: not again in the repeated hour.
    assert_eq!(
        slots(
            &cron("*/30 1 * * *", "America/New_York"),
            "2026-10-31T12:00:00Z",
            3
        ),
        [
            "2026-11-01T01:00:00-04:00[America/New_York]",
            "2026-11-01T01:30:00-04:00[America/New_York]",
            "2026-11-02T01:00:00-05:00[America/New_York]",
        ]
    );
    // London, 2026-10-25: 02:00 BST falls back to 01:00 GMT.
    assert_eq!(
        slots(
            &cron("30 1 * * *", "Europe/London"),
            "2026-10-24T12:00:00Z",
            2
        ),
        [
            "2026-10-25T01:30:00+01:00[Europe/London]",
            "2026-10-26T01:30:00+00:00[Europe/London]",
        ]
    );
    // Lord Howe, 2026-04-05: 02:00 falls back 30 minutes to 01:30; 01:45 happens twice.
    assert_eq!(
        slots(
            &cron("45 1 * * *", "Australia/Lord_Howe"),
            "2026-04-04T00:00:00Z",
            2
        ),
        [
            "2026-04-05T01:45:00+11:00[Australia/Lord_Howe]",
            "2026-04-06T01:45:00+10:30[Australia/Lord_Howe]",
        ]
    );
}

#[test]
fn weekday_mornings_in_paris_stay_at_nine_across_the_change_to_summer_time() {
    assert_eq!(
        slots(
            &cron("0 9 * * MON-FRI", "Europe/Paris"),
            "2026-03-26T12:00:00Z",
            3
        ),
        [
            "2026-03-27T09:00:00+01:00[Europe/Paris]",
            "2026-03-30T09:00:00+02:00[Europe/Paris]",
            "2026-03-31T09:00:00+02:00[Europe/Paris]",
        ]
    );
}

#[test]
fn bad_specs_name_the_field_and_what_is_wrong() {
    let error = |spec: ScheduleSpec| Spec::parse("spec", &spec, JUNE).unwrap_err().to_string();
    let e = error(cron("0 25 * * *", "UTC"));
    assert!(e.starts_with("spec.cron: hour field `25`"), "{e}");
    let e = error(cron("0 9 * * * * *", "UTC"));
    assert!(e.contains("spec.cron") && e.contains("7 fields"), "{e}");
    let e = error(cron("0 9 * * *", "Mars/Olympus"));
    assert!(
        e.starts_with("spec.time_zone:") && e.contains("Mars/Olympus"),
        "{e}"
    );
    let e = error(ScheduleSpec {
        interval: Some(to_duration(SEC / 2)),
        ..ScheduleSpec::default()
    });
    assert!(e.starts_with("spec.interval: must be at least 1s"), "{e}");
    let e = error(ScheduleSpec {
        start_at: Some(to_timestamp(JUNE)),
        end_at: Some(to_timestamp(JUNE - SEC)),
        ..cron("* * * * *", "UTC")
    });
    assert!(e.starts_with("spec.end_at: must be after start_at"), "{e}");
    let e = error(ScheduleSpec::default());
    assert!(e.starts_with("spec.cron: one of cron or interval"), "{e}");
}

fn every_minute(name: &str) -> CreateScheduleRequest {
    CreateScheduleRequest {
        name: name.into(),
        spec: Some(cron("* * * * *", "UTC")),
        ..CreateScheduleRequest::default()
    }
}

async fn get_schedule(kernel: &Kernel, id: &str) -> Recurring {
    kernel
        .get_schedule(
            "acme",
            GetScheduleRequest {
                id: id.into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

/// Reads events until `n` occurrences of `schedule` were scheduled; returns their slots.
async fn occurrences(
    events: &mut mpsc::Receiver<Result<TimerEvent>>,
    schedule: &str,
    n: usize,
) -> Vec<Micros> {
    let mut slots = Vec::new();
    while slots.len() < n {
        let event = next(events).await;
        if let Some(timer) = event.timer.as_ref().filter(|t| {
            t.schedule_id == schedule && event.event_type == TimerEventType::Scheduled as i32
        }) {
            slots.push(crate::clock::from_timestamp(
                timer.scheduled_for.as_ref().unwrap(),
            ));
        }
    }
    slots
}

/// Reads events until a schedule event of `event_type`.
async fn schedule_event(
    events: &mut mpsc::Receiver<Result<TimerEvent>>,
    event_type: TimerEventType,
) -> Recurring {
    loop {
        let event = next(events).await;
        if event.event_type == event_type as i32 {
            return event.schedule.unwrap();
        }
    }
}

/// Polls the schedule until `done` holds: the runner works on its own task, and some of its
/// steps (buffering a slot) tell no one.
async fn eventually(kernel: &Kernel, id: &str, done: impl Fn(&Recurring) -> bool) -> Recurring {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let schedule = get_schedule(kernel, id).await;
            if done(&schedule) {
                return schedule;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the schedule did not get there within 10 s")
}

/// Timers of the tenant that are occurrences of `schedule`.
async fn timers_of(kernel: &Kernel, schedule: &str) -> Vec<Timer> {
    let page = kernel
        .list(
            "acme",
            ListTimersRequest {
                page_size: 1_000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    page.timers
        .into_iter()
        .filter(|t| t.schedule_id == schedule)
        .collect()
}

#[tokio::test]
async fn each_slot_becomes_one_ordinary_timer_that_fires_and_settles() {
    let clock = ManualClock::new(JUNE + 30 * SEC);
    let kernel = start(Arc::new(MemoryStore::new()), &clock).await;
    let mut events = kernel.subscribe("acme", live()).await.unwrap();
    let schedule = kernel
        .create_schedule("acme", every_minute("tick"))
        .await
        .unwrap();
    assert_eq!(schedule.state, ScheduleState::Active as i32);
    assert_eq!(schedule.next_fire_at, Some(to_timestamp(JUNE + MIN)));
    let created = schedule_event(&mut events, TimerEventType::ScheduleCreated).await;
    assert_eq!(created.id, schedule.id);
    for minute in 1..=3 {
        clock.set(JUNE + minute * MIN);
        let slots = occurrences(&mut events, &schedule.id, 1).await;
        assert_eq!(slots, [JUNE + minute * MIN]);
    }
    let timers = timers_of(&kernel, &schedule.id).await;
    assert_eq!(timers.len(), 3);
    for (i, timer) in timers.iter().enumerate() {
        let slot = JUNE + (i as Micros + 1) * MIN;
        assert_eq!(timer.idempotency_key, occurrence_key(&schedule.id, slot));
        assert_eq!(timer.name, "tick");
    }
    let until_settled = until(&mut events, TimerEventType::Settled, &timers[2].id).await;
    assert_eq!(
        until_settled.timer.unwrap().fire_at,
        Some(to_timestamp(JUNE + 3 * MIN))
    );
    let schedule = get_schedule(&kernel, &schedule.id).await;
    assert_eq!(schedule.runs, 3);
    assert_eq!(schedule.last_timer_id, timers[2].id);
    assert_eq!(schedule.next_fire_at, Some(to_timestamp(JUNE + 4 * MIN)));
    kernel.shutdown().await;
}

#[tokio::test]
async fn an_occurrence_is_armed_ahead_of_its_slot_fires_on_it_and_a_pause_cancels_it() {
    let clock = ManualClock::new(JUNE + 30 * SEC);
    let kernel = start(Arc::new(MemoryStore::new()), &clock).await;
    let mut events = kernel.subscribe("acme", live()).await.unwrap();
    let schedule = kernel
        .create_schedule("acme", every_minute("ahead"))
        .await
        .unwrap();
    let id = schedule.id.clone();
    // Within the lead before the slot: the occurrence exists, armed for the slot, not fired.
    clock.set(JUNE + MIN - LEAD / 2);
    assert_eq!(occurrences(&mut events, &id, 1).await, [JUNE + MIN]);
    let first = timers_of(&kernel, &id).await.remove(0);
    assert_eq!(first.status, TimerStatus::Armed as i32);
    assert_eq!(first.fire_at, Some(to_timestamp(JUNE + MIN)));
    clock.set(JUNE + MIN);
    let fired = until(&mut events, TimerEventType::Fired, &first.id).await;
    assert_eq!(
        fired.timer.unwrap().fired_at,
        Some(to_timestamp(JUNE + MIN))
    );
    // Paused after the next occurrence was created ahead: that occurrence is cancelled with it.
    clock.set(JUNE + 2 * MIN - LEAD / 2);
    assert_eq!(occurrences(&mut events, &id, 1).await, [JUNE + 2 * MIN]);
    let paused = kernel
        .pause_schedule(
            "acme",
            PauseScheduleRequest {
                id: id.clone(),
                reason: "quiet".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let second = until(
        &mut events,
        TimerEventType::Cancelled,
        &paused.last_timer_id,
    )
    .await;
    assert_eq!(
        second.timer.unwrap().scheduled_for,
        Some(to_timestamp(JUNE + 2 * MIN))
    );
    clock.set(JUNE + 3 * MIN);
    let timers = timers_of(&kernel, &id).await;
    assert_eq!(timers.len(), 2);
    assert_eq!(timers[1].status, TimerStatus::Cancelled as i32);
    kernel.shutdown().await;
}

#[tokio::test]
async fn max_runs_completes_the_schedule_and_preview_lists_what_is_left() {
    let clock = ManualClock::new(JUNE + 30 * SEC);
    let kernel = start(Arc::new(MemoryStore::new()), &clock).await;
    let mut events = kernel.subscribe("acme", live()).await.unwrap();
    let mut request = every_minute("twice");
    request.spec.as_mut().unwrap().max_runs = 2;
    let schedule = kernel.create_schedule("acme", request).await.unwrap();
    let preview = kernel
        .preview_schedule(
            "acme",
            PreviewScheduleRequest {
                id: schedule.id.clone(),
                count: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        preview.fire_at,
        [to_timestamp(JUNE + MIN), to_timestamp(JUNE + 2 * MIN)]
    );
    assert_eq!(preview.local_times[0], "2026-06-01T00:01:00+00:00[UTC]");
    clock.set(JUNE + MIN);
    occurrences(&mut events, &schedule.id, 1).await;
    clock.set(JUNE + 2 * MIN);
    let completed = schedule_event(&mut events, TimerEventType::ScheduleCompleted).await;
    assert_eq!(completed.state, ScheduleState::Completed as i32);
    assert_eq!(completed.runs, 2);
    assert_eq!(completed.next_fire_at, None);
    assert_eq!(timers_of(&kernel, &schedule.id).await.len(), 2);
    kernel.shutdown().await;
}

#[tokio::test]
async fn pause_resume_update_and_delete_take_effect_from_the_next_slot() {
    let clock = ManualClock::new(JUNE + 30 * SEC);
    let kernel = start(Arc::new(MemoryStore::new()), &clock).await;
    let mut events = kernel.subscribe("acme", live()).await.unwrap();
    let schedule = kernel
        .create_schedule("acme", every_minute("tick"))
        .await
        .unwrap();
    let id = schedule.id.clone();
    let paused = kernel
        .pause_schedule(
            "acme",
            PauseScheduleRequest {
                id: id.clone(),
                reason: "maintenance".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(paused.state, ScheduleState::Paused as i32);
    assert_eq!(paused.pause_reason, "maintenance");
    // Paused through two slots: nothing is created, and resuming does not catch them up.
    clock.set(JUNE + 2 * MIN + 30 * SEC);
    let resumed = kernel
        .resume_schedule(
            "acme",
            ResumeScheduleRequest {
                id: id.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(resumed.next_fire_at, Some(to_timestamp(JUNE + 3 * MIN)));
    clock.set(JUNE + 3 * MIN);
    assert_eq!(occurrences(&mut events, &id, 1).await, [JUNE + 3 * MIN]);
    // A new spec and name apply from the next slot on.
    let updated = kernel
        .update_schedule(
            "acme",
            UpdateScheduleRequest {
                id: id.clone(),
                expected_version: 0,
                spec: Some(cron("*/5 * * * *", "UTC")),
                name: Some("every five".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.next_fire_at, Some(to_timestamp(JUNE + 5 * MIN)));
    let stale = kernel
        .update_schedule(
            "acme",
            UpdateScheduleRequest {
                id: id.clone(),
                expected_version: 1,
                name: Some("x".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(stale, KernelError::Aborted(_)), "{stale}");
    clock.set(JUNE + 5 * MIN);
    assert_eq!(occurrences(&mut events, &id, 1).await, [JUNE + 5 * MIN]);
    let timers = timers_of(&kernel, &id).await;
    assert_eq!(timers.last().unwrap().name, "every five");
    let deleted = kernel
        .delete_schedule(
            "acme",
            DeleteScheduleRequest {
                id: id.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(deleted.state, ScheduleState::Deleted as i32);
    schedule_event(&mut events, TimerEventType::ScheduleDeleted).await;
    clock.set(JUNE + 20 * MIN);
    // A marker timer due after the clock moved: once it fired, any occurrence would have too.
    let marker = kernel
        .schedule("acme", request("marker", SEC))
        .await
        .unwrap()
        .timer
        .unwrap();
    clock.set(JUNE + 20 * MIN + SEC);
    until(&mut events, TimerEventType::Fired, &marker.id).await;
    assert_eq!(timers_of(&kernel, &id).await.len(), 2);
    // Deleted schedules are left out of lists unless asked for; other tenants see nothing.
    let listed = kernel
        .list_schedules("acme", ListSchedulesRequest::default())
        .await
        .unwrap();
    assert!(listed.schedules.is_empty());
    let other = kernel
        .get_schedule(
            "globex",
            GetScheduleRequest {
                id: id.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(other, KernelError::NotFound { .. }), "{other}");
    kernel.shutdown().await;
}

/// A schedule every minute whose first occurrence is held PAUSED (still running), then the
/// second slot comes.
async fn overlapping(
    policy: OverlapPolicy,
) -> (
    Kernel,
    ManualClock,
    Recurring,
    mpsc::Receiver<Result<TimerEvent>>,
    Timer,
) {
    let clock = ManualClock::new(JUNE + 30 * SEC);
    let kernel = start(Arc::new(MemoryStore::new()), &clock).await;
    let mut events = kernel.subscribe("acme", live()).await.unwrap();
    let mut request = every_minute("overlap");
    request.spec.as_mut().unwrap().overlap_policy = policy as i32;
    // Jitter keeps the first occurrence pending after its slot, so it can be held.
    request.spec.as_mut().unwrap().jitter = Some(to_duration(30 * SEC));
    let schedule = kernel.create_schedule("acme", request).await.unwrap();
    clock.set(JUNE + MIN);
    occurrences(&mut events, &schedule.id, 1).await;
    let first = timers_of(&kernel, &schedule.id).await.remove(0);
    kernel
        .pause(
            "acme",
            PauseTimerRequest {
                id: first.id.clone(),
                reason: "still running".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    clock.set(JUNE + 2 * MIN);
    (kernel, clock, schedule, events, first)
}

#[tokio::test]
async fn overlap_skip_drops_a_slot_while_the_previous_occurrence_runs() {
    let (kernel, _clock, schedule, mut events, _) = overlapping(OverlapPolicy::Skip).await;
    let skipped = schedule_event(&mut events, TimerEventType::ScheduleSkipped).await;
    assert_eq!(skipped.skipped, 1);
    assert_eq!(skipped.last_skipped_at, Some(to_timestamp(JUNE + 2 * MIN)));
    assert_eq!(timers_of(&kernel, &schedule.id).await.len(), 1);
    kernel.shutdown().await;
}

#[tokio::test]
async fn overlap_buffer_one_holds_a_slot_until_the_previous_occurrence_finishes() {
    let (kernel, clock, schedule, mut events, first) = overlapping(OverlapPolicy::BufferOne).await;
    eventually(&kernel, &schedule.id, |s| s.buffered_at.is_some()).await;
    // The third slot, while the second waits, is skipped.
    clock.set(JUNE + 3 * MIN);
    let skipped = schedule_event(&mut events, TimerEventType::ScheduleSkipped).await;
    assert_eq!(skipped.buffered_at, Some(to_timestamp(JUNE + 2 * MIN)));
    assert_eq!(skipped.last_skipped_at, Some(to_timestamp(JUNE + 3 * MIN)));
    assert_eq!(timers_of(&kernel, &schedule.id).await.len(), 1);
    kernel
        .cancel(
            "acme",
            CancelTimerRequest {
                id: first.id.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        occurrences(&mut events, &schedule.id, 1).await,
        [JUNE + 2 * MIN]
    );
    let schedule = get_schedule(&kernel, &schedule.id).await;
    assert_eq!(schedule.buffered_at, None);
    assert_eq!(schedule.runs, 2);
    kernel.shutdown().await;
}

#[tokio::test]
async fn overlap_allow_all_creates_every_slot_on_time() {
    let (kernel, _clock, schedule, mut events, _) = overlapping(OverlapPolicy::AllowAll).await;
    assert_eq!(
        occurrences(&mut events, &schedule.id, 1).await,
        [JUNE + 2 * MIN]
    );
    assert_eq!(timers_of(&kernel, &schedule.id).await.len(), 2);
    kernel.shutdown().await;
}

/// Creates a schedule every minute, lets one slot fire, stops the kernel for ten minutes and
/// starts it again on the same store; returns the slots of occurrences created after the restart.
async fn after_downtime(policy: CatchUpPolicy) -> (Vec<Micros>, Recurring) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(JUNE + 30 * SEC);
    let kernel = start(store.clone(), &clock).await;
    let mut events = kernel.subscribe("acme", live()).await.unwrap();
    let mut request = every_minute("catch-up");
    request.spec.as_mut().unwrap().catch_up_policy = policy as i32;
    // Caught-up occurrences overlap each other: ALL creates every one only when overlap allows.
    request.spec.as_mut().unwrap().overlap_policy = OverlapPolicy::AllowAll as i32;
    request.spec.as_mut().unwrap().catch_up_window = Some(to_duration(5 * MIN + 30 * SEC));
    let schedule = kernel.create_schedule("acme", request).await.unwrap();
    clock.set(JUNE + MIN);
    occurrences(&mut events, &schedule.id, 1).await;
    kernel.shutdown().await;
    // Down from 00:01:00 to 00:11:30: slots 00:02 .. 00:11 are missed; only 00:06 onwards are
    // inside the 5.5-minute window.
    clock.set(JUNE + 11 * MIN + 30 * SEC);
    let kernel = start(store, &clock).await;
    let replay = StreamTimerEventsRequest {
        after_sequence: Some(0),
        ..StreamTimerEventsRequest::default()
    };
    let mut events = kernel.subscribe("acme", replay).await.unwrap();
    // What the restart did: occurrences, then the schedule's skipped event in the same commit.
    let mut created = Vec::new();
    loop {
        let event = next(&mut events).await;
        if event.event_type == TimerEventType::ScheduleSkipped as i32 {
            break;
        }
        if let Some(timer) = event.timer.as_ref().filter(|t| {
            t.schedule_id == schedule.id && event.event_type == TimerEventType::Scheduled as i32
        }) {
            let slot = crate::clock::from_timestamp(timer.scheduled_for.as_ref().unwrap());
            if slot > JUNE + MIN {
                created.push(slot);
            }
        }
    }
    // Then the next slot, on time.
    clock.set(JUNE + 12 * MIN);
    created.extend(occurrences(&mut events, &schedule.id, 1).await);
    let schedule = get_schedule(&kernel, &schedule.id).await;
    assert_eq!(
        timers_of(&kernel, &schedule.id).await.len(),
        1 + created.len()
    );
    kernel.shutdown().await;
    (created, schedule)
}

#[tokio::test]
async fn catch_up_none_skips_every_missed_slot() {
    let (created, schedule) = after_downtime(CatchUpPolicy::None).await;
    assert_eq!(created, [JUNE + 12 * MIN]);
    assert_eq!(schedule.skipped, 10);
}

#[tokio::test]
async fn catch_up_latest_fires_the_most_recent_missed_slot_once() {
    let (created, schedule) = after_downtime(CatchUpPolicy::Latest).await;
    assert_eq!(created, [JUNE + 11 * MIN, JUNE + 12 * MIN]);
    assert_eq!(schedule.skipped, 9);
}

#[tokio::test]
async fn catch_up_all_fires_every_missed_slot_within_the_window() {
    let (created, schedule) = after_downtime(CatchUpPolicy::All).await;
    let expected: Vec<Micros> = (6..=12).map(|m| JUNE + m * MIN).collect();
    assert_eq!(created, expected);
    assert_eq!(schedule.skipped, 4);
    assert_eq!(schedule.runs, 8);
}

#[tokio::test]
async fn a_restart_between_slots_loses_no_occurrence_and_repeats_none() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(JUNE + 30 * SEC);
    let kernel = start(store.clone(), &clock).await;
    let mut events = kernel.subscribe("acme", live()).await.unwrap();
    let schedule = kernel
        .create_schedule("acme", every_minute("restart"))
        .await
        .unwrap();
    clock.set(JUNE + MIN);
    occurrences(&mut events, &schedule.id, 1).await;
    kernel.shutdown().await;
    let kernel = start(store.clone(), &clock).await;
    let mut events = kernel.subscribe("acme", live()).await.unwrap();
    clock.set(JUNE + 2 * MIN);
    assert_eq!(
        occurrences(&mut events, &schedule.id, 1).await,
        [JUNE + 2 * MIN]
    );
    let timers = timers_of(&kernel, &schedule.id).await;
    let mut keys: Vec<_> = timers.iter().map(|t| t.idempotency_key.clone()).collect();
    keys.dedup();
    assert_eq!(keys.len(), 2);
    kernel.shutdown().await;
}

#[tokio::test]
async fn a_step_retried_after_a_crash_finds_its_occurrence_by_key() {
    // The occurrence was written but the schedule not advanced (a crash between): the retry
    // creates no second timer and points the schedule at the one written.
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(JUNE + 30 * SEC);
    let kernel = start(store.clone(), &clock).await;
    let schedule = kernel
        .create_schedule("acme", every_minute("crash"))
        .await
        .unwrap();
    kernel.shutdown().await;
    let spec = crate::schedules::spec_of(&schedule).unwrap();
    let planted = crate::schedules::occurrence(&schedule, &spec, JUNE + MIN, JUNE + MIN).unwrap();
    let planted_id = planted.timer.id.clone();
    store.apply(vec![Mutation::create(planted)]).await.unwrap();
    clock.set(JUNE + MIN);
    let kernel = start(store, &clock).await;
    let mut events = kernel.subscribe("acme", live()).await.unwrap();
    let stepped = eventually(&kernel, &schedule.id, |s| s.runs == 1).await;
    assert_eq!(stepped.last_timer_id, planted_id);
    clock.set(JUNE + 2 * MIN);
    occurrences(&mut events, &schedule.id, 1).await;
    let timers = timers_of(&kernel, &schedule.id).await;
    let keys: Vec<&str> = timers.iter().map(|t| t.idempotency_key.as_str()).collect();
    assert_eq!(
        keys,
        [
            occurrence_key(&schedule.id, JUNE + MIN),
            occurrence_key(&schedule.id, JUNE + 2 * MIN)
        ]
    );
    kernel.shutdown().await;
}

#[tokio::test]
async fn create_refuses_bad_input_naming_the_field_and_writes_nothing() {
    let clock = ManualClock::new(JUNE);
    let kernel = start(Arc::new(MemoryStore::new()), &clock).await;
    let mut bad = every_minute("bad");
    bad.spec = Some(cron("61 * * * *", "UTC"));
    let error = kernel.create_schedule("acme", bad).await.unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("spec.cron: minute field `61`"),
        "{error}"
    );
    let mut bad = every_minute("");
    bad.name.clear();
    let error = kernel.create_schedule("acme", bad).await.unwrap_err();
    assert!(error.to_string().starts_with("name:"), "{error}");
    // More occurrences a day than the tenant may schedule.
    kernel
        .set_tenant_limits(
            "acme",
            crate::quota::Limits {
                daily_timers: Some(100),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let error = kernel
        .create_schedule("acme", every_minute("too often"))
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("spec.cron: gives more than 100 occurrences a day"),
        "{error}"
    );
    let listed = kernel
        .list_schedules(
            "acme",
            ListSchedulesRequest {
                states: vec![
                    ScheduleState::Active as i32,
                    ScheduleState::Paused as i32,
                    ScheduleState::Deleted as i32,
                ],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(listed.schedules.is_empty());
    // A retry with the same key and request gets the same schedule; a different request, 409.
    let mut keyed = every_minute("keyed");
    keyed.idempotency_key = "standup".into();
    kernel
        .set_tenant_limits("acme", crate::quota::Limits::default())
        .await
        .unwrap();
    let first = kernel.create_schedule("acme", keyed.clone()).await.unwrap();
    let again = kernel.create_schedule("acme", keyed.clone()).await.unwrap();
    assert_eq!(first.id, again.id);
    keyed.name = "other".into();
    let error = kernel.create_schedule("acme", keyed).await.unwrap_err();
    assert!(matches!(error, KernelError::AlreadyExists(_)), "{error}");
    kernel.shutdown().await;
}
