//! `minoots._native`: the Python face of sdk-rust. Every function translates arguments, errors
//! and async, and calls the SDK; no client logic lives here.

mod aio;
mod client;
mod dead_letter;
mod error;
mod runtime;
mod schedule;
mod stream;
mod timer;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<client::Client>()?;
    m.add_class::<client::AsyncClient>()?;
    m.add_class::<timer::Timer>()?;
    m.add_class::<timer::TimerEvent>()?;
    m.add_class::<timer::TenantPause>()?;
    m.add_class::<schedule::Schedule>()?;
    m.add_class::<stream::EventStream>()?;
    m.add_class::<stream::AsyncEventStream>()?;
    m.add_class::<dead_letter::DeadLetter>()?;
    m.add_class::<dead_letter::ActionResult>()?;
    m.add_class::<dead_letter::ReplayResult>()?;
    m.add_function(wrap_pyfunction!(client::verify_webhook, m)?)?;
    m.add_function(wrap_pyfunction!(client::parse_duration, m)?)?;
    m.add_function(wrap_pyfunction!(client::tool_specs, m)?)?;
    m.add_function(wrap_pyfunction!(client::parse_labels, m)?)?;
    error::register(m)?;
    let quiesce = wrap_pyfunction!(aio::quiesce, m)?;
    m.py()
        .import("atexit")?
        .call_method1("register", (quiesce,))?;
    Ok(())
}
