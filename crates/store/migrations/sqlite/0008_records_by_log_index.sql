-- Fewer B-trees written per record (SQLite). Every commit of the log's sequencer rewrites the
-- right-hand leaf of every B-tree it touches in the write-ahead log, so each index of vault_records
-- costs a page or two per batch, whatever the batch's size (docs/benchmarks.md, "Fewer pages per
-- batch"):
--
-- * The table is now keyed by its log index (log_idx is the rowid): the separate unique index on
--   log_idx goes, and lookups by log index read the table itself. Records were already stored in
--   log order, so nothing else changes. The record id keeps its unique index.
-- * Only records of a consultation are indexed by consultation; a lookup by consultation never
--   wants the others.
--
-- Same columns, same order, same constraints otherwise; the table is copied once.
CREATE TABLE vault_records_by_idx (
    id               TEXT    NOT NULL UNIQUE,
    log_idx          INTEGER PRIMARY KEY,
    subject          TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    media_type       TEXT    NOT NULL,
    consultation     TEXT,
    case_id          TEXT,
    retention_class  TEXT    NOT NULL,
    event_ms         BIGINT  NOT NULL,
    retain_until_ms  BIGINT,
    state            TEXT    NOT NULL,
    subject_key_id   TEXT,
    wrapped_key      BLOB,
    ciphertext       BLOB,
    blob_chunks      BIGINT,
    size             BIGINT  NOT NULL,
    created_ms       BIGINT  NOT NULL,
    shredded_ms      BIGINT
);
INSERT INTO vault_records_by_idx (id, log_idx, subject, kind, media_type, consultation, case_id, retention_class,
        event_ms, retain_until_ms, state, subject_key_id, wrapped_key, ciphertext, blob_chunks, size, created_ms,
        shredded_ms)
    SELECT id, log_idx, subject, kind, media_type, consultation, case_id, retention_class, event_ms,
        retain_until_ms, state, subject_key_id, wrapped_key, ciphertext, blob_chunks, size, created_ms, shredded_ms
    FROM vault_records ORDER BY log_idx;
DROP TABLE vault_records;
ALTER TABLE vault_records_by_idx RENAME TO vault_records;
CREATE INDEX vault_records_consultation ON vault_records (consultation) WHERE consultation IS NOT NULL;
CREATE INDEX vault_records_deadline ON vault_records (retain_until_ms) WHERE retain_until_ms IS NOT NULL;
