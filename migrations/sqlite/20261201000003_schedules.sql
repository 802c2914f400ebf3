-- Recurring schedules (ScheduleService). `body` is the Schedule message; the columns are what
-- lookups need: by id, by idempotency key, and the live ones a new leader loads.
CREATE TABLE schedules (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    idempotency_key TEXT,
    request_hash    TEXT NOT NULL,
    state           INTEGER NOT NULL,
    body            BLOB NOT NULL
);
CREATE UNIQUE INDEX schedules_key ON schedules (tenant_id, idempotency_key);
CREATE INDEX schedules_tenant ON schedules (tenant_id, id);
CREATE INDEX schedules_live ON schedules (state) WHERE state IN (1, 2);
