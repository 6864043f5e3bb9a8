-- Records by subject, as an index merged in runs instead of one B-tree entry per record.
--
-- An index of vault_records on subject dirtied one page per distinct subject in every commit (subjects
-- are random keys), which made it the largest write cost per record. Now the log's sequencer, inside the
-- batch's own transaction, copies the subjects of every record committed since the last merge into
-- vault_subject_index in one sorted insert once that tail reaches a few thousand log entries, and moves
-- vault_subject_merged.upto past them. Invariant: every record with log_idx < upto is in
-- vault_subject_index; the records at or after upto (the tail, bounded by the merge interval) are
-- found by a scan of vault_records by log index.
CREATE TABLE vault_subject_index (
    subject TEXT   NOT NULL,
    log_idx BIGINT NOT NULL,
    PRIMARY KEY (subject, log_idx)
) WITHOUT ROWID;

CREATE TABLE vault_subject_merged (
    id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    upto BIGINT  NOT NULL
);

INSERT INTO vault_subject_index (subject, log_idx) SELECT subject, log_idx FROM vault_records;
INSERT INTO vault_subject_merged (id, upto) SELECT 1, COALESCE(MAX(log_idx) + 1, 0) FROM vault_records;
DROP INDEX vault_records_subject;
