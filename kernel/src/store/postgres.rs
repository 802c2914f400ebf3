//! Postgres store, for clusters: several kernels share one database, one of them (the lease
//! holder) writes. Every write transaction first checks, under a share lock on the lease row, that
//! this store's fencing token is still the current one, so a deposed leader's late write is
//! refused by Postgres itself, however late it arrives.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use futures_util::{StreamExt as _, TryStreamExt as _, stream::BoxStream};
use minoots_proto::v1::{Timer, TimerEvent, TimerStatus};
use prost::Message;
use sqlx::{
    PgPool, Postgres, QueryBuilder, Row, Transaction,
    postgres::{PgConnectOptions, PgPoolOptions, PgRow},
};

use super::{
    EventBounds, ListQuery, Loaded, Mutation, Outcome, PendingTimer, Plan, Store, finished_at,
    fire_at, has_actions, plan, salvage, tenants_touched, to_load,
};
use crate::{
    clock::{Micros, from_timestamp, to_timestamp},
    error::{KernelError, Result},
    json,
    labels::Requirement,
    leadership::{Fence, Lease},
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// The group-commit writer's own connection, as SQLite's. Its transactions carry whole
    /// batches (tens of MB for 10,000 timers), and a connection keeps its buffers at the largest
    /// message it sent: on the shared pool each of its 8 connections took turns. Measured with
    /// 1M timers just scheduled: 373 MB above the empty server instead of 415.
    writer: PgPool,
    options: PgConnectOptions,
    fence: Arc<Mutex<Option<Fence>>>,
}

/// Timers are read with `id, tenant_id, status, name, fire_at_us, body`: the timer's identity
/// from its columns, for a body that cannot be read at all.
fn columns(row: &PgRow) -> Timer {
    Timer {
        id: row.get("id"),
        tenant_id: row.get("tenant_id"),
        status: i32::from(row.get::<i16, _>("status")),
        name: row.get("name"),
        fire_at: Some(to_timestamp(row.get("fire_at_us"))),
        ..Timer::default()
    }
}

fn read_timer(row: &PgRow) -> (Timer, Option<String>) {
    salvage::read_timer(row.get("body"), || columns(row))
}

fn shown(row: &PgRow) -> Timer {
    salvage::shown(row.get("body"), || columns(row))
}

