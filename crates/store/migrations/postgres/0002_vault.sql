-- The encrypted vault (postgres). Keep table and column names identical to the other backend.
-- Subjects appear only as the hex of their keyed pseudonym; content only encrypted.

-- Per-subject keys, wrapped by a key-encryption key of the keyring (kek_id). Shredding sets
-- wrapped = NULL: every record under the key becomes unreadable.
CREATE TABLE vault_subject_keys (
    id          TEXT    PRIMARY KEY,
    subject     TEXT    NOT NULL,
    kek_id      TEXT    NOT NULL,
    wrapped     BYTEA,
    created_ms  BIGINT  NOT NULL,
    shredded_ms BIGINT
);
CREATE UNIQUE INDEX vault_subject_keys_live ON vault_subject_keys (subject) WHERE shredded_ms IS NULL;

-- One row per record; log_idx is the evidence-log entry committing to it. ciphertext holds
-- seal(content key, salt || content) for inline records and seal(content key, salt) for blobs,
-- whose chunks live in object storage under records/<id>/. Shredding clears wrapped_key and
-- ciphertext and deletes the chunks.
CREATE TABLE vault_records (
    id               TEXT    PRIMARY KEY,
    log_idx          BIGINT  NOT NULL UNIQUE,
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
    wrapped_key      BYTEA,
    ciphertext       BYTEA,
    blob_chunks      BIGINT,
    size             BIGINT  NOT NULL,
    created_ms       BIGINT  NOT NULL,
    shredded_ms      BIGINT
);
CREATE INDEX vault_records_subject ON vault_records (subject);
CREATE INDEX vault_records_consultation ON vault_records (consultation);
CREATE INDEX vault_records_deadline ON vault_records (retain_until_ms);

-- Legal holds; placing and releasing are log entries (placed_idx, released_idx).
CREATE TABLE vault_holds (
    id           TEXT    PRIMARY KEY,
    scope        TEXT    NOT NULL,
    target       TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    placed_by    TEXT    NOT NULL,
    placed_ms    BIGINT  NOT NULL,
    placed_idx   BIGINT  NOT NULL,
    released_by  TEXT,
    released_ms  BIGINT,
    released_idx BIGINT
);
CREATE INDEX vault_holds_target ON vault_holds (scope, target);

-- Consultations whose end is known; retention of their chat and recordings counts from ended_ms.
CREATE TABLE vault_consultations (
    id          TEXT    PRIMARY KEY,
    ended_ms    BIGINT  NOT NULL,
    closed_idx  BIGINT  NOT NULL
);

-- Resumable uploads of large records. received is the number of plaintext bytes whose chunks
-- are durable; nothing here is a record until the upload completes.
CREATE TABLE vault_uploads (
    id              TEXT    PRIMARY KEY,
    subject         TEXT    NOT NULL,
    source          TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    media_type      TEXT    NOT NULL,
    consultation    TEXT,
    retention_class TEXT    NOT NULL,
    event_ms        BIGINT  NOT NULL,
    subject_key_id  TEXT    NOT NULL,
    wrapped_key     BYTEA   NOT NULL,
    sealed_salt     BYTEA   NOT NULL,
    received        BIGINT  NOT NULL,
    chunks          BIGINT  NOT NULL,
    created_ms      BIGINT  NOT NULL,
    updated_ms      BIGINT  NOT NULL
);
