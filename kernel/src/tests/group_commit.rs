//! Group commit: concurrent writers share one transaction and are answered after it.

use super::*;

/// A store whose first write blocks until released, recording the size of every write.
struct GatedStore {
    inner: MemoryStore,
    gate: std::sync::Mutex<Option<tokio::sync::oneshot::Receiver<()>>>,
    entered: tokio::sync::Notify,
    batches: std::sync::Mutex<Vec<usize>>,
}

#[async_trait::async_trait]
impl Store for GatedStore {
    async fn apply(&self, mutations: Vec<Mutation>) -> Result<Vec<Outcome>> {
        self.batches.lock().unwrap().push(mutations.len());
        let gate = self.gate.lock().unwrap().take();
        if let Some(gate) = gate {
            self.entered.notify_one();
            let _ = gate.await;
        }
        self.inner.apply(mutations).await
    }
    async fn get(&self, tenant_id: &str, id: &str) -> Result<Option<Timer>> {
        self.inner.get(tenant_id, id).await
    }
    async fn id_for_key(&self, tenant_id: &str, key: &str) -> Result<Option<String>> {
        self.inner.id_for_key(tenant_id, key).await
    }
    async fn list(&self, query: &ListQuery) -> Result<Vec<Timer>> {
        self.inner.list(query).await
    }
    async fn events_after(
        &self,
        tenant_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<TimerEvent>> {
        self.inner.events_after(tenant_id, after, limit).await
    }
    async fn event_bounds(&self, tenant_id: &str) -> Result<store::EventBounds> {
        self.inner.event_bounds(tenant_id).await
    }
    fn pending(&self) -> futures_util::stream::BoxStream<'_, Result<store::PendingTimer>> {
        self.inner.pending()
    }
    async fn skip_sequences(&self, skip: u64) -> Result<u64> {
        self.inner.skip_sequences(skip).await
    }
    async fn purge(
        &self,
        timers_before: Micros,
        events_before: Micros,
        keep_unpublished: bool,
    ) -> Result<(u64, u64)> {
        self.inner
            .purge(timers_before, events_before, keep_unpublished)
            .await
    }

    async fn take_rate_token(
        &self,
        bucket: &str,
        per_second: f64,
        burst: f64,
        now: Micros,
    ) -> Result<crate::store::RateToken> {
        self.inner
            .take_rate_token(bucket, per_second, burst, now)
            .await
    }
}

