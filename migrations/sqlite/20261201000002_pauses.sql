-- Tenants whose deliveries are paused (PauseTenant): their pending timers are PAUSED and the
-- timers they schedule are created PAUSED until ResumeTenant.
CREATE TABLE tenant_pauses (
    tenant_id    TEXT PRIMARY KEY,
    paused_at_us BIGINT NOT NULL,
    paused_by    TEXT NOT NULL,
    reason       TEXT NOT NULL
);
-- Paused timers of a tenant, for resuming them.
CREATE INDEX timers_paused ON timers (tenant_id, id) WHERE status = 7;
