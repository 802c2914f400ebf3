//! Group commit. Every durable write goes through one writer task: it takes whatever requests
//! are queued (up to a batch limit), applies them in one store transaction, then acknowledges each
//! request and publishes the events, in commit order. Callers are answered only after their batch
//! has committed; concurrent callers share one fsync.
//!
//! Fires go first: the scheduler's writes (ARMED, FIRED) have a queue of their own that each
//! batch drains before it takes other requests; those fill the batch up to
//! [`OTHER_BATCH_MUTATIONS`] and always get [`OTHER_BATCH_MIN`] of it. A due timer's FIRED commit
//! so waits behind one bounded share of outcomes and API writes, not behind all of them, and
//! those still progress while fires keep coming. A batch without fires takes other requests up
//! to [`QUIET_BATCH_MUTATIONS`].

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::{
    clock::Clock,
    error::{KernelError, Result},
    events::EventBus,
    lifecycle::firing::{Firing, key_of},
    quota::{Usage, create_tenants},
    store::{Mutation, Outcome, Store},
};
use minoots_proto::v1::{TimerEventType, TimerStatus};

const MAX_BATCH_MUTATIONS: usize = 8_192;
/// Requests other than the scheduler's are added to each batch while they add up to fewer
/// mutations than this (a request is never split).
const OTHER_BATCH_MUTATIONS: usize = 128;
/// What other requests get of a batch however many fires it carries (they are never starved).
const OTHER_BATCH_MIN: usize = 16;
/// What other requests get of a batch that carries no fires: delivered webhooks' outcomes
/// (FIRED with SETTLED) come at up to 20,000 transitions a second, more than batches of 128
/// commit; a fire queued meanwhile waits for one such batch.
const QUIET_BATCH_MUTATIONS: usize = 1_024;

struct Request {
    mutations: Vec<Mutation>,
    reply: oneshot::Sender<Result<Vec<Outcome>>>,
}

/// A timer that just fired, for the action dispatcher.
#[derive(Debug, Clone)]
pub(crate) struct FiredTimer {
    pub tenant_id: String,
    pub id: String,
    pub has_actions: bool,
    /// The timer as the FIRED write left it, when the writer has it (saves a store read per
    /// fire); recovery sends None and the dispatcher reads the store.
    pub timer: Option<Box<minoots_proto::v1::Timer>>,
}

#[derive(Clone)]
pub(crate) struct Writer {
    tx: mpsc::UnboundedSender<Request>,
    /// The scheduler's writes, taken before any other.
    urgent: mpsc::UnboundedSender<Request>,
}

/// What the writer needs besides its queue.
pub(crate) struct WriterParts {
    pub store: Arc<dyn Store>,
    pub bus: EventBus,
    pub fired: mpsc::UnboundedSender<FiredTimer>,
    /// Quota counts, checked and reserved per request before its batch is written.
    pub usage: Arc<std::sync::Mutex<Usage>>,
    pub clock: Arc<dyn Clock>,
    /// Timers being delivered before their fire is written: caller writes to them are refused.
    pub firing: Arc<Firing>,
}

impl Writer {
    pub fn spawn(
        parts: WriterParts,
        stop: CancellationToken,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (urgent, urgent_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(urgent_rx, rx, parts, stop));
        (Self { tx, urgent }, task)
    }

    /// Queues `mutations` now (calls commit in the order they were made; only the scheduler's
    /// [`Writer::enqueue_urgent`] writes may go ahead of them) and returns a future that resolves
    /// once they are committed.
    pub fn enqueue(
        &self,
        mutations: Vec<Mutation>,
    ) -> impl Future<Output = Result<Vec<Outcome>>> + Send + 'static {
        Self::send(&self.tx, mutations)
    }

    /// [`Writer::enqueue`] for the scheduler's fires and arms: committed before anything queued
    /// with `enqueue` that is not yet in a batch.
    pub fn enqueue_urgent(
        &self,
        mutations: Vec<Mutation>,
    ) -> impl Future<Output = Result<Vec<Outcome>>> + Send + 'static {
        Self::send(&self.urgent, mutations)
    }

    fn send(
        queue: &mpsc::UnboundedSender<Request>,
        mutations: Vec<Mutation>,
    ) -> impl Future<Output = Result<Vec<Outcome>>> + Send + 'static {
        let (reply, rx) = oneshot::channel();
        let sent = queue.send(Request { mutations, reply }).is_ok();
        async move {
            if !sent {
                return Err(KernelError::ShuttingDown);
            }
            rx.await.unwrap_or(Err(KernelError::ShuttingDown))
        }
    }
}

