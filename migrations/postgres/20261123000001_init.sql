-- Timers: indexed columns for the kernel's queries, labels and metadata as JSONB for selectors and
-- ad-hoc SQL, the full timer as protobuf in body.
CREATE TABLE timers (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT     NOT NULL,
    status          SMALLINT NOT NULL,
    name            TEXT     NOT NULL,
    fire_at_us      BIGINT   NOT NULL,
    finished_at_us  BIGINT,
    labels          JSONB    NOT NULL,
    metadata        JSONB,
    idempotency_key TEXT,
    request_hash    TEXT     NOT NULL,
    has_actions     BOOLEAN  NOT NULL, -- false: settles in the fire transaction
    body            BYTEA    NOT NULL -- minoots.v1.Timer
);
CREATE INDEX timers_by_tenant ON timers (tenant_id, id);
-- Label selectors (`labels @> '{"k":"v"}'`, `labels ? 'k'`).
CREATE INDEX timers_labels ON timers USING GIN (labels);
CREATE INDEX timers_pending ON timers (status) WHERE status IN (1, 2, 3);
CREATE UNIQUE INDEX timers_idempotency ON timers (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX timers_finished ON timers (finished_at_us) WHERE finished_at_us IS NOT NULL;

-- The event log: one row per transition, per-tenant sequence.
CREATE TABLE events (
    tenant_id      TEXT   NOT NULL,
    sequence       BIGINT NOT NULL,
    timer_id       TEXT   NOT NULL,
    occurred_at_us BIGINT NOT NULL,
    body           BYTEA  NOT NULL, -- minoots.v1.TimerEvent
    PRIMARY KEY (tenant_id, sequence)
);
CREATE INDEX events_by_time ON events (occurred_at_us);

-- Survives event purging, so a sequence is never handed out twice.
CREATE TABLE tenant_sequences (
    tenant_id     TEXT PRIMARY KEY,
    last_sequence BIGINT NOT NULL
);

-- Leadership: one row per lease. `token` only grows; every write of the holder is checked against
-- it inside the writing transaction (fencing).
CREATE TABLE kernel_leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT        NOT NULL,
    token      BIGINT      NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- The fencing token of each lease, apart from its expiry: writers share-lock this row, renewals
-- never touch it, so heavy write traffic cannot starve the lease's renewal; only a takeover
-- updates it, and waits for the writes of the previous holder that are still in flight.
CREATE TABLE kernel_fences (
    name  TEXT PRIMARY KEY,
    token BIGINT NOT NULL
);