#[async_trait::async_trait]
impl store::SideTables for GatedStore {
    async fn created_since(&self, since: Micros) -> Result<HashMap<String, u64>> {
        self.inner.created_since(since).await
    }
    async fn tenant_limits(&self) -> Result<HashMap<String, store::Limits>> {
        self.inner.tenant_limits().await
    }
    async fn put_tenant_limits(&self, tenant_id: &str, limits: store::Limits) -> Result<()> {
        self.inner.put_tenant_limits(tenant_id, limits).await
    }
    async fn put_api_key(&self, key: &store::ApiKey) -> Result<()> {
        self.inner.put_api_key(key).await
    }
    async fn find_api_key(&self, digest: &str) -> Result<Option<store::ApiKey>> {
        self.inner.find_api_key(digest).await
    }
    async fn list_api_keys(&self, tenant_id: Option<&str>) -> Result<Vec<store::ApiKey>> {
        self.inner.list_api_keys(tenant_id).await
    }
    async fn revoke_api_key(&self, id: &str, at: Micros) -> Result<Option<store::ApiKey>> {
        self.inner.revoke_api_key(id, at).await
    }
    async fn put_dead_letters(&self, letters: &[minoots_proto::v1::DeadLetter]) -> Result<()> {
        self.inner.put_dead_letters(letters).await
    }
    async fn list_dead_letters(
        &self,
        tenant_id: &str,
        since: Micros,
        include_resolved: bool,
        limit: usize,
    ) -> Result<Vec<minoots_proto::v1::DeadLetter>> {
        self.inner
            .list_dead_letters(tenant_id, since, include_resolved, limit)
            .await
    }
    async fn get_dead_letter(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<Option<minoots_proto::v1::DeadLetter>> {
        self.inner.get_dead_letter(tenant_id, id).await
    }
    async fn timer_dead_letters(
        &self,
        timer_id: &str,
    ) -> Result<Vec<minoots_proto::v1::DeadLetter>> {
        self.inner.timer_dead_letters(timer_id).await
    }
    async fn publish_cursors(&self) -> Result<HashMap<String, u64>> {
        self.inner.publish_cursors().await
    }
    async fn set_publish_cursor(&self, tenant_id: &str, sequence: u64) -> Result<()> {
        self.inner.set_publish_cursor(tenant_id, sequence).await
    }
    async fn event_heads(&self) -> Result<HashMap<String, u64>> {
        self.inner.event_heads().await
    }
    async fn tenant_pause(&self, tenant_id: &str) -> Result<Option<store::PausedTenant>> {
        self.inner.tenant_pause(tenant_id).await
    }
    async fn set_tenant_pause(
        &self,
        tenant_id: &str,
        pause: Option<&store::PausedTenant>,
    ) -> Result<()> {
        self.inner.set_tenant_pause(tenant_id, pause).await
    }
    async fn get_schedule(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<Option<minoots_proto::v1::Schedule>> {
        self.inner.get_schedule(tenant_id, id).await
    }
    async fn schedule_for_key(
        &self,
        tenant_id: &str,
        key: &str,
    ) -> Result<Option<(minoots_proto::v1::Schedule, String)>> {
        self.inner.schedule_for_key(tenant_id, key).await
    }
    async fn list_schedules(
        &self,
        tenant_id: &str,
        after_id: &str,
        limit: usize,
    ) -> Result<Vec<minoots_proto::v1::Schedule>> {
        self.inner.list_schedules(tenant_id, after_id, limit).await
    }
    async fn live_schedules(&self) -> Result<Vec<minoots_proto::v1::Schedule>> {
        self.inner.live_schedules().await
    }
}

/// Group commit: callers that arrive while a write is in flight share the next transaction, and
/// none of them is answered before that transaction commits.
#[tokio::test(flavor = "current_thread")]
async fn concurrent_writes_share_one_transaction_and_wait_for_it() {
    let (release, gate) = tokio::sync::oneshot::channel();
    let store = Arc::new(GatedStore {
        inner: MemoryStore::new(),
        gate: std::sync::Mutex::new(Some(gate)),
        entered: tokio::sync::Notify::new(),
        batches: std::sync::Mutex::new(Vec::new()),
    });
    let clock = ManualClock::new(T0);
    let kernel = start(store.clone(), &clock).await;
    let first = {
        let kernel = kernel.clone();
        tokio::spawn(async move { kernel.schedule("acme", request("first", 3_600 * SEC)).await })
    };
    store.entered.notified().await; // the first write is in flight, and stuck
    let waiting: Vec<_> = (0..50)
        .map(|i| {
            let kernel = kernel.clone();
            tokio::spawn(async move {
                kernel
                    .schedule("acme", request(&format!("t{i}"), 3_600 * SEC))
                    .await
            })
        })
        .collect();
    // On this single-threaded runtime one yield runs every spawned task up to its wait for the
    // writer, so all 50 are queued before the gate opens.
    tokio::task::yield_now().await;
    assert!(
        waiting.iter().all(|t| !t.is_finished()),
        "nobody is answered before a commit"
    );
    release.send(()).unwrap();
    first.await.unwrap().unwrap();
    for task in waiting {
        assert!(task.await.unwrap().unwrap().created);
    }
    // Each schedule is two mutations (create, arm): the first alone, then all 50 in one batch.
    assert_eq!(*store.batches.lock().unwrap(), vec![2, 100]);
    kernel.shutdown().await;
}
