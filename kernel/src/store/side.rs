//! The side tables (quota counts, tenant limits, API keys, dead letters, NATS publish cursors)
//! written once for both SQL stores: the statements are the same on SQLite and Postgres, only the
//! pools differ. `sql_side_tables!(Store, reader_pool_field, writer_pool_field)`; the store has a
//! `check_fence(&self, &mut Transaction)` that the writes of a leader's work (dead letters, the
//! publish cursor) run first, and a `write_dead_letters(&mut Transaction, &[DeadLetter])` in scope.

macro_rules! sql_side_tables {
    ($store:ty, $reader:ident, $writer:ident) => {
        #[async_trait::async_trait]
        impl $crate::store::SideTables for $store {
    async fn created_since(&self, since: $crate::clock::Micros) -> $crate::error::Result<std::collections::HashMap<String, u64>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT tenant_id, count(*) FROM timers WHERE id >= $1 GROUP BY tenant_id",
        )
        .bind($crate::quota::uuid_v7_floor(since))
        .fetch_all(&self.$reader)
        .await?;
        Ok(rows.into_iter().map(|(t, n)| (t, n as u64)).collect())
    }

    async fn tenant_limits(&self) -> $crate::error::Result<std::collections::HashMap<String, $crate::store::Limits>> {
        let rows = sqlx::query(
            "SELECT tenant_id, active_timer_limit, daily_timer_limit FROM tenant_limits",
        )
        .fetch_all(&self.$reader)
        .await?;
        Ok(rows.iter().map($crate::store::limits_from_row).collect())
    }

    async fn put_tenant_limits(&self, tenant_id: &str, limits: $crate::store::Limits) -> $crate::error::Result<()> {
        let limit = |v: Option<u64>| v.map(|v| v.min(i64::MAX as u64) as i64);
        sqlx::query(
            "INSERT INTO tenant_limits (tenant_id, active_timer_limit, daily_timer_limit) VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id) DO UPDATE SET active_timer_limit = excluded.active_timer_limit,
                 daily_timer_limit = excluded.daily_timer_limit",
        )
        .bind(tenant_id)
        .bind(limit(limits.active_timers))
        .bind(limit(limits.daily_timers))
        .execute(&self.$writer)
        .await?;
        Ok(())
    }

    async fn put_api_key(&self, key: &$crate::store::ApiKey) -> $crate::error::Result<()> {
        let inserted = sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, name, roles, tier, digest, created_at_us, revoked_at_us)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&key.id)
        .bind(&key.tenant_id)
        .bind(&key.name)
        .bind($crate::store::roles_column(&key.roles))
        .bind(&key.tier)
        .bind(&key.digest)
        .bind(key.created_at)
        .bind(key.revoked_at)
        .execute(&self.$writer)
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(error) if $crate::store::is_unique_violation(&error) => Err($crate::store::key_taken(key)),
            Err(error) => Err(error.into()),
        }
    }

    async fn find_api_key(&self, digest: &str) -> $crate::error::Result<Option<$crate::store::ApiKey>> {
        let row = sqlx::query("SELECT id, tenant_id, name, roles, tier, digest, created_at_us, revoked_at_us FROM api_keys WHERE digest = $1")
            .bind(digest)
            .fetch_optional(&self.$reader)
            .await?;
        Ok(row.as_ref().map($crate::store::api_key_from_row))
    }

    async fn list_api_keys(&self, tenant_id: Option<&str>) -> $crate::error::Result<Vec<$crate::store::ApiKey>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, name, roles, tier, digest, created_at_us, revoked_at_us FROM api_keys
             WHERE $1 IS NULL OR tenant_id = $1 ORDER BY id",
        )
        .bind(tenant_id)
        .fetch_all(&self.$reader)
        .await?;
        Ok(rows.iter().map($crate::store::api_key_from_row).collect())
    }

    async fn revoke_api_key(&self, id: &str, at: $crate::clock::Micros) -> $crate::error::Result<Option<$crate::store::ApiKey>> {
        let row = sqlx::query(
            "UPDATE api_keys SET revoked_at_us = COALESCE(revoked_at_us, $2) WHERE id = $1
             RETURNING id, tenant_id, name, roles, tier, digest, created_at_us, revoked_at_us",
        )
        .bind(id)
        .bind(at)
        .fetch_optional(&self.$writer)
        .await?;
        Ok(row.as_ref().map($crate::store::api_key_from_row))
    }

    async fn put_dead_letters(
        &self,
        letters: &[minoots_proto::v1::DeadLetter],
    ) -> $crate::error::Result<()> {
        let mut tx = self.$writer.begin().await?;
        self.check_fence(&mut tx).await?;
        write_dead_letters(&mut tx, letters).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_dead_letters(
        &self,
        tenant_id: &str,
        since: $crate::clock::Micros,
        include_resolved: bool,
        limit: usize,
    ) -> $crate::error::Result<Vec<minoots_proto::v1::DeadLetter>> {
        let bodies: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT body FROM dead_letters
             WHERE tenant_id = $1 AND created_at_us >= $2 AND ($3 OR resolved_at_us IS NULL)
             ORDER BY created_at_us, id LIMIT $4",
        )
        .bind(tenant_id)
        .bind(since)
        .bind(include_resolved)
        .bind(limit as i64)
        .fetch_all(&self.$reader)
        .await?;
        bodies.iter().map(|b| $crate::store::decode_dead_letter(b)).collect()
    }

    async fn get_dead_letter(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> $crate::error::Result<Option<minoots_proto::v1::DeadLetter>> {
        let body: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT body FROM dead_letters WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id)
                .bind(id)
                .fetch_optional(&self.$reader)
                .await?;
        body.map(|b| $crate::store::decode_dead_letter(&b)).transpose()
    }

    async fn timer_dead_letters(
        &self,
        timer_id: &str,
    ) -> $crate::error::Result<Vec<minoots_proto::v1::DeadLetter>> {
        let bodies: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT body FROM dead_letters WHERE timer_id = $1 ORDER BY action_index",
        )
        .bind(timer_id)
        .fetch_all(&self.$reader)
        .await?;
        bodies.iter().map(|b| $crate::store::decode_dead_letter(b)).collect()
    }

    async fn publish_cursors(
        &self,
    ) -> $crate::error::Result<std::collections::HashMap<String, u64>> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT tenant_id, last_sequence FROM publish_cursors")
                .fetch_all(&self.$reader)
                .await?;
        Ok(rows.into_iter().map(|(t, s)| (t, s as u64)).collect())
    }

    async fn set_publish_cursor(
        &self,
        tenant_id: &str,
        sequence: u64,
    ) -> $crate::error::Result<()> {
        let mut tx = self.$writer.begin().await?;
        self.check_fence(&mut tx).await?;
        sqlx::query(
            "INSERT INTO publish_cursors (tenant_id, last_sequence) VALUES ($1, $2)
             ON CONFLICT (tenant_id) DO UPDATE SET last_sequence = excluded.last_sequence",
        )
        .bind(tenant_id)
        .bind(sequence as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn event_heads(&self) -> $crate::error::Result<std::collections::HashMap<String, u64>> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT tenant_id, last_sequence FROM tenant_sequences")
                .fetch_all(&self.$reader)
                .await?;
        Ok(rows.into_iter().map(|(t, s)| (t, s as u64)).collect())
    }

    async fn tenant_pause(&self, tenant_id: &str) -> $crate::error::Result<Option<$crate::store::PausedTenant>> {
        let row: Option<(i64, String, String)> = sqlx::query_as(
            "SELECT paused_at_us, paused_by, reason FROM tenant_pauses WHERE tenant_id = $1",
        )
        .bind(tenant_id)
        .fetch_optional(&self.$writer)
        .await?;
        Ok(row.map(|(paused_at, paused_by, reason)| $crate::store::PausedTenant {
            paused_at,
            paused_by,
            reason,
        }))
    }

    async fn set_tenant_pause(
        &self,
        tenant_id: &str,
        pause: Option<&$crate::store::PausedTenant>,
    ) -> $crate::error::Result<()> {
        let mut tx = self.$writer.begin().await?;
        self.check_fence(&mut tx).await?;
        match pause {
            Some(pause) => sqlx::query(
                "INSERT INTO tenant_pauses (tenant_id, paused_at_us, paused_by, reason) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant_id) DO NOTHING",
            )
            .bind(tenant_id)
            .bind(pause.paused_at)
            .bind(&pause.paused_by)
            .bind(&pause.reason)
            .execute(&mut *tx)
            .await?,
            None => sqlx::query("DELETE FROM tenant_pauses WHERE tenant_id = $1")
                .bind(tenant_id)
                .execute(&mut *tx)
                .await?,
        };
        tx.commit().await?;
        Ok(())
    }

    async fn get_schedule(&self, tenant_id: &str, id: &str) -> $crate::error::Result<Option<minoots_proto::v1::Schedule>> {
        let body: Option<Vec<u8>> = sqlx::query_scalar("SELECT body FROM schedules WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&self.$reader)
            .await?;
        body.map(|b| $crate::store::decode_schedule(&b)).transpose()
    }

    async fn schedule_for_key(&self, tenant_id: &str, key: &str) -> $crate::error::Result<Option<(minoots_proto::v1::Schedule, String)>> {
        let row: Option<(Vec<u8>, String)> = sqlx::query_as(
            "SELECT body, request_hash FROM schedules WHERE tenant_id = $1 AND idempotency_key = $2",
        )
        .bind(tenant_id)
        .bind(key)
        .fetch_optional(&self.$writer)
        .await?;
        row.map(|(b, hash)| Ok(($crate::store::decode_schedule(&b)?, hash))).transpose()
    }

    async fn list_schedules(&self, tenant_id: &str, after_id: &str, limit: usize) -> $crate::error::Result<Vec<minoots_proto::v1::Schedule>> {
        let bodies: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT body FROM schedules WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(tenant_id)
        .bind(after_id)
        .bind(limit.min(i64::MAX as usize) as i64)
        .fetch_all(&self.$reader)
        .await?;
        bodies.iter().map(|b| $crate::store::decode_schedule(b)).collect()
    }

    async fn live_schedules(&self) -> $crate::error::Result<Vec<minoots_proto::v1::Schedule>> {
        let bodies: Vec<Vec<u8>> = sqlx::query_scalar("SELECT body FROM schedules WHERE state IN (1, 2)")
            .fetch_all(&self.$writer)
            .await?;
        bodies.iter().map(|b| $crate::store::decode_schedule(b)).collect()
    }
        }
    };
}
