//! SQLite store: the embedded default, one file in the data directory.
//!
//! One connection writes (the kernel's group-commit writer is the only caller of `apply`), a small
//! pool reads; WAL mode lets reads run during a write. `synchronous=FULL` (the default) fsyncs
//! every commit, so an acknowledged write survives power loss; `NORMAL` survives a process crash
//! but may lose the last commits on power loss, for more throughput.

use std::{collections::HashMap, path::Path, str::FromStr, time::Duration};

use async_trait::async_trait;
use minoots_proto::v1::{Timer, TimerEvent, TimerEventType, TimerStatus};
use prost::Message;
use sqlx::{
    Row, Sqlite, SqlitePool, Transaction,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::{
    EventBounds, ListQuery, Mutation, Outcome, PendingTimer, Store, created_at, event, finished_at,
    fire_at, transition,
};
use crate::{
    clock::Micros,
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

fn decode_timer(body: &[u8]) -> Result<Timer> {
    Timer::decode(body).map_err(|e| KernelError::Internal(format!("corrupt timer row: {e}")))
}

fn decode_event(body: &[u8]) -> Result<TimerEvent> {
    TimerEvent::decode(body).map_err(|e| KernelError::Internal(format!("corrupt event row: {e}")))
}

struct Sequences(HashMap<String, u64>);

impl Sequences {
    async fn next(&mut self, tx: &mut Transaction<'_, Sqlite>, tenant: &str) -> Result<u64> {
        if !self.0.contains_key(tenant) {
            let last: Option<i64> = sqlx::query_scalar(
                "SELECT last_sequence FROM tenant_sequences WHERE tenant_id = ?",
            )
            .bind(tenant)
            .fetch_optional(&mut **tx)
            .await?;
            self.0.insert(tenant.to_owned(), last.unwrap_or(0) as u64);
        }
        let sequence = self.0.get_mut(tenant).unwrap();
        *sequence += 1;
        Ok(*sequence)
    }

    async fn save(self, tx: &mut Transaction<'_, Sqlite>) -> Result<()> {
        for (tenant, last) in self.0 {
            sqlx::query(
                "INSERT INTO tenant_sequences (tenant_id, last_sequence) VALUES (?, ?)
                 ON CONFLICT (tenant_id) DO UPDATE SET last_sequence = excluded.last_sequence",
            )
            .bind(tenant)
            .bind(last as i64)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}

async fn insert_event(
    tx: &mut Transaction<'_, Sqlite>,
    event: &TimerEvent,
    at: Micros,
) -> Result<()> {
    sqlx::query("INSERT INTO events (tenant_id, sequence, timer_id, occurred_at_us, body) VALUES (?, ?, ?, ?, ?)")
        .bind(&event.tenant_id)
        .bind(event.sequence as i64)
        .bind(&event.timer_id)
        .bind(at)
        .bind(event.encode_to_vec())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// JSON path for a label key. Keys are validated to `[A-Za-z0-9._/-]`, so quoting is safe.
fn label_path(key: &str) -> String {
    format!("$.\"{key}\"")
}

#[async_trait]
impl Store for SqliteStore {
    async fn apply(&self, mutations: Vec<Mutation>) -> Result<Vec<Outcome>> {
        let mut tx = self.writer.begin().await?;
        let mut sequences = Sequences(HashMap::new());
        let mut outcomes = Vec::with_capacity(mutations.len());
        for mutation in mutations {
            let outcome = match mutation {
                Mutation::Create(new) => {
                    let timer = new.timer;
                    let key = (!timer.idempotency_key.is_empty())
                        .then_some(timer.idempotency_key.as_str());
                    let existing = match key {
                        Some(key) => sqlx::query("SELECT id, request_hash, body FROM timers WHERE tenant_id = ? AND idempotency_key = ?")
                            .bind(&timer.tenant_id)
                            .bind(key)
                            .fetch_optional(&mut *tx)
                            .await?,
                        None => None,
                    };
                    if let Some(row) = existing {
                        let fingerprint: String = row.get("request_hash");
                        if fingerprint == new.fingerprint {
                            Outcome::Existing(decode_timer(row.get("body"))?)
                        } else {
                            Outcome::Conflict {
                                existing_id: row.get("id"),
                            }
                        }
                    } else {
                        let sequence = sequences.next(&mut tx, &timer.tenant_id).await?;
                        let at = created_at(&timer);
                        let event = event(&timer, TimerEventType::Scheduled, sequence, at);
                        sqlx::query(
                            "INSERT INTO timers (id, tenant_id, status, name, fire_at_us, labels, idempotency_key, request_hash, body)
                             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        )
                        .bind(&timer.id)
                        .bind(&timer.tenant_id)
                        .bind(timer.status)
                        .bind(&timer.name)
                        .bind(fire_at(&timer))
                        .bind(serde_json::to_string(&timer.labels).expect("labels serialise"))
                        .bind(key)
                        .bind(&new.fingerprint)
                        .bind(timer.encode_to_vec())
                        .execute(&mut *tx)
                        .await?;
                        insert_event(&mut tx, &event, at).await?;
                        Outcome::Created(timer, event)
                    }
                }
                Mutation::Transition(t) => {
                    let body: Option<Vec<u8>> =
                        sqlx::query_scalar("SELECT body FROM timers WHERE id = ?")
                            .bind(&t.timer_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                    match body {
                        None => Outcome::NotFound,
                        Some(body) => {
                            let mut timer = decode_timer(&body)?;
                            match transition(&mut timer, &t) {
                                Err(outcome) => outcome,
                                Ok(event_type) => {
                                    let sequence =
                                        sequences.next(&mut tx, &timer.tenant_id).await?;
                                    let event = event(&timer, event_type, sequence, t.at);
                                    sqlx::query("UPDATE timers SET status = ?, finished_at_us = ?, body = ? WHERE id = ?")
                                        .bind(timer.status)
                                        .bind(finished_at(&timer))
                                        .bind(timer.encode_to_vec())
                                        .bind(&timer.id)
                                        .execute(&mut *tx)
                                        .await?;
                                    insert_event(&mut tx, &event, t.at).await?;
                                    Outcome::Transitioned(timer, event)
                                }
                            }
                        }
                    }
                }
            };
            outcomes.push(outcome);
        }
        sequences.save(&mut tx).await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn get(&self, tenant_id: &str, id: &str) -> Result<Option<Timer>> {
        let body: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT body FROM timers WHERE id = ? AND tenant_id = ?")
                .bind(id)
                .bind(tenant_id)
                .fetch_optional(&self.reader)
                .await?;
        body.map(|b| decode_timer(&b)).transpose()
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Timer>> {
        let mut sql =
            sqlx::QueryBuilder::<Sqlite>::new("SELECT body FROM timers WHERE tenant_id = ");
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
        let rows: Vec<Vec<u8>> = sql.build_query_scalar().fetch_all(&self.reader).await?;
        rows.iter().map(|b| decode_timer(b)).collect()
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
        rows.iter().map(|b| decode_event(b)).collect()
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
        Ok(EventBounds {
            oldest: oldest.map(|s| s as u64),
            last: last.unwrap_or(0) as u64,
        })
    }

    async fn pending(&self) -> Result<Vec<PendingTimer>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, status, fire_at_us FROM timers WHERE status IN (1, 2, 3)",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .iter()
            .map(|row| PendingTimer {
                id: row.get("id"),
                tenant_id: row.get("tenant_id"),
                status: TimerStatus::try_from(row.get::<i32, _>("status")).unwrap_or_default(),
                fire_at: row.get("fire_at_us"),
            })
            .collect())
    }

    async fn purge(&self, timers_before: Micros, events_before: Micros) -> Result<(u64, u64)> {
        let mut tx = self.writer.begin().await?;
        let timers = sqlx::query(
            "DELETE FROM timers WHERE finished_at_us IS NOT NULL AND finished_at_us < ?",
        )
        .bind(timers_before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let events = sqlx::query("DELETE FROM events WHERE occurred_at_us < ?")
            .bind(events_before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok((timers, events))
    }
}