async fn write_dead_letters(
    tx: &mut Transaction<'_, Postgres>,
    letters: &[minoots_proto::v1::DeadLetter],
) -> Result<()> {
    for letter in letters {
        sqlx::query(super::PUT_DEAD_LETTER)
            .bind(&letter.id)
            .bind(&letter.tenant_id)
            .bind(&letter.timer_id)
            .bind(i64::from(letter.action_index))
            .bind(letter.created_at.as_ref().map_or(0, from_timestamp))
            .bind(letter.resolved_at.as_ref().map(from_timestamp))
            .bind(letter.encode_to_vec())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

impl PostgresStore {
    /// Connects and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, Duration::from_secs(5)).await
    }

    /// As [`connect`](Self::connect); a session left idle inside a transaction for longer than
    /// `idle_transaction_timeout` (a leader frozen mid-write) is ended by the server, releasing
    /// its locks so a takeover does not wait on it. Use the lease timeout.
    pub async fn connect_with(url: &str, idle_transaction_timeout: Duration) -> Result<Self> {
        let options: PgConnectOptions = url
            .parse::<PgConnectOptions>()
            .map_err(|e| KernelError::invalid("database_url", format!("not a Postgres URL: {e}")))?
            .options([(
                "idle_in_transaction_session_timeout",
                idle_transaction_timeout.as_millis().max(1).to_string(),
            )]);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        migrate(&pool).await?;
        let writer = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(options.clone());
        Ok(Self {
            pool,
            writer,
            options,
            fence: Arc::new(Mutex::new(None)),
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Refuses the transaction's writes unless this store's fencing token is the lease's
    /// current one (no check before a fence is set: a store without leadership).
    async fn check_fence(&self, tx: &mut Transaction<'_, Postgres>) -> Result<()> {
        let fence = self.fence.lock().unwrap().clone();
        match fence {
            Some(fence) => check_fence(tx, &fence).await,
            None => Ok(()),
        }
    }

    /// A lease on this database, named `name`, held as `holder`. It has a connection of its own
    /// (opened where it is first used), so renewals never wait for the store's pool.
    pub fn lease(&self, name: &str, holder: &str, ttl: Duration) -> PgLease {
        PgLease {
            pool: PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(ttl)
                .connect_lazy_with(self.options.clone()),
            name: name.to_owned(),
            holder: holder.to_owned(),
            ttl,
        }
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

pub async fn migrate(pool: &PgPool) -> Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .map_err(|e| KernelError::Unavailable(format!("migrating Postgres: {e}")))
}

/// Checks the fencing token inside `tx`. The share lock makes a takeover (which updates the fence
/// row) wait for this transaction, so every write commits either before the takeover, under the
/// old token, or not at all.
async fn check_fence(tx: &mut Transaction<'_, Postgres>, fence: &Fence) -> Result<()> {
    let current: Option<i64> =
        sqlx::query_scalar("SELECT token FROM kernel_fences WHERE name = $1 FOR SHARE")
            .bind(&fence.lease)
            .fetch_optional(&mut **tx)
            .await?;
    if current == Some(fence.token as i64) {
        Ok(())
    } else {
        Err(KernelError::Fenced { token: fence.token })
    }
}

async fn load(tx: &mut Transaction<'_, Postgres>, mutations: &[Mutation]) -> Result<Loaded> {
    let (ids, keys) = to_load(mutations);
    let mut loaded = Loaded::default();
    if !ids.is_empty() {
        let rows = sqlx::query(
            "SELECT id, tenant_id, status, name, fire_at_us, body FROM timers WHERE id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&mut **tx)
        .await?;
        for row in rows {
            let (timer, damage) = read_timer(&row);
            if let Some(damage) = damage {
                loaded.damaged.insert(timer.id.clone(), damage);
            }
            loaded.timers.insert(timer.id.clone(), timer);
        }
    }
    if !keys.is_empty() {
        let (tenants, keys): (Vec<String>, Vec<String>) = keys.into_iter().unzip();
        let rows = sqlx::query(
            "SELECT t.request_hash, t.id, t.tenant_id, t.status, t.name, t.fire_at_us, t.body FROM timers t JOIN unnest($1::text[], $2::text[]) AS k(tenant_id, key)
             ON t.tenant_id = k.tenant_id AND t.idempotency_key = k.key",
        )
        .bind(&tenants)
        .bind(&keys)
        .fetch_all(&mut **tx)
        .await?;
        for row in rows {
            let (timer, _) = read_timer(&row);
            loaded.idempotency.insert(
                (timer.tenant_id.clone(), timer.idempotency_key.clone()),
                (timer, row.get("request_hash")),
            );
        }
    }
    let tenants = tenants_touched(mutations, &loaded.timers);
    let rows = sqlx::query(
        "SELECT tenant_id, last_sequence FROM tenant_sequences WHERE tenant_id = ANY($1)",
    )
    .bind(&tenants)
    .fetch_all(&mut **tx)
    .await?;
    loaded.sequences = rows
        .iter()
        .map(|row| {
            (
                row.get::<String, _>("tenant_id"),
                row.get::<i64, _>("last_sequence") as u64,
            )
        })
        .collect::<HashMap<_, _>>();
    if tenants.iter().any(|t| !loaded.sequences.contains_key(t)) {
        let floor: Option<i64> =
            sqlx::query_scalar("SELECT floor FROM sequence_floor WHERE id = 1")
                .fetch_optional(&mut **tx)
                .await?;
        loaded.floor = floor.unwrap_or(0) as u64;
    }
    if super::creates(mutations) {
        loaded.paused_tenants = sqlx::query_scalar("SELECT tenant_id FROM tenant_pauses")
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .collect();
    }
    Ok(loaded)
}

fn metadata_json(timer: &Timer) -> Option<serde_json::Value> {
    timer.metadata.as_ref().map(json::struct_to_json)
}

async fn write(tx: &mut Transaction<'_, Postgres>, plan: &Plan) -> Result<()> {
    for (id, key, fingerprint) in &plan.rekeyed {
        sqlx::query("UPDATE timers SET idempotency_key = $1, request_hash = $2 WHERE id = $3")
            .bind(key)
            .bind(fingerprint)
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    if !plan.inserts.is_empty() {
        let timers = || plan.inserts.iter().map(|(t, _)| t);
        sqlx::query(
            "INSERT INTO timers (id, tenant_id, status, name, fire_at_us, finished_at_us, labels, metadata, idempotency_key, request_hash, has_actions, body)
             SELECT * FROM unnest($1::text[], $2::text[], $3::int2[], $4::text[], $5::int8[], $6::int8[], $7::jsonb[], $8::jsonb[], $9::text[], $10::text[], $11::bool[], $12::bytea[])",
        )
        .bind(timers().map(|t| t.id.clone()).collect::<Vec<_>>())
        .bind(timers().map(|t| t.tenant_id.clone()).collect::<Vec<_>>())
        .bind(timers().map(|t| t.status as i16).collect::<Vec<_>>())
        .bind(timers().map(|t| t.name.clone()).collect::<Vec<_>>())
        .bind(timers().map(fire_at).collect::<Vec<_>>())
        .bind(timers().map(finished_at).collect::<Vec<_>>())
        .bind(timers().map(|t| serde_json::json!(t.labels)).collect::<Vec<_>>())
        .bind(timers().map(metadata_json).collect::<Vec<_>>())
        .bind(timers().map(|t| (!t.idempotency_key.is_empty()).then(|| t.idempotency_key.clone())).collect::<Vec<_>>())
        .bind(plan.inserts.iter().map(|(_, fingerprint)| fingerprint.clone()).collect::<Vec<_>>())
        .bind(timers().map(has_actions).collect::<Vec<_>>())
        .bind(timers().map(Message::encode_to_vec).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    if !plan.updates.is_empty() {
        sqlx::query(
            "UPDATE timers t SET status = v.status, finished_at_us = v.finished_at_us, body = v.body
             FROM unnest($1::text[], $2::int2[], $3::int8[], $4::bytea[]) AS v(id, status, finished_at_us, body)
             WHERE t.id = v.id",
        )
        .bind(plan.updates.iter().map(|t| t.id.clone()).collect::<Vec<_>>())
        .bind(plan.updates.iter().map(|t| t.status as i16).collect::<Vec<_>>())
        .bind(plan.updates.iter().map(finished_at).collect::<Vec<_>>())
        .bind(plan.updates.iter().map(Message::encode_to_vec).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    for timer in plan
        .updates
        .iter()
        .filter(|t| plan.reshaped.contains(&t.id))
    {
        sqlx::query(
            "UPDATE timers SET fire_at_us = $1, name = $2, labels = $3, metadata = $4, has_actions = $5 WHERE id = $6",
        )
        .bind(fire_at(timer))
        .bind(&timer.name)
        .bind(serde_json::json!(timer.labels))
        .bind(metadata_json(timer))
        .bind(has_actions(timer))
        .bind(&timer.id)
        .execute(&mut **tx)
        .await?;
    }
    if !plan.events.is_empty() {
        sqlx::query(
            "INSERT INTO events (tenant_id, sequence, timer_id, occurred_at_us, body)
             SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::int8[], $5::bytea[])",
        )
        .bind(
            plan.events
                .iter()
                .map(|e| e.tenant_id.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            plan.events
                .iter()
                .map(|e| e.sequence as i64)
                .collect::<Vec<_>>(),
        )
        .bind(
            plan.events
                .iter()
                .map(|e| e.timer_id.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            plan.events
                .iter()
                .map(|e| {
                    e.occurred_at
                        .as_ref()
                        .map(from_timestamp)
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>(),
        )
        .bind(
            plan.events
                .iter()
                .map(|event| event.encode_to_vec())
                .collect::<Vec<_>>(),
        )
        .execute(&mut **tx)
        .await?;
    }
    write_dead_letters(tx, &plan.dead_letters).await?;
    for (schedule, fingerprint) in &plan.schedules {
        sqlx::query(super::PUT_SCHEDULE)
            .bind(&schedule.id)
            .bind(&schedule.tenant_id)
            .bind((!schedule.idempotency_key.is_empty()).then_some(&schedule.idempotency_key))
            .bind(fingerprint)
            .bind(schedule.state)
            .bind(schedule.encode_to_vec())
            .execute(&mut **tx)
            .await?;
    }
    if !plan.sequences.is_empty() {
        let (tenants, lasts): (Vec<String>, Vec<i64>) = plan
            .sequences
            .iter()
            .map(|(t, s)| (t.clone(), *s as i64))
            .unzip();
        sqlx::query(
            "INSERT INTO tenant_sequences (tenant_id, last_sequence) SELECT * FROM unnest($1::text[], $2::int8[])
             ON CONFLICT (tenant_id) DO UPDATE SET last_sequence = excluded.last_sequence",
        )
        .bind(tenants)
        .bind(lasts)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl Store for PostgresStore {
    async fn apply(&self, mutations: Vec<Mutation>) -> Result<Vec<Outcome>> {
        let mut tx = self.writer.begin().await?;
        self.check_fence(&mut tx).await?;
        let loaded = load(&mut tx, &mutations).await?;
        let plan = plan(mutations, loaded);
        write(&mut tx, &plan).await?;
        tx.commit().await?;
        Ok(plan.outcomes)
    }

    fn set_fence(&self, fence: Option<Fence>) {
        *self.fence.lock().unwrap() = fence;
    }

    async fn get(&self, tenant_id: &str, id: &str) -> Result<Option<Timer>> {
        let row = sqlx::query(
            "SELECT id, tenant_id, status, name, fire_at_us, body FROM timers WHERE id = $1 AND tenant_id = $2",
        )
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(shown))
    }

    async fn get_many(&self, keys: &[(&str, &str)]) -> Result<Vec<Timer>> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(1_000) {
            let mut sql = QueryBuilder::<Postgres>::new(
                "SELECT id, tenant_id, status, name, fire_at_us, body FROM timers WHERE id IN (",
            );
            let mut ids = sql.separated(", ");
            for (_, id) in chunk {
                ids.push_bind(*id);
            }
            sql.push(")");
            let wanted: std::collections::HashSet<&(&str, &str)> = chunk.iter().collect();
            let rows = sql.build().fetch_all(&self.pool).await?;
            found.extend(
                rows.iter().map(shown).filter(|timer| {
                    wanted.contains(&(timer.tenant_id.as_str(), timer.id.as_str()))
                }),
            );
        }
        Ok(found)
    }

    async fn id_for_key(&self, tenant_id: &str, key: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM timers WHERE tenant_id = $1 AND idempotency_key = $2",
        )
        .bind(tenant_id)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Timer>> {
        let mut sql = QueryBuilder::<Postgres>::new(
            "SELECT id, tenant_id, status, name, fire_at_us, body FROM timers WHERE tenant_id = ",
        );
        sql.push_bind(&query.tenant_id);
        if let Some(after) = &query.after_id {
            sql.push(" AND id > ").push_bind(after);
        }
        if !query.statuses.is_empty() {
            sql.push(" AND status = ANY(")
                .push_bind(query.statuses.iter().map(|s| *s as i16).collect::<Vec<_>>())
                .push(")");
        }
        if !query.name_prefix.is_empty() {
            sql.push(" AND starts_with(name, ")
                .push_bind(&query.name_prefix)
                .push(")");
        }
        for requirement in &query.selector.requirements {
            match requirement {
                Requirement::Equals(k, v) => {
                    sql.push(" AND labels @> ")
                        .push_bind(serde_json::json!({ k: v }));
                }
                Requirement::NotEquals(k, v) => {
                    sql.push(" AND NOT labels @> ")
                        .push_bind(serde_json::json!({ k: v }));
                }
                Requirement::Exists(k) => {
                    sql.push(" AND labels ? ").push_bind(k);
                }
                Requirement::NotExists(k) => {
                    sql.push(" AND NOT labels ? ").push_bind(k);
                }
            }
        }
        sql.push(" ORDER BY id LIMIT ")
            .push_bind(query.limit as i64);
        let rows = sql.build().fetch_all(&self.pool).await?;
        Ok(rows.iter().map(shown).collect())
    }

    async fn events_after(
        &self,
        tenant_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<TimerEvent>> {
        let rows: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT body FROM events WHERE tenant_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3")
                .bind(tenant_id)
                .bind(after as i64)
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.iter().filter_map(|b| salvage::read_event(b)).collect())
    }

    async fn event_bounds(&self, tenant_id: &str) -> Result<EventBounds> {
        let row = sqlx::query(
            "SELECT (SELECT min(sequence) FROM events WHERE tenant_id = $1) AS oldest,
                    COALESCE((SELECT last_sequence FROM tenant_sequences WHERE tenant_id = $1),
                             (SELECT floor FROM sequence_floor WHERE id = 1)) AS last",
        )
        .bind(tenant_id)
        .fetch_one(&self.pool)
        .await?;
        let oldest: Option<i64> = row.get("oldest");
        let last: Option<i64> = row.get("last");
        Ok(EventBounds {
            oldest: oldest.map(|s| s as u64),
            last: last.unwrap_or(0) as u64,
        })
    }

    async fn skip_sequences(&self, skip: u64) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        self.check_fence(&mut tx).await?;
        // Taken with the table locked, so no write slips between the read and the raise.
        sqlx::query("LOCK TABLE tenant_sequences IN EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        let highest: i64 = sqlx::query_scalar(
            "SELECT GREATEST(COALESCE((SELECT max(last_sequence) FROM tenant_sequences), 0),
                             COALESCE((SELECT floor FROM sequence_floor WHERE id = 1), 0))",
        )
        .fetch_one(&mut *tx)
        .await?;
        let floor = (highest as u64).saturating_add(skip).min(i64::MAX as u64);
        sqlx::query("UPDATE tenant_sequences SET last_sequence = $1")
            .bind(floor as i64)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sequence_floor (id, floor) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET floor = excluded.floor",
        )
        .bind(floor as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(floor)
    }

    fn pending(&self) -> BoxStream<'_, Result<PendingTimer>> {
        sqlx::query(
            "SELECT id, tenant_id, status, fire_at_us, has_actions FROM timers WHERE status IN (1, 2, 3)",
        )
        .fetch(&self.pool)
        .map_ok(|row| PendingTimer {
            id: row.get("id"),
            tenant_id: row.get("tenant_id"),
            status: TimerStatus::try_from(i32::from(row.get::<i16, _>("status")))
                .unwrap_or_default(),
            fire_at: row.get("fire_at_us"),
            has_actions: row.get("has_actions"),
        })
        .map_err(KernelError::from)
        .boxed()
    }

    async fn purge(
        &self,
        timers_before: Micros,
        events_before: Micros,
        keep_unpublished: bool,
    ) -> Result<(u64, u64)> {
        let mut tx = self.pool.begin().await?;
        self.check_fence(&mut tx).await?;
        let timers = sqlx::query("DELETE FROM timers WHERE finished_at_us < $1")
            .bind(timers_before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let events = sqlx::query(super::purge_events(keep_unpublished))
            .bind(events_before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok((timers, events))
    }

    async fn take_rate_token(
        &self,
        bucket: &str,
        per_second: f64,
        burst: f64,
        now: Micros,
    ) -> Result<super::RateToken> {
        // One statement, so the refill and the take are atomic for every process on this store.
        let (taken, tokens): (bool, f64) = sqlx::query_as(
            "INSERT INTO rate_buckets AS b (bucket, tokens, at_us, taken) VALUES ($1, $3 - 1, $4, TRUE)
             ON CONFLICT (bucket) DO UPDATE SET
                 tokens = LEAST($3, b.tokens + GREATEST($4 - b.at_us, 0) * $2 / 1000000.0)
                     - CASE WHEN LEAST($3, b.tokens + GREATEST($4 - b.at_us, 0) * $2 / 1000000.0) >= 1
                       THEN 1 ELSE 0 END,
                 taken = LEAST($3, b.tokens + GREATEST($4 - b.at_us, 0) * $2 / 1000000.0) >= 1,
                 at_us = GREATEST(b.at_us, $4)
             RETURNING taken, tokens",
        )
        .bind(bucket)
        .bind(per_second)
        .bind(burst)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(super::RateToken { taken, tokens })
    }
}

sql_side_tables!(PostgresStore, pool, pool);

/// A lease row in Postgres. Acquiring an expired (or own) lease increments its token; renewing
/// keeps the token. Expiry is judged by the database's clock only, so kernels' clocks may differ.
#[derive(Debug, Clone)]
pub struct PgLease {
    pool: PgPool,
    name: String,
    holder: String,
    ttl: Duration,
}

#[async_trait]
impl Lease for PgLease {
    async fn try_acquire(&self) -> Result<Option<Fence>> {
        let mut tx = self.pool.begin().await?;
        let token: Option<i64> = sqlx::query_scalar(
            "INSERT INTO kernel_leases (name, holder, token, expires_at)
             VALUES ($1, $2, 1, now() + make_interval(secs => $3))
             ON CONFLICT (name) DO UPDATE
                SET holder = excluded.holder, token = kernel_leases.token + 1, expires_at = excluded.expires_at
                WHERE kernel_leases.expires_at < now() OR kernel_leases.holder = excluded.holder
             RETURNING token",
        )
        .bind(&self.name)
        .bind(&self.holder)
        .bind(self.ttl.as_secs_f64())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(token) = token else { return Ok(None) };
        // Moving the fence waits for the previous holder's in-flight writes; bounded, so a stuck
        // one makes this attempt fail and retry rather than hang.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SET LOCAL lock_timeout = {}",
            self.ttl.as_millis().max(1)
        )))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO kernel_fences (name, token) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET token = excluded.token",
        )
        .bind(&self.name)
        .bind(token)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(Fence {
            lease: self.name.clone(),
            holder: self.holder.clone(),
            token: token as u64,
        }))
    }

    async fn renew(&self, fence: &Fence) -> Result<bool> {
        // A late renewal still holds the lease if nobody took it meanwhile (the token would have
        // moved): a leader slowed down by load keeps leading instead of stepping down and
        // recovering again, and the token still fences any kernel that did lose the lease.
        let renewed = sqlx::query(
            "UPDATE kernel_leases SET expires_at = now() + make_interval(secs => $4)
             WHERE name = $1 AND holder = $2 AND token = $3",
        )
        .bind(&self.name)
        .bind(&self.holder)
        .bind(fence.token as i64)
        .bind(self.ttl.as_secs_f64())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(renewed == 1)
    }

    async fn release(&self, fence: &Fence) -> Result<()> {
        sqlx::query("UPDATE kernel_leases SET expires_at = now() WHERE name = $1 AND holder = $2 AND token = $3")
            .bind(&self.name)
            .bind(&self.holder)
            .bind(fence.token as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
