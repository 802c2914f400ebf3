//! What happens after a fire: the dispatcher takes due timers with actions from the scheduler
//! and delivers them before anything is written (one write then records FIRED with the
//! outcome), takes timers already FIRED from the writer (and from recovery), settles those
//! without actions at once and runs the actions of the others, each timer in its own task,
//! then records dead letters and settles or fails the timer.

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures_util::{StreamExt as _, stream::FuturesUnordered};

use minoots_proto::v1::{Timer, TimerStatus};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{
    Clock, KernelError, Micros, actions, backoff,
    lifecycle::{
        firing::{Firing, key_of},
        scheduler::system_transition,
        writer::{FiredTimer, Writer},
    },
    store::{self, Mutation, Store},
    trace,
};

/// A due timer with actions, handed over by the scheduler before anything is written.
#[derive(Debug)]
pub(crate) struct Due {
    pub tenant_id: String,
    pub id: String,
    pub fired_at: Micros,
}

/// Actions still running this long after their timer came due get its FIRED write on their own,
/// so that whoever reads the timer meanwhile sees it fired; quicker ones have it written with
/// their outcome.
pub(crate) const FIRED_WRITTEN_AFTER: Duration = Duration::from_secs(1);

/// What the dispatcher works with: the writer for transitions, the store for reading fired
/// timers and writing dead letters, and the action executor that runs each bundle.
#[derive(Clone)]
pub(crate) struct Dispatch {
    pub writer: Writer,
    pub clock: Arc<dyn Clock>,
    pub store: Arc<dyn Store>,
    pub executor: actions::Executor,
    pub firing: Arc<Firing>,
    pub stop: CancellationToken,
}

/// Delivers due timers the scheduler hands over, and settles fired timers: those without actions
/// at once, the others after running their actions (a restart re-runs the actions of timers left
/// FIRED, and delivers again those left ARMED).
pub(crate) async fn run(
    mut fired: mpsc::UnboundedReceiver<FiredTimer>,
    mut due: mpsc::UnboundedReceiver<Vec<Due>>,
    parts: Dispatch,
) {
    let mut running = tokio::task::JoinSet::new();
    loop {
        let first = tokio::select! {
            () = parts.stop.cancelled() => break,
            Some(_) = running.join_next(), if !running.is_empty() => continue,
            Some(mut first) = due.recv() => {
                // What came due meanwhile is read with it, in one query.
                while let Ok(more) = due.try_recv() {
                    first.extend(more);
                }
                running.spawn(deliver(parts.clone(), first));
                continue;
            }
            first = fired.recv() => match first { Some(f) => f, None => break },
        };
        let mut batch = vec![first];
        while let Ok(next) = fired.try_recv() {
            batch.push(next);
        }
        let now = parts.clock.now();
        let mut settle = Vec::new();
        for timer in batch {
            if timer.has_actions {
                running.spawn(execute(parts.clone(), timer));
            } else {
                settle.push(system_transition(timer.id, TimerStatus::Settled, now));
            }
        }
        commit(&parts, settle).await;
    }
    // Unfinished executions are dropped; their timers stay ARMED or FIRED and run again on the
    // next lead.
    running.abort_all();
}

/// Writes system transitions, retrying while the store is unavailable.
async fn commit(parts: &Dispatch, mutations: Vec<Mutation>) {
    if mutations.is_empty() {
        return;
    }
    let mut backoff = backoff::STORE_WRITE;
    while let Err(error) = parts.writer.enqueue(mutations.clone()).await {
        if parts.stop.is_cancelled()
            || matches!(
                error,
                KernelError::ShuttingDown | KernelError::Fenced { .. }
            )
        {
            return;
        }
        tracing::warn!(%error, "writing transitions failed; retrying");
        tokio::time::sleep(backoff.next()).await;
    }
}

