//! What happens after a fire: the dispatcher takes fired timers from the writer (and from
//! recovery), settles those without actions at once and runs the actions of the others, each
//! timer in its own task, then records dead letters and settles or fails the timer.

use std::{sync::Arc, time::Duration};

use minoots_proto::v1::TimerStatus;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{
    Clock, KernelError, actions, backoff,
    lifecycle::{
        scheduler::system_transition,
        writer::{FiredTimer, Writer},
    },
    store::{Mutation, Store},
    trace,
};

/// What the dispatcher works with: the writer for transitions, the store for reading fired
/// timers and writing dead letters, and the action executor that runs each bundle.
#[derive(Clone)]
pub(crate) struct Dispatch {
    pub writer: Writer,
    pub clock: Arc<dyn Clock>,
    pub store: Arc<dyn Store>,
    pub executor: actions::Executor,
    pub stop: CancellationToken,
}

/// Settles fired timers: those without actions at once, the others after running their actions
/// (each timer in its own task; a restart re-runs the actions of timers left FIRED).
pub(crate) async fn run(mut fired: mpsc::UnboundedReceiver<FiredTimer>, parts: Dispatch) {
    let mut running = tokio::task::JoinSet::new();
    loop {
        let first = tokio::select! {
            () = parts.stop.cancelled() => break,
            Some(_) = running.join_next(), if !running.is_empty() => continue,
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
    // Unfinished executions are dropped; their timers stay FIRED and run again on the next lead.
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

/// Runs one fired timer's actions, records dead letters, then settles or fails it.
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
                    && crate::store::quarantine_reason(&timer).is_some() =>
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
    let clock = parts.clock.clone();
    // The fire joins the trace of the call that scheduled the timer.
    let span =
        tracing::info_span!("horology.kernel.fire", timer = %timer.id, tenant = %timer.tenant_id);
    trace::set_parent(&span, &timer.trace_parent);
    let outcome = tracing::Instrument::instrument(
        parts.executor.run_bundle(&timer, &move || clock.now()),
        span,
    )
    .await;
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
    commit(&parts, vec![Mutation::Transition(transition)]).await;
}
