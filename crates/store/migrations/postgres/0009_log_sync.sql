-- One row that the log's syncer updates on PostgreSQL. The sequencer commits its batches with
-- synchronous_commit = off; the syncer's update, committed synchronously on a connection of its
-- own, returns only once the server's WAL is flushed past its commit record, and so past every
-- batch committed before it. Only then are those batches acknowledged (ARCHITECTURE.md, "Durable
-- append").
CREATE TABLE log_sync (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    n   BIGINT  NOT NULL
);
INSERT INTO log_sync (id, n) VALUES (1, 0);
