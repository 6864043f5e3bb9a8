-- The row the log's syncer updates on PostgreSQL to flush the server's WAL past the batches it
-- acknowledges (see the PostgreSQL migration of the same version). On SQLite the syncer fsyncs the
-- write-ahead log instead and this table stays unused; it is here so that both schemas stay the
-- same.
CREATE TABLE log_sync (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    n   BIGINT  NOT NULL
);
INSERT INTO log_sync (id, n) VALUES (1, 0);
