-- Per-key request-rate token buckets shared by every gateway on this database.
CREATE TABLE rate_buckets (
    bucket TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    at_us  BIGINT NOT NULL,
    taken  BOOLEAN NOT NULL
);
