-- API keys: only the SHA-256 digest of the secret is stored.
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    roles         TEXT    NOT NULL, -- comma-separated role names
    tier          TEXT    NOT NULL,
    digest        TEXT    NOT NULL UNIQUE, -- hex SHA-256 of the secret
    created_at_us INTEGER NOT NULL,
    revoked_at_us INTEGER
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, id);

-- Per-tenant quota overrides; NULL falls back to the configured default.
CREATE TABLE tenant_limits (
    tenant_id          TEXT PRIMARY KEY,
    active_timer_limit INTEGER,
    daily_timer_limit  INTEGER
) WITHOUT ROWID;
