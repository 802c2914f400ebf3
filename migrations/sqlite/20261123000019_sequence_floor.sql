-- After a restore from backup (`minoots restored`): the sequence every tenant's next event
-- starts above, so none a client saw before the restore is handed out again. One row at most.
CREATE TABLE sequence_floor (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    floor BIGINT NOT NULL
);