async fn run(
    mut urgent: mpsc::UnboundedReceiver<Request>,
    mut rx: mpsc::UnboundedReceiver<Request>,
    parts: WriterParts,
    stop: CancellationToken,
) {
    let WriterParts {
        store,
        bus,
        fired,
        usage,
        clock,
        firing,
    } = parts;
    let mut next_group = 0u64;
    loop {
        let (first, first_urgent) = tokio::select! {
            biased;
            Some(request) = urgent.recv() => (request, true),
            request = rx.recv() => match request { Some(r) => (r, false), None => break },
            // Stop only once the queues are drained: every accepted write gets its answer.
            () = stop.cancelled() => match urgent.try_recv() {
                Ok(r) => (r, true),
                Err(_) => match rx.try_recv() { Ok(r) => (r, false), Err(_) => break },
            },
        };
        let mut count = first.mutations.len();
        let mut other = if first_urgent { 0 } else { count };
        let mut requests = vec![first];
        while count < MAX_BATCH_MUTATIONS {
            let Ok(next) = urgent.try_recv() else { break };
            count += next.mutations.len();
            requests.push(next);
        }
        // Other requests fill the batch up to OTHER_BATCH_MUTATIONS, and get at least
        // OTHER_BATCH_MIN of every batch however busy the scheduler is.
        let share = if count == other {
            QUIET_BATCH_MUTATIONS
        } else {
            OTHER_BATCH_MUTATIONS
                .saturating_sub(count - other)
                .max(OTHER_BATCH_MIN)
        };
        while other < share {
            let Ok(next) = rx.try_recv() else { break };
            count += next.mutations.len();
            other += next.mutations.len();
            requests.push(next);
        }
        let mut sizes = Vec::with_capacity(requests.len());
        let mut mutations = Vec::with_capacity(count);
        let mut replies = Vec::with_capacity(requests.len());
        let mut held = Vec::new();
        let now = clock.now();
        for mut request in requests {
            // Caller writes to a timer whose actions are running now are refused: it fired.
            let (flags, keys) = firing.hold(&request.mutations);
            held.extend(keys);
            let refused: Option<Vec<bool>> = if flags.contains(&true) {
                let mut each = flags.iter();
                request
                    .mutations
                    .retain(|_| !each.next().copied().unwrap_or(false));
                Some(flags)
            } else {
                None
            };
            let reserved = usage.lock().unwrap().reserve(&request.mutations, now);
            if let Err(refused) = reserved {
                let _ = request.reply.send(Err(refused));
                continue;
            }
            // Each request is one all-or-nothing group of creates.
            next_group += 1;
            for mutation in &mut request.mutations {
                if let Mutation::Create(new) = mutation {
                    new.group = next_group;
                }
            }
            sizes.push(request.mutations.len());
            mutations.extend(request.mutations);
            replies.push((request.reply, refused));
        }
        let tenants = create_tenants(&mutations);
        let count = mutations.len();
        // Empty requests are barriers: everything queued before them has committed.
        let applied = if mutations.is_empty() {
            Ok(Vec::new())
        } else {
            store.apply(mutations).await
        };
        match applied {
            Ok(outcomes) => {
                usage.lock().unwrap().settle(&tenants, &outcomes);
                publish(&outcomes, &bus, &fired, &firing);
                let mut outcomes = outcomes.into_iter();
                for (size, (reply, refused)) in sizes.into_iter().zip(replies) {
                    let mut answer: Vec<Outcome> = outcomes.by_ref().take(size).collect();
                    if let Some(refused) = refused {
                        answer = with_refusals(answer, &refused);
                    }
                    let _ = reply.send(Ok(answer));
                }
            }
            Err(error) => {
                usage.lock().unwrap().release(&tenants);
                tracing::error!(%error, mutations = count, "store write failed; the whole batch was rolled back");
                for (reply, _) in replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
        firing.release(&held);
    }
}

/// A request's outcomes with the refused writes put back in their places, as refused because
/// their timer had fired.
fn with_refusals(applied: Vec<Outcome>, refused: &[bool]) -> Vec<Outcome> {
    let mut applied = applied.into_iter();
    refused
        .iter()
        .map(|&refused| match refused {
            true => Outcome::Rejected(TimerStatus::Fired),
            false => applied.next().expect("one outcome per written mutation"),
        })
        .collect()
}

fn publish(
    outcomes: &[Outcome],
    bus: &EventBus,
    fired: &mpsc::UnboundedSender<FiredTimer>,
    firing: &Firing,
) {
    for outcome in outcomes {
        if let Outcome::Created(_, event)
        | Outcome::Transitioned(_, event)
        | Outcome::Replaced(_, event)
        | Outcome::Quarantined { event, .. } = outcome
        {
            bus.publish(event.clone());
        }
        if let Outcome::ScheduleSaved(_, Some(event)) = outcome {
            bus.publish(event.clone());
        }
        if let Outcome::Quarantined { timer, from, .. } = outcome {
            bus.metrics.quarantined.add(1);
            bus.metrics.dead_letters.add(1);
            tracing::error!(
                timer = %timer.id,
                tenant = %timer.tenant_id,
                was = from.wire_name(),
                reason = %timer.failure_reason,
                "timer quarantined: it is FAILED with a dead letter; the rest of its batch went on"
            );
        }
        // A delivered timer's outcome is written: from the next batch on, the store decides.
        if let Outcome::Transitioned(timer, event) = outcome
            && (event.event_type == TimerEventType::Settled as i32
                || event.event_type == TimerEventType::Failed as i32)
            && let Some(key) = key_of(&timer.id)
        {
            firing.finish(key);
        }
        // Timers without actions were settled in the same batch by the scheduler, and those
        // in flight are being run by the dispatcher already (this is their outcome); the
        // dispatcher only needs the others with actions to run.
        if let Outcome::Transitioned(timer, event) = outcome
            && event.event_type == TimerEventType::Fired as i32
            && crate::store::has_actions(timer)
            && !key_of(&timer.id).is_some_and(|key| firing.in_flight(key))
        {
            let _ = fired.send(FiredTimer {
                tenant_id: timer.tenant_id.clone(),
                id: timer.id.clone(),
                has_actions: true,
                timer: Some(Box::new(timer.clone())),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use minoots_proto::v1::{ScheduleTimerRequest, schedule_timer_request::Schedule};

    use super::*;
    use crate::{KernelConfig, ManualClock, clock::to_duration, store::MemoryStore, validate};

    const SEC: crate::Micros = 1_000_000;
    const NOW: crate::Micros = 1_780_272_000 * SEC;

    fn create(i: usize) -> Vec<Mutation> {
        let request = ScheduleTimerRequest {
            name: format!("t{i}"),
            schedule: Some(Schedule::Duration(to_duration(60 * SEC))),
            ..ScheduleTimerRequest::default()
        };
        let new = validate::schedule(&request, "acme", uuid::Uuid::now_v7().to_string(), NOW);
        vec![Mutation::create(new.unwrap())]
    }

    /// The tenant sequence of a create's event: its place in commit order.
    fn sequence(outcomes: Result<Vec<Outcome>>) -> u64 {
        match outcomes.unwrap().as_slice() {
            [Outcome::Created(_, event)] => event.sequence,
            other => panic!("not a create: {other:?}"),
        }
    }

    // A current-thread runtime: everything below is queued before the writer task first runs.
    #[tokio::test]
    async fn fires_go_ahead_of_queued_writes_which_still_get_a_share_of_every_batch() {
        let (fired, _fired_rx) = mpsc::unbounded_channel();
        let (writer, _task) = Writer::spawn(
            WriterParts {
                store: Arc::new(MemoryStore::new()),
                bus: EventBus::new(16),
                fired,
                usage: Arc::new(std::sync::Mutex::new(Usage::new(
                    KernelConfig::default().default_limits,
                ))),
                clock: Arc::new(ManualClock::new(NOW)),
                firing: Arc::default(),
            },
            CancellationToken::new(),
        );
        let others: Vec<_> = (0..1_000).map(|i| writer.enqueue(create(i))).collect();
        let urgent = writer.enqueue_urgent(create(1_000));
        assert_eq!(sequence(urgent.await), 1, "queued last, committed first");
        let mut last = 1;
        for other in others {
            last = sequence(other.await);
        }
        assert_eq!(last, 1_001);

        // More fires than a batch holds: a write queued before them is not held until all of
        // them committed.
        let other = writer.enqueue(create(2_000));
        let fires: Vec<_> = (0..MAX_BATCH_MUTATIONS + 1_000)
            .map(|i| writer.enqueue_urgent(create(3_000 + i)))
            .collect();
        let other = sequence(other.await);
        let mut last_fire = 0;
        for fire in fires {
            last_fire = sequence(fire.await);
        }
        assert_eq!(
            other,
            last + MAX_BATCH_MUTATIONS as u64 + 1,
            "in the first batch"
        );
        assert!(other < last_fire);
    }
}
