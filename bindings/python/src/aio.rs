//! SDK futures as asyncio awaitables: the work runs on the binding's runtime, the result is
//! handed to the event loop with `call_soon_threadsafe`, and cancelling the asyncio future
//! aborts the work.

use std::{
    future::Future,
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
    time::Duration,
};

use pyo3::prelude::*;
use tokio::task::AbortHandle;

use crate::{error::to_py, runtime};

/// Runtime threads inside Python right now, handing a result to an event loop.
static HANDING_OVER: AtomicUsize = AtomicUsize::new(0);
/// Set at interpreter exit: from then on runtime threads stay out of Python.
static EXITING: AtomicBool = AtomicBool::new(false);

/// Registered with `atexit`: waits (without the GIL) for runtime threads that are inside Python
/// to leave, and keeps others out. A thread that tried to take the GIL once finalization has
/// begun would be ended by Python with `pthread_exit`, which aborts the process when it unwinds
/// through Rust frames.
#[pyfunction]
pub fn quiesce(py: Python<'_>) {
    EXITING.store(true, Ordering::SeqCst);
    py.detach(|| {
        while HANDING_OVER.load(Ordering::SeqCst) > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// Runs `f` with the GIL unless the interpreter is exiting.
fn with_python(f: impl FnOnce(Python<'_>)) {
    HANDING_OVER.fetch_add(1, Ordering::SeqCst);
    if !EXITING.load(Ordering::SeqCst) {
        Python::attach(f);
    }
    HANDING_OVER.fetch_sub(1, Ordering::SeqCst);
}

/// Completes an asyncio future on its loop's thread, unless it was cancelled meanwhile.
#[pyfunction]
fn resolve(future: &Bound<'_, PyAny>, ok: bool, value: Bound<'_, PyAny>) -> PyResult<()> {
    if future.call_method0("done")?.is_truthy()? {
        return Ok(());
    }
    let method = if ok { "set_result" } else { "set_exception" };
    future.call_method1(method, (value,))?;
    Ok(())
}

/// `add_done_callback` target: aborts the task when the awaitable is cancelled.
#[pyclass]
struct AbortOnCancel(AbortHandle);

#[pymethods]
impl AbortOnCancel {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.0.abort();
        }
        Ok(())
    }
}

/// Runs `work` and returns an awaitable for its result, converted by `convert` with the GIL.
pub fn awaitable<'py, T, F, C>(py: Python<'py>, work: F, convert: C) -> PyResult<Bound<'py, PyAny>>
where
    T: Send + 'static,
    F: Future<Output = Result<T, minoots::Error>> + Send + 'static,
    C: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
    let future = event_loop.call_method0("create_future")?;
    let resolve = wrap_pyfunction!(resolve, py)?.unbind();
    let (loop_ref, future_ref) = (event_loop.unbind(), future.clone().unbind());
    let task = runtime::get().spawn(async move {
        let result = work.await;
        with_python(|py| {
            let (ok, value) = match result.map_err(to_py).and_then(|v| convert(py, v)) {
                Ok(value) => (true, value),
                Err(err) => (false, err.into_value(py).into_any()),
            };
            // Fails only when the loop is closed; nobody is waiting then.
            let _ =
                loop_ref.call_method1(py, "call_soon_threadsafe", (resolve, future_ref, ok, value));
        });
    });
    future.call_method1("add_done_callback", (AbortOnCancel(task.abort_handle()),))?;
    Ok(future)
}