/// Delivers due timers the scheduler handed over together: reads them in one go (so a write
/// committed before they came due is seen), then runs each one's actions and writes FIRED
/// together with its outcome.
async fn deliver(parts: Dispatch, due: Vec<Due>) {
    let keys: Vec<(&str, &str)> = due
        .iter()
        .map(|d| (d.tenant_id.as_str(), d.id.as_str()))
        .collect();
    let records = loop {
        match parts.store.get_many(&keys).await {
            Ok(records) => break records,
            Err(error) => {
                tracing::warn!(%error, timers = due.len(), "loading due timers failed; retrying");
                tokio::select! {
                    () = parts.stop.cancelled() => {
                        // Still ARMED in the store: the next start or leader fires them.
                        for d in &due {
                            parts.firing.finish(key_of(&d.id).expect("the scheduler hands over UUIDs"));
                        }
                        return;
                    }
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    };
    let mut records: HashMap<String, Timer> =
        records.into_iter().map(|t| (t.id.clone(), t)).collect();
    let mut runs: FuturesUnordered<_> = due
        .into_iter()
        .map(|due| {
            let record = records.remove(&due.id);
            deliver_one(&parts, due, record)
        })
        .collect();
    while runs.next().await.is_some() {}
}

async fn deliver_one(parts: &Dispatch, due: Due, record: Option<Timer>) {
    let key = key_of(&due.id).expect("the scheduler hands over UUIDs");
    let fire = system_transition(due.id, TimerStatus::Fired, due.fired_at);
    let Some(mut timer) = record else {
        parts.firing.finish(key);
        return;
    };
    // A create naming a timer's idempotency key can replace it, which the writer cannot tell
    // before planning it: keyed timers fire through the store, FIRED written first, as does a
    // record that could not be decoded (the store quarantines it).
    if !timer.idempotency_key.is_empty() || store::quarantine_reason(&timer).is_some() {
        parts.firing.finish(key);
        commit(parts, vec![fire]).await;
        return;
    }
    let Mutation::Transition(transition) = &fire else {
        unreachable!("system_transition builds a transition")
    };
    // Cancelled, paused or moved later by a write committed before it came due: not this fire.
    if store::transition(&mut timer, transition).is_err() {
        parts.firing.finish(key);
        return;
    }
    run_actions(parts, timer, Some(fire)).await;
    parts.firing.finish(key);
}

/// Runs one FIRED timer's actions, records dead letters, then settles or fails it.
async fn execute(parts: Dispatch, mut fired: FiredTimer) {
    let timer = loop {
        if let Some(timer) = fired.timer.take() {
            break *timer;
        }
        match parts.store.get(&fired.tenant_id, &fired.id).await {
            // Its record could not be decoded: its actions may be gone with it, so it is
            // quarantined (the store fails it) instead of settled on what is left.
            Ok(Some(timer))
                if timer.status == TimerStatus::Fired as i32
                    && store::quarantine_reason(&timer).is_some() =>
            {
                let failed = system_transition(timer.id, TimerStatus::Failed, parts.clock.now());
                commit(&parts, vec![failed]).await;
                return;
            }
            Ok(Some(timer)) if timer.status == TimerStatus::Fired as i32 => break timer,
            Ok(_) => return,
            Err(error) => {
                tracing::warn!(%error, timer = %fired.id, "loading a fired timer failed; retrying");
                tokio::select! {
                    () = parts.stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    };
    run_actions(&parts, timer, None).await;
}

/// Runs a fired timer's actions, records dead letters, then settles or fails it. `fire` is its
/// FIRED write when that is not committed yet: it commits with the outcome, or on its own once
/// the actions have run for [`FIRED_WRITTEN_AFTER`].
async fn run_actions(parts: &Dispatch, timer: Timer, mut fire: Option<Mutation>) {
    let clock = parts.clock.clone();
    let now = move || clock.now();
    // The fire joins the trace of the call that scheduled the timer.
    let span =
        tracing::info_span!("horology.kernel.fire", timer = %timer.id, tenant = %timer.tenant_id);
    trace::set_parent(&span, &timer.trace_parent);
    let run = tracing::Instrument::instrument(parts.executor.run_bundle(&timer, &now), span);
    tokio::pin!(run);
    let outcome = match fire.take() {
        None => run.await,
        Some(write) => tokio::select! {
            outcome = &mut run => {
                fire = Some(write);
                outcome
            }
            () = tokio::time::sleep(FIRED_WRITTEN_AFTER) => {
                // The actions go on meanwhile: they may hold delivery slots.
                tokio::join!(&mut run, commit(parts, vec![write])).0
            }
        },
    };
    if !outcome.dead_letters.is_empty() {
        let mut backoff = backoff::STORE_WRITE;
        while let Err(error) = parts.store.put_dead_letters(&outcome.dead_letters).await {
            if matches!(error, KernelError::Fenced { .. }) {
                // Deposed: the next leader runs this timer's actions again.
                return;
            }
            tracing::warn!(%error, timer = %timer.id, "writing dead letters failed; retrying");
            tokio::select! {
                () = parts.stop.cancelled() => return,
                () = tokio::time::sleep(backoff.next()) => {}
            }
        }
        parts
            .executor
            .metrics()
            .dead_letters
            .add(outcome.dead_letters.len() as u64);
    }
    let (to, reason) = if outcome.succeeded() {
        (TimerStatus::Settled, String::new())
    } else {
        (TimerStatus::Failed, outcome.failure_reason())
    };
    let Mutation::Transition(mut transition) =
        system_transition(timer.id.clone(), to, parts.clock.now())
    else {
        unreachable!("system_transition builds a transition")
    };
    transition.reason = reason;
    transition.results = outcome.results;
    let mut writes: Vec<Mutation> = fire.into_iter().collect();
    writes.push(Mutation::Transition(transition));
    commit(parts, writes).await;
}
