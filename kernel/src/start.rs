//! Starting and stopping a kernel: the group-commit writer, the scheduler (on a thread of its
//! own in production), the dispatcher, leadership, the janitor and the outbox publisher are
//! started here in the order their channels need, and stopped in the reverse order, so every
//! accepted write is committed and answered before the writer goes.

use std::sync::{Arc, atomic::AtomicBool};

use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use crate::{
    Clock, Inner, KernelConfig, KernelError, Leadership, Result, actions,
    events::{EventBus, outbox},
    janitor, leadership,
    leadership::Fence,
    lifecycle::{
        dispatch::{self, Dispatch},
        firing::Firing,
        scheduler::Scheduler,
        writer::{self, Writer},
    },
    quota,
    store::Store,
};

/// Starts every part of a kernel on `store`. Without `leadership` it leads at once (recovering
/// the pending timers before it returns); with it, it leads only while it holds the lease.
pub(crate) async fn start(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: KernelConfig,
    leadership: Option<Leadership>,
) -> Result<Arc<Inner>> {
    let stop = CancellationToken::new();
    let writer_stop = CancellationToken::new();
    let bus = EventBus::new(config.event_buffer);
    let (fired_tx, fired_rx) = mpsc::unbounded_channel();
    let (due_tx, due_rx) = mpsc::unbounded_channel();
    let firing = Arc::new(Firing::default());
    if let Some(leadership) = &leadership {
        // A token no lease ever has: until this kernel leads, the store refuses its writes.
        store.set_fence(Some(Fence {
            lease: leadership.name.clone(),
            holder: leadership.holder.clone(),
            token: 0,
        }));
    }
    let usage = Arc::new(std::sync::Mutex::new(quota::Usage::new(
        config.default_limits,
    )));
    let (writer, writer_task) = Writer::spawn(
        writer::WriterParts {
            store: store.clone(),
            bus: bus.clone(),
            fired: fired_tx.clone(),
            usage: usage.clone(),
            clock: clock.clone(),
            firing: firing.clone(),
        },
        writer_stop.clone(),
    );
    let (scheduler_tx, scheduler_rx) = mpsc::unbounded_channel();
    let scheduler = Scheduler::new(
        clock.clone(),
        writer.clone(),
        firing.clone(),
        due_tx,
        bus.metrics.clone(),
        scheduler_rx,
        scheduler_tx.clone(),
        tokio::runtime::Handle::current(),
        stop.clone(),
    );
    let mut tasks = Vec::new();
    let scheduler_thread = if config.scheduler_thread {
        let thread = std::thread::Builder::new()
            .name("minoots-scheduler".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("scheduler runtime");
                runtime.block_on(scheduler.run());
            })
            .map_err(|e| KernelError::Internal(format!("spawning the scheduler thread: {e}")))?;
        Some(thread)
    } else {
        tasks.push(tokio::spawn(scheduler.run()));
        None
    };
    let executor = actions::Executor::new(config.actions.clone(), bus.metrics.clone());
    tasks.push(tokio::spawn(dispatch::run(
        fired_rx,
        due_rx,
        Dispatch {
            writer: writer.clone(),
            clock: clock.clone(),
            store: store.clone(),
            executor: executor.clone(),
            firing,
            stop: stop.clone(),
        },
    )));
    let (schedules, schedules_rx) = crate::schedules::Runner::new();
    let retry_after_ms = leadership
        .as_ref()
        .map_or(100, |l| l.heartbeat.as_millis() as u64);
    let inner = Arc::new(Inner {
        store,
        clock,
        writer,
        usage,
        executor,
        scheduler: scheduler_tx,
        fired: fired_tx,
        bus,
        schedules,
        leader: Arc::new(AtomicBool::new(false)),
        retry_after_ms,
        stop,
        writer_stop,
        streams: std::sync::Mutex::new(CancellationToken::new()),
        tasks: Mutex::new(Vec::new()),
        writer_task: Mutex::new(Some(writer_task)),
        scheduler_thread: std::sync::Mutex::new(scheduler_thread),
        lease_thread: std::sync::Mutex::new(None),
    });
    match leadership {
        None => inner.take_lead().await?,
        Some(leadership) => {
            let thread = leadership::spawn(inner.clone(), leadership)?;
            *inner.lease_thread.lock().unwrap() = Some(thread);
        }
    }
    tasks.push(tokio::spawn(crate::schedules::run(
        inner.clone(),
        schedules_rx,
        inner.stop.clone(),
    )));
    tasks.push(tokio::spawn(janitor::refresh_limits(
        inner.clone(),
        config.limits_refresh,
    )));
    if let Some(publishing) = config.publishing.clone() {
        tasks.push(tokio::spawn(outbox::run(inner.clone(), publishing)));
    }
    tasks.push(tokio::spawn(janitor::purge(inner.clone(), config)));
    inner.tasks.lock().await.extend(tasks);
    Ok(inner)
}

/// Stops firing, drains the writer (every accepted write is committed and answered) and
/// waits for the background tasks.
pub(crate) async fn shutdown(inner: &Inner) {
    inner.close_streams();
    inner.stop.cancel();
    for task in inner.tasks.lock().await.drain(..) {
        let _ = task.await;
    }
    let threads = [
        inner.scheduler_thread.lock().unwrap().take(),
        inner.lease_thread.lock().unwrap().take(),
    ];
    for thread in threads.into_iter().flatten() {
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
    inner.writer_stop.cancel();
    if let Some(task) = inner.writer_task.lock().await.take() {
        let _ = task.await;
    }
}
