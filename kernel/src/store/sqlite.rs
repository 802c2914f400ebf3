//! SQLite store: the embedded default, one file in the data directory.
//!
//! One connection writes (the kernel's group-commit writer is the only caller of `apply`), a small
//! pool reads; WAL mode lets reads run during a write. `synchronous=FULL` (the default) fsyncs
//! every commit, so an acknowledged write survives power loss; `NORMAL` survives a process crash
//! but may lose the last commits on power loss, for more throughput.

use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
    str::FromStr,
    time::Duration,
};

use async_trait::async_trait;
use futures_util::{StreamExt as _, TryStreamExt as _, stream::BoxStream};
use minoots_proto::v1::{Timer, TimerEvent, TimerStatus};
use prost::Message;
use sqlx::{
    QueryBuilder, Row, Sqlite, SqlitePool, Transaction,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
    },
};

use super::{
    EventBounds, ListQuery, Loaded, Mutation, Outcome, PendingTimer, Plan, Store, finished_at,
    fire_at, has_actions, plan, salvage, tenants_touched, to_load,
};
use crate::{
    clock::{Micros, to_timestamp},
    error::{KernelError, Result},
    labels::Requirement,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    #[default]
    Full,
    Normal,
}

impl FromStr for Synchronous {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "full" => Ok(Self::Full),
            "normal" => Ok(Self::Normal),
            other => Err(format!(
                "unknown SQLite synchronous mode {other:?} (full or normal)"
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub async fn open(path: &Path, synchronous: Synchronous) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match synchronous {
                Synchronous::Full => SqliteSynchronous::Full,
                Synchronous::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|e| KernelError::Unavailable(format!("migrating {}: {e}", path.display())))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self { writer, reader })
    }

    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// Timers are read with `id, tenant_id, status, name, fire_at_us, body`: the timer's identity
/// from its columns, for a body that cannot be read at all.
fn columns(row: &SqliteRow) -> Timer {
    Timer {
        id: row.get("id"),
        tenant_id: row.get("tenant_id"),
        status: row.get::<i64, _>("status") as i32,
        name: row.get("name"),
        fire_at: Some(to_timestamp(row.get("fire_at_us"))),
        ..Timer::default()
    }
}

fn read_timer(row: &SqliteRow) -> (Timer, Option<String>) {
    salvage::read_timer(row.get("body"), || columns(row))
}

fn shown(row: &SqliteRow) -> Timer {
    salvage::shown(row.get("body"), || columns(row))
}

async fn write_dead_letters(
    tx: &mut Transaction<'_, Sqlite>,
    letters: &[minoots_proto::v1::DeadLetter],
) -> Result<()> {
    for letter in letters {
        sqlx::query(super::PUT_DEAD_LETTER)
            .bind(&letter.id)
            .bind(&letter.tenant_id)
            .bind(&letter.timer_id)
            .bind(i64::from(letter.action_index))
            .bind(
                letter
                    .created_at
                    .as_ref()
                    .map_or(0, crate::clock::from_timestamp),
            )
            .bind(
                letter
                    .resolved_at
                    .as_ref()
                    .map(crate::clock::from_timestamp),
            )
            .bind(letter.encode_to_vec())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

impl SqliteStore {
    /// A single-node store has no lease to check.
    async fn check_fence(&self, _tx: &mut Transaction<'_, Sqlite>) -> Result<()> {
        Ok(())
    }
}

/// Rows per multi-row statement, under SQLite's 32766 bound parameters.
const CHUNK: usize = 1_000;

/// `(?, ?), (?, ?)` style placeholders are built by `QueryBuilder::push_values`; reads use `IN`.
async fn load(tx: &mut Transaction<'_, Sqlite>, mutations: &[Mutation]) -> Result<Loaded> {
    let (ids, keys) = to_load(mutations);
    let mut loaded = Loaded::default();
    for chunk in ids.chunks(CHUNK) {
        let mut sql = QueryBuilder::<Sqlite>::new(
            "SELECT id, tenant_id, status, name, fire_at_us, body FROM timers WHERE id IN (",
        );
        let mut list = sql.separated(", ");
        for id in chunk {
            list.push_bind(id);
        }
        sql.push(")");
        for row in sql.build().fetch_all(&mut **tx).await? {
            let (timer, damage) = read_timer(&row);
            if let Some(damage) = damage {
                loaded.damaged.insert(timer.id.clone(), damage);
            }
            loaded.timers.insert(timer.id.clone(), timer);
        }
    }
    // Per tenant, `tenant_id = ? AND idempotency_key IN (...)`: SQLite searches the key index
    // for that shape, where a row-value `(tenant_id, idempotency_key) IN (VALUES ...)` scans
    // the whole table.
    let mut by_tenant: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (tenant, key) in &keys {
        by_tenant.entry(tenant).or_default().push(key);
    }
    for (tenant, keys) in by_tenant {
        for chunk in keys.chunks(CHUNK) {
            let mut sql = QueryBuilder::<Sqlite>::new(
                "SELECT request_hash, id, tenant_id, status, name, fire_at_us, body FROM timers WHERE tenant_id = ",
            );
            sql.push_bind(tenant).push(" AND idempotency_key IN (");
            let mut list = sql.separated(", ");
            for key in chunk {
                list.push_bind(*key);
            }
            sql.push(")");
            for row in sql.build().fetch_all(&mut **tx).await? {
                let (timer, _) = read_timer(&row);
                loaded.idempotency.insert(
                    (timer.tenant_id.clone(), timer.idempotency_key.clone()),
                    (timer, row.get("request_hash")),
                );
            }
        }
    }
    let tenants = tenants_touched(mutations, &loaded.timers);
    let mut sequences = HashMap::new();
    for chunk in tenants.chunks(CHUNK) {
        let mut sql = QueryBuilder::<Sqlite>::new(
            "SELECT tenant_id, last_sequence FROM tenant_sequences WHERE tenant_id IN (",
        );
        let mut list = sql.separated(", ");
        for tenant in chunk {
            list.push_bind(tenant);
        }
        sql.push(")");
        for row in sql.build().fetch_all(&mut **tx).await? {
            sequences.insert(
                row.get::<String, _>("tenant_id"),
                row.get::<i64, _>("last_sequence") as u64,
            );
        }
    }
    if tenants.iter().any(|t| !sequences.contains_key(t)) {
        loaded.floor = floor(&mut **tx).await?;
    }
    if super::creates(mutations) {
        loaded.paused_tenants = sqlx::query_scalar("SELECT tenant_id FROM tenant_pauses")
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .collect();
    }
    loaded.sequences = sequences;
    Ok(loaded)
}

async fn write(tx: &mut Transaction<'_, Sqlite>, plan: &Plan) -> Result<()> {
    for (id, key, fingerprint) in &plan.rekeyed {
        sqlx::query("UPDATE timers SET idempotency_key = ?, request_hash = ? WHERE id = ?")
            .bind(key)
            .bind(fingerprint)
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    for chunk in plan.inserts.chunks(CHUNK) {
        let mut sql = QueryBuilder::<Sqlite>::new(
            "INSERT INTO timers (id, tenant_id, status, name, fire_at_us, finished_at_us, labels, idempotency_key, request_hash, has_actions, body) ",
        );
        sql.push_values(chunk, |mut row, (timer, fingerprint)| {
            row.push_bind(&timer.id)
                .push_bind(&timer.tenant_id)
                .push_bind(timer.status)
                .push_bind(&timer.name)
                .push_bind(fire_at(timer))
                .push_bind(finished_at(timer))
                .push_bind(serde_json::to_string(&timer.labels).expect("labels serialise"))
                .push_bind((!timer.idempotency_key.is_empty()).then_some(&timer.idempotency_key))
                .push_bind(fingerprint)
                .push_bind(has_actions(timer))
                .push_bind(timer.encode_to_vec());
        });
        sql.build().execute(&mut **tx).await?;
    }
    for chunk in plan.updates.chunks(CHUNK) {
        let mut sql = QueryBuilder::<Sqlite>::new("WITH v (id, status, finished_at_us, body) AS (");
        sql.push_values(chunk, |mut row, timer| {
            row.push_bind(&timer.id)
                .push_bind(timer.status)
                .push_bind(finished_at(timer))
                .push_bind(timer.encode_to_vec());
        });
        sql.push(
            ") UPDATE timers SET status = v.status, finished_at_us = v.finished_at_us, body = v.body FROM v WHERE timers.id = v.id",
        );
        sql.build().execute(&mut **tx).await?;
    }
    for timer in plan
        .updates
        .iter()
        .filter(|t| plan.reshaped.contains(&t.id))
    {
        sqlx::query(
            "UPDATE timers SET fire_at_us = ?, name = ?, labels = ?, has_actions = ? WHERE id = ?",
        )
        .bind(fire_at(timer))
        .bind(&timer.name)
        .bind(serde_json::to_string(&timer.labels).expect("labels serialise"))
        .bind(has_actions(timer))
        .bind(&timer.id)
        .execute(&mut **tx)
        .await?;
    }
    for chunk in plan.events.chunks(CHUNK) {
        let mut sql = QueryBuilder::<Sqlite>::new(
            "INSERT INTO events (tenant_id, sequence, timer_id, occurred_at_us, body) ",
        );
        sql.push_values(chunk, |mut row, event| {
            row.push_bind(&event.tenant_id)
                .push_bind(event.sequence as i64)
                .push_bind(&event.timer_id)
                .push_bind(
                    event
                        .occurred_at
                        .as_ref()
                        .map(crate::clock::from_timestamp)
                        .unwrap_or_default(),
                )
                .push_bind(event.encode_to_vec());
        });
        sql.build().execute(&mut **tx).await?;
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
    let sequences: Vec<(&String, &u64)> = plan.sequences.iter().collect();
    for chunk in sequences.chunks(CHUNK) {
        let mut sql =
            QueryBuilder::<Sqlite>::new("INSERT INTO tenant_sequences (tenant_id, last_sequence) ");
        sql.push_values(chunk, |mut row, (tenant, last)| {
            row.push_bind(*tenant).push_bind(**last as i64);
        });
        sql.push(" ON CONFLICT (tenant_id) DO UPDATE SET last_sequence = excluded.last_sequence");
        sql.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// The sequence floor (0 until `skip_sequences`).
async fn floor<'e>(executor: impl sqlx::SqliteExecutor<'e>) -> Result<u64> {
    let floor: Option<i64> = sqlx::query_scalar("SELECT floor FROM sequence_floor WHERE id = 1")
        .fetch_optional(executor)
        .await?;
    Ok(floor.unwrap_or(0) as u64)
}

/// JSON path for a label key. Keys are validated to `[A-Za-z0-9._/-]`, so quoting is safe.
fn label_path(key: &str) -> String {
    format!("$.\"{key}\"")
}

#[async_trait]
impl Store for SqliteStore {
    async fn apply(&self, mutations: Vec<Mutation>) -> Result<Vec<Outcome>> {
        let mut tx = self.writer.begin().await?;
        let loaded = load(&mut tx, &mutations).await?;
        let plan = plan(mutations, loaded);
        write(&mut tx, &plan).await?;
        tx.commit().await?;
        Ok(plan.outcomes)
    }

    async fn get(&self, tenant_id: &str, id: &str) -> Result<Option<Timer>> {
        let row = sqlx::query(
            "SELECT id, tenant_id, status, name, fire_at_us, body FROM timers WHERE id = ? AND tenant_id = ?",
        )
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.as_ref().map(shown))
    }

    async fn get_many(&self, keys: &[(&str, &str)]) -> Result<Vec<Timer>> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(CHUNK) {
            let mut sql = QueryBuilder::<Sqlite>::new(
                "SELECT id, tenant_id, status, name, fire_at_us, body FROM timers WHERE id IN (",
            );
            let mut ids = sql.separated(", ");
            for (_, id) in chunk {
                ids.push_bind(*id);
            }
            sql.push(")");
            let wanted: std::collections::HashSet<&(&str, &str)> = chunk.iter().collect();
            let rows = sql.build().fetch_all(&self.reader).await?;
            found.extend(
                rows.iter().map(shown).filter(|timer| {
                    wanted.contains(&(timer.tenant_id.as_str(), timer.id.as_str()))
                }),
            );
        }
        Ok(found)
    }

    async fn id_for_key(&self, tenant_id: &str, key: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM timers WHERE tenant_id = ? AND idempotency_key = ?")
                .bind(tenant_id)
                .bind(key)
                .fetch_optional(&self.reader)
                .await?,
        )
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Timer>> {
        let mut sql = sqlx::QueryBuilder::<Sqlite>::new(
            "SELECT id, tenant_id, status, name, fire_at_us, body FROM timers WHERE tenant_id = ",
        );
        sql.push_bind(&query.tenant_id);
        if let Some(after) = &query.after_id {
            sql.push(" AND id > ").push_bind(after);
        }
        if !query.statuses.is_empty() {
            sql.push(" AND status IN (");
            let mut list = sql.separated(", ");
            for status in &query.statuses {
                list.push_bind(*status as i32);
            }
            sql.push(")");
        }
        if !query.name_prefix.is_empty() {
            // substr comparison instead of LIKE: names may contain % and _.
            sql.push(" AND substr(name, 1, ")
                .push_bind(query.name_prefix.chars().count() as i64);
            sql.push(") = ").push_bind(&query.name_prefix);
        }
        for requirement in &query.selector.requirements {
            match requirement {
                Requirement::Equals(k, v) => {
                    sql.push(" AND json_extract(labels, ")
                        .push_bind(label_path(k))
                        .push(") = ")
                        .push_bind(v);
                }
                Requirement::NotEquals(k, v) => {
                    sql.push(" AND coalesce(json_extract(labels, ")
                        .push_bind(label_path(k))
                        .push(") != ")
                        .push_bind(v);
                    sql.push(", 1)");
                }
                Requirement::Exists(k) => {
                    sql.push(" AND json_type(labels, ")
                        .push_bind(label_path(k))
                        .push(") IS NOT NULL");
                }
                Requirement::NotExists(k) => {
                    sql.push(" AND json_type(labels, ")
                        .push_bind(label_path(k))
                        .push(") IS NULL");
                }
            }
        }
        sql.push(" ORDER BY id LIMIT ")
            .push_bind(query.limit as i64);
        let rows = sql.build().fetch_all(&self.reader).await?;
        Ok(rows.iter().map(shown).collect())
    }

    async fn events_after(
        &self,
        tenant_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<TimerEvent>> {
        let rows: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT body FROM events WHERE tenant_id = ? AND sequence > ? ORDER BY sequence LIMIT ?")
                .bind(tenant_id)
                .bind(after as i64)
                .bind(limit as i64)
                .fetch_all(&self.reader)
                .await?;
        Ok(rows.iter().filter_map(|b| salvage::read_event(b)).collect())
    }

    async fn event_bounds(&self, tenant_id: &str) -> Result<EventBounds> {
        let oldest: Option<i64> =
            sqlx::query_scalar("SELECT min(sequence) FROM events WHERE tenant_id = ?")
                .bind(tenant_id)
                .fetch_one(&self.reader)
                .await?;
        let last: Option<i64> =
            sqlx::query_scalar("SELECT last_sequence FROM tenant_sequences WHERE tenant_id = ?")
                .bind(tenant_id)
                .fetch_optional(&self.reader)
                .await?;
        let last = match last {
            Some(last) => last as u64,
            None => floor(&self.reader).await?,
        };
        Ok(EventBounds {
            oldest: oldest.map(|s| s as u64),
            last,
        })
    }

    async fn skip_sequences(&self, skip: u64) -> Result<u64> {
        let mut tx = self.writer.begin().await?;
        let highest: Option<i64> =
            sqlx::query_scalar("SELECT max(last_sequence) FROM tenant_sequences")
                .fetch_one(&mut *tx)
                .await?;
        let floor = (highest.unwrap_or(0) as u64)
            .max(floor(&mut *tx).await?)
            .saturating_add(skip)
            .min(i64::MAX as u64);
        sqlx::query("UPDATE tenant_sequences SET last_sequence = ?")
            .bind(floor as i64)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sequence_floor (id, floor) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET floor = excluded.floor",
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
        .fetch(&self.reader)
        .map_ok(|row| PendingTimer {
            id: row.get("id"),
            tenant_id: row.get("tenant_id"),
            status: TimerStatus::try_from(row.get::<i32, _>("status")).unwrap_or_default(),
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
        let mut tx = self.writer.begin().await?;
        let timers = sqlx::query(
            "DELETE FROM timers WHERE finished_at_us IS NOT NULL AND finished_at_us < ?",
        )
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
            "INSERT INTO rate_buckets (bucket, tokens, at_us, taken) VALUES ($1, $3 - 1, $4, 1)
             ON CONFLICT (bucket) DO UPDATE SET
                 tokens = min($3, rate_buckets.tokens + max($4 - rate_buckets.at_us, 0) * $2 / 1000000.0)
                     - CASE WHEN min($3, rate_buckets.tokens + max($4 - rate_buckets.at_us, 0) * $2 / 1000000.0) >= 1
                       THEN 1 ELSE 0 END,
                 taken = min($3, rate_buckets.tokens + max($4 - rate_buckets.at_us, 0) * $2 / 1000000.0) >= 1,
                 at_us = max(rate_buckets.at_us, $4)
             RETURNING taken, tokens",
        )
        .bind(bucket)
        .bind(per_second)
        .bind(burst)
        .bind(now)
        .fetch_one(&self.writer)
        .await?;
        Ok(super::RateToken { taken, tokens })
    }
}

sql_side_tables!(SqliteStore, reader, writer);
