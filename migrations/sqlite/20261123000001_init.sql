-- Timers: indexed columns for the queries the kernel makes, the full timer as protobuf in body.
CREATE TABLE timers (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT    NOT NULL,
    status          INTEGER NOT NULL,
    name            TEXT    NOT NULL,
    fire_at_us      INTEGER NOT NULL,
    finished_at_us  INTEGER,
    labels          TEXT    NOT NULL, -- JSON object, for label selectors
    idempotency_key TEXT,
    request_hash    TEXT    NOT NULL,
    has_actions     INTEGER NOT NULL, -- 0/1: settles in the fire transaction when 0
    body            BLOB    NOT NULL  -- minoots.v1.Timer
);
CREATE INDEX timers_by_tenant ON timers (tenant_id, id);
CREATE INDEX timers_pending ON timers (status) WHERE status IN (1, 2, 3);
CREATE UNIQUE INDEX timers_idempotency ON timers (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX timers_finished ON timers (finished_at_us) WHERE finished_at_us IS NOT NULL;

-- The event log: one row per transition, per-tenant sequence.
CREATE TABLE events (
    tenant_id      TEXT    NOT NULL,
    sequence       INTEGER NOT NULL,
    timer_id       TEXT    NOT NULL,
    occurred_at_us INTEGER NOT NULL,
    body           BLOB    NOT NULL, -- minoots.v1.TimerEvent
    PRIMARY KEY (tenant_id, sequence)
) WITHOUT ROWID;
CREATE INDEX events_by_time ON events (occurred_at_us);

-- Survives event purging, so a sequence is never handed out twice.
CREATE TABLE tenant_sequences (
    tenant_id     TEXT PRIMARY KEY,
    last_sequence INTEGER NOT NULL
) WITHOUT ROWID;
