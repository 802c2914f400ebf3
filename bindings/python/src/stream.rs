//! The SDK's resuming event stream as a Python iterator (blocking) and async iterator.

use std::sync::Arc;

use minoots::StreamOptions;
use pyo3::{exceptions::PyStopAsyncIteration, exceptions::PyStopIteration, prelude::*};
use tokio::sync::Mutex;

use crate::{aio::awaitable, error::to_py, runtime, timer::TimerEvent};

fn event(py: Python<'_>, inner: minoots::proto::TimerEvent) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, TimerEvent { inner })?.into_any())
}

/// `for event in client.stream():` — blocks for the next event; `close()` ends it.
#[pyclass(module = "minoots", frozen)]
pub struct EventStream {
    inner: Arc<Mutex<minoots::EventStream>>,
    closer: minoots::CloseHandle,
}

impl EventStream {
    pub fn new(inner: minoots::EventStream) -> Self {
        Self {
            closer: inner.close_handle(),
            inner: Arc::new(Mutex::new(inner)),
        }
    }
}

#[pymethods]
impl EventStream {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<TimerEvent> {
        let inner = self.inner.clone();
        let next = py.detach(|| {
            runtime::get().block_on(async move { inner.lock().await.next_event().await })
        });
        match next {
            Some(Ok(inner)) => Ok(TimerEvent { inner }),
            Some(Err(e)) => Err(to_py(e)),
            None => Err(PyStopIteration::new_err(())),
        }
    }

    /// Ends the stream, also from another thread; a blocked `next()` then stops.
    fn close(&self) {
        self.closer.close();
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        _exc_type: Option<Bound<'_, PyAny>>,
        _exc: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) {
        self.close();
    }
}

enum State {
    Unopened(Box<(minoots::Client, StreamOptions)>),
    Open(minoots::EventStream),
    Closed,
}

/// `async for event in client.stream():` — opens on the first `__anext__`.
#[pyclass(module = "minoots", frozen)]
pub struct AsyncEventStream {
    state: Arc<Mutex<State>>,
    closer: Arc<std::sync::Mutex<Option<minoots::CloseHandle>>>,
}

impl AsyncEventStream {
    pub fn new(client: minoots::Client, options: StreamOptions) -> Self {
        Self {
            state: Arc::new(Mutex::new(State::Unopened(Box::new((client, options))))),
            closer: Arc::default(),
        }
    }
}

type Closer = Arc<std::sync::Mutex<Option<minoots::CloseHandle>>>;

async fn next(
    state: Arc<Mutex<State>>,
    closer: Closer,
) -> Result<Option<minoots::proto::TimerEvent>, minoots::Error> {
    let mut state = state.lock().await;
    if let State::Unopened(unopened) = &*state {
        let (client, options) = &**unopened;
        let opened = client.stream(options.clone()).await?;
        *closer.lock().unwrap_or_else(|e| e.into_inner()) = Some(opened.close_handle());
        *state = State::Open(opened);
    }
    match &mut *state {
        State::Open(stream) => stream.next_event().await.transpose(),
        _ => Ok(None),
    }
}

#[pymethods]
impl AsyncEventStream {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable(
            py,
            next(self.state.clone(), self.closer.clone()),
            |py, next| match next {
                Some(inner) => event(py, inner),
                None => Err(PyStopAsyncIteration::new_err(())),
            },
        )
    }

    /// Ends the stream; a pending `__anext__` finishes with `StopAsyncIteration`.
    fn aclose<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(closer) = self.closer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            closer.close();
        }
        let state = self.state.clone();
        awaitable(
            py,
            async move {
                *state.lock().await = State::Closed;
                Ok(())
            },
            |py, ()| Ok(py.None()),
        )
    }
}
