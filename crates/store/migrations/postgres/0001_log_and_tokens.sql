-- Evidence log and API tokens (PostgreSQL). Keep table and column names identical to ../sqlite.
-- Times are Unix milliseconds UTC; hashes and binary data are BYTEA.

CREATE TABLE log_params (
    id          BIGINT  PRIMARY KEY CHECK (id = 1),
    origin      TEXT    NOT NULL,
    suite       TEXT    NOT NULL,
    hash_alg    TEXT    NOT NULL,
    created_ms  BIGINT  NOT NULL
);

-- One row per leaf. `envelope` is the canonical entry envelope (the leaf data); it never holds content.
CREATE TABLE log_entries (
    idx         BIGINT  PRIMARY KEY,
    leaf_hash   BYTEA   NOT NULL,
    envelope    BYTEA   NOT NULL
);

-- Committed content and its salt, kept apart from the log (encrypted storage comes with the vault).
CREATE TABLE log_contents (
    idx         BIGINT  PRIMARY KEY,
    salt        BYTEA   NOT NULL,
    content     BYTEA   NOT NULL
);

-- Expanded tiles: every complete node of each height-8 tile (see tianping_log::tile::ExpandedTile).
CREATE TABLE log_tiles (
    level       BIGINT  NOT NULL,
    idx         BIGINT  NOT NULL,
    width       BIGINT  NOT NULL,
    nodes       BYTEA   NOT NULL,
    PRIMARY KEY (level, idx)
);

-- Every signed checkpoint, one per committed batch.
CREATE TABLE log_checkpoints (
    size        BIGINT  PRIMARY KEY,
    root        BYTEA   NOT NULL,
    note        TEXT    NOT NULL,
    created_ms  BIGINT  NOT NULL
);

CREATE TABLE api_tokens (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    token_hash  BYTEA   NOT NULL UNIQUE,
    created_ms  BIGINT  NOT NULL,
    revoked_ms  BIGINT
);
