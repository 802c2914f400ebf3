use std::sync::{Arc, Mutex};

use tokio::runtime::Runtime;

/// The binding's own tokio runtime. After `fork()` the child has none of the parent's threads,
/// so a runtime made in another process is left alone (leaked, never dropped: dropping would
/// wait on threads that do not exist) and a new one is made.
pub fn get() -> Arc<Runtime> {
    static RUNTIME: Mutex<Option<(u32, Arc<Runtime>)>> = Mutex::new(None);
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    match slot.as_ref() {
        Some((owner, runtime)) if *owner == pid => runtime.clone(),
        _ => {
            if let Some(stale) = slot.take() {
                std::mem::forget(stale);
            }
            let runtime = Arc::new(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("minoots-python")
                    .enable_all()
                    .build()
                    .expect("starting the minoots runtime"),
            );
            *slot = Some((pid, runtime.clone()));
            runtime
        }
    }
}
