-- Actions that exhausted their retries; one row per (timer, action), id `{timer_id}.{index}`.
CREATE TABLE dead_letters (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT   NOT NULL,
    timer_id       TEXT   NOT NULL,
    action_index   BIGINT NOT NULL,
    created_at_us  BIGINT NOT NULL,
    resolved_at_us BIGINT,
    body           BLOB   NOT NULL -- minoots.v1.DeadLetter
);
CREATE INDEX dead_letters_by_tenant ON dead_letters (tenant_id, created_at_us, id);
CREATE INDEX dead_letters_by_timer ON dead_letters (timer_id);

-- The outbox cursor: events of a tenant up to this sequence are published to NATS.
CREATE TABLE publish_cursors (
    tenant_id     TEXT PRIMARY KEY,
    last_sequence BIGINT NOT NULL
);
