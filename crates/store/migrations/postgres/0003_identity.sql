-- Identity, access and consent (postgres). Keep table and column names identical to the other backend.
-- Identity documents and phone numbers appear only as keyed hashes (for uniqueness and blacklist
-- matching) and sealed copies; passwords only as argon2id hashes; sessions only as hashes of their ids.

CREATE TABLE id_organisations (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'active',
    created_ms  BIGINT  NOT NULL
);

-- subject: the vault subject this account's data is filed under (its own id for people who signed up).
-- status: active | suspended | blacklisted. totp_secret is sealed under the vault's system key.
CREATE TABLE id_accounts (
    id              TEXT    PRIMARY KEY,
    login           TEXT    NOT NULL UNIQUE,
    display_name    TEXT    NOT NULL,
    role            TEXT    NOT NULL,
    password_hash   TEXT    NOT NULL,
    subject         TEXT    NOT NULL UNIQUE,
    id_hash         BYTEA   UNIQUE,
    id_sealed       BYTEA ,
    phone_hash      BYTEA   UNIQUE,
    status          TEXT    NOT NULL DEFAULT 'active',
    totp_secret     BYTEA ,
    totp_enabled    INTEGER NOT NULL DEFAULT 0,
    totp_last_step  BIGINT,
    failed_logins   INTEGER NOT NULL DEFAULT 0,
    locked_until_ms BIGINT,
    created_ms      BIGINT  NOT NULL
);

CREATE TABLE id_memberships (
    account_id  TEXT    NOT NULL REFERENCES id_accounts (id),
    org_id      TEXT    NOT NULL REFERENCES id_organisations (id),
    created_ms  BIGINT  NOT NULL,
    PRIMARY KEY (account_id, org_id)
);

CREATE TABLE id_guardianships (
    guardian_id TEXT    NOT NULL REFERENCES id_accounts (id),
    ward_id     TEXT    NOT NULL REFERENCES id_accounts (id),
    created_ms  BIGINT  NOT NULL,
    PRIMARY KEY (guardian_id, ward_id)
);

-- Server-side sessions, shared by every replica. id_hash = SHA-256 of the cookie value.
-- mfa_ok: the second factor was given (staff roles need it before anything else).
CREATE TABLE id_sessions (
    id_hash      BYTEA   PRIMARY KEY,
    account_id   TEXT    NOT NULL REFERENCES id_accounts (id),
    csrf         TEXT    NOT NULL,
    mfa_ok       INTEGER NOT NULL,
    created_ms   BIGINT  NOT NULL,
    expires_ms   BIGINT  NOT NULL
);
CREATE INDEX id_sessions_account ON id_sessions (account_id);

CREATE TABLE id_recovery_codes (
    account_id  TEXT    NOT NULL REFERENCES id_accounts (id),
    code_hash   BYTEA   NOT NULL,
    used_ms     BIGINT,
    PRIMARY KEY (account_id, code_hash)
);

-- Doctor verification (IDM-25): one row per doctor; decisions are log entries (decision_idx).
CREATE TABLE id_doctors (
    account_id      TEXT    PRIMARY KEY REFERENCES id_accounts (id),
    licence_no      TEXT    NOT NULL UNIQUE,
    institution_id  TEXT    NOT NULL REFERENCES id_organisations (id),
    specialty       TEXT    NOT NULL,
    practice_years  INTEGER NOT NULL,
    evidence        TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    note            TEXT,
    submitted_ms    BIGINT  NOT NULL,
    decided_by      TEXT,
    decided_ms      BIGINT,
    expires_ms      BIGINT,
    decision_idx    BIGINT
);

-- Suspensions and blacklistings. The identifiers (ID hash, licence, phone hash) are copied here so a
-- blacklisted person cannot come back under a new account.
CREATE TABLE id_sanctions (
    id           TEXT    PRIMARY KEY,
    target_kind  TEXT    NOT NULL,
    target       TEXT    NOT NULL,
    measure      TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    id_hash      BYTEA ,
    licence_no   TEXT,
    phone_hash   BYTEA ,
    decided_by   TEXT    NOT NULL,
    decided_ms   BIGINT  NOT NULL,
    decided_idx  BIGINT  NOT NULL,
    lifted_by    TEXT,
    lifted_ms    BIGINT,
    lifted_idx   BIGINT
);
CREATE INDEX id_sanctions_target ON id_sanctions (target);

-- Versioned notices (PIPL-14/17); digest = hash of the exact text committed to the log.
CREATE TABLE id_notices (
    id             TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    purpose        TEXT    NOT NULL,
    categories     TEXT    NOT NULL,
    text_zh        TEXT    NOT NULL,
    text_en        TEXT    NOT NULL,
    digest         BYTEA   NOT NULL,
    published_ms   BIGINT  NOT NULL,
    published_idx  BIGINT  NOT NULL,
    PRIMARY KEY (id, version)
);

-- Consents per purpose x category x recipient; withdrawal keeps the row (full history).
CREATE TABLE id_consents (
    id              TEXT    PRIMARY KEY,
    subject_id      TEXT    NOT NULL REFERENCES id_accounts (id),
    granted_by      TEXT    NOT NULL,
    by_guardian     INTEGER NOT NULL,
    notice_id       TEXT    NOT NULL,
    notice_version  INTEGER NOT NULL,
    purpose         TEXT    NOT NULL,
    category        TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    granted_ms      BIGINT  NOT NULL,
    granted_idx     BIGINT  NOT NULL,
    withdrawn_by    TEXT,
    withdrawn_ms    BIGINT,
    withdrawn_idx   BIGINT
);
CREATE INDEX id_consents_subject ON id_consents (subject_id);

-- Every access decision (permit or deny), each committed to the log as its own entry (log_idx).
CREATE TABLE id_access_events (
    id           TEXT    PRIMARY KEY,
    subject_id   TEXT    NOT NULL,
    actor_id     TEXT    NOT NULL,
    actor_role   TEXT    NOT NULL,
    actor_name   TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    resource     TEXT    NOT NULL,
    category     TEXT    NOT NULL,
    purpose      TEXT    NOT NULL,
    permit       INTEGER NOT NULL,
    reason       TEXT    NOT NULL,
    basis        TEXT,
    at_ms        BIGINT  NOT NULL,
    log_idx      BIGINT  NOT NULL
);
CREATE INDEX id_access_events_subject ON id_access_events (subject_id, at_ms);

-- Scoped tokens for integrations: scopes is a space-separated list ('*' for tokens of the first
-- release, which keep working); org_id the partner organisation the token acts for.
ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT '*';
ALTER TABLE api_tokens ADD COLUMN org_id TEXT;
