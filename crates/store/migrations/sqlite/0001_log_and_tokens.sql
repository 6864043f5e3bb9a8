-- Evidence log and API tokens (SQLite). Keep table and column names identical to ../postgres.
-- Times are Unix milliseconds UTC; hashes and binary data are BLOBs.

CREATE TABLE log_params (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    origin      TEXT    NOT NULL,
    suite       TEXT    NOT NULL,
    hash_alg    TEXT    NOT NULL,
    created_ms  BIGINT  NOT NULL
);

-- One row per leaf. `envelope` is the canonical entry envelope (the leaf data); it never holds content.
CREATE TABLE log_entries (
    idx         INTEGER PRIMARY KEY,
    leaf_hash   BLOB    NOT NULL,
    envelope    BLOB    NOT NULL
);

-- Committed content and its salt, kept apart from the log (encrypted storage comes with the vault).
CREATE TABLE log_contents (
    idx         INTEGER PRIMARY KEY,
    salt        BLOB    NOT NULL,
    content     BLOB    NOT NULL
);

-- Expanded tiles: every complete node of each height-8 tile (see tianping_log::tile::ExpandedTile).
CREATE TABLE log_tiles (
    level       INTEGER NOT NULL,
    idx         BIGINT  NOT NULL,
    width       INTEGER NOT NULL,
    nodes       BLOB    NOT NULL,
    PRIMARY KEY (level, idx)
);

-- Every signed checkpoint, one per committed batch.
CREATE TABLE log_checkpoints (
    size        INTEGER PRIMARY KEY,
    root        BLOB    NOT NULL,
    note        TEXT    NOT NULL,
    created_ms  BIGINT  NOT NULL
);

CREATE TABLE api_tokens (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    token_hash  BLOB    NOT NULL UNIQUE,
    created_ms  BIGINT  NOT NULL,
    revoked_ms  BIGINT
);
