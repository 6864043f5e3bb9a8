-- Online care: consultations partners report, their events, findings, red-flag alerts, the duty roster and
-- ratings. Every event's content is a vault record (encrypted); these rows hold only what the order of
-- events, idempotency, refunds, the duty queue and supervision metrics need. Written only as effects of the
-- log entries that record them.

-- patient_subject: the vault subject of the records, an account id or `patient:<keyed hash of the resident ID>`.
-- state_sealed: the consultation's state right after its start (department, jurisdiction, visit, the
-- patient's age…), sealed under the vault's secret key: the rules need it, nobody reads it in the clear.
CREATE TABLE care_consultations (
    id              TEXT    PRIMARY KEY,
    org_id          TEXT    NOT NULL,
    ref             TEXT    NOT NULL,
    patient_subject TEXT    NOT NULL,
    doctor_id       TEXT    NOT NULL,
    started_ms      BIGINT  NOT NULL,
    ended_ms        BIGINT,
    response_ms     BIGINT,
    terminated      INTEGER NOT NULL,
    referred        INTEGER NOT NULL,
    state_sealed    BLOB    NOT NULL,
    start_idx       BIGINT  NOT NULL,
    UNIQUE (org_id, ref)
);
CREATE INDEX care_consultations_doctor ON care_consultations (doctor_id, started_ms);
CREATE INDEX care_consultations_patient ON care_consultations (patient_subject);

-- One row per accepted event; (org_id, idem_key) is the idempotency key, body_hash the SHA-256 of the
-- event's canonical JSON. reference: the prescription of a prescription or review, the purpose of a payment.
-- (SQLite: WITHOUT ROWID, so the table is its primary key's B-tree: one B-tree less to write per event.)
CREATE TABLE care_events (
    org_id          TEXT    NOT NULL,
    idem_key        TEXT    NOT NULL,
    consultation_id TEXT    NOT NULL,
    seq             BIGINT  NOT NULL,
    event_type      TEXT    NOT NULL,
    party           TEXT,
    reference       TEXT,
    flag            INTEGER,
    red_flags       INTEGER NOT NULL,
    fee_fen         BIGINT,
    occurred_ms     BIGINT  NOT NULL,
    body_hash       BLOB    NOT NULL,
    log_idx         BIGINT  NOT NULL,
    record_id       TEXT    NOT NULL,
    PRIMARY KEY (org_id, idem_key)
) WITHOUT ROWID;
CREATE UNIQUE INDEX care_events_seq ON care_events (consultation_id, seq);

-- Rules broken, with the rule set that judged them. The texts are the rule's, never the event's content.
CREATE TABLE care_findings (
    id              TEXT    PRIMARY KEY,
    consultation_id TEXT    NOT NULL,
    org_id          TEXT    NOT NULL,
    doctor_id       TEXT    NOT NULL,
    seq             BIGINT  NOT NULL,
    rule_id         TEXT    NOT NULL,
    rule_set        TEXT    NOT NULL,
    severity        TEXT    NOT NULL,
    citation        TEXT    NOT NULL,
    zh              TEXT    NOT NULL,
    en              TEXT    NOT NULL,
    at_ms           BIGINT  NOT NULL,
    log_idx         BIGINT  NOT NULL
);
CREATE INDEX care_findings_consultation ON care_findings (consultation_id, seq);
CREATE INDEX care_findings_org ON care_findings (org_id, at_ms);

-- Red-flag alerts in the duty queue. level 1: the first person on duty; level 2: escalated to the second.
-- status: open | acknowledged | resolved. The label names the red-flag list, never the patient's words.
CREATE TABLE care_alerts (
    id              TEXT    PRIMARY KEY,
    consultation_id TEXT    NOT NULL,
    org_id          TEXT    NOT NULL,
    seq             BIGINT  NOT NULL,
    record_id       TEXT    NOT NULL,
    label           TEXT    NOT NULL,
    severity        TEXT    NOT NULL,
    zh              TEXT    NOT NULL,
    en              TEXT    NOT NULL,
    raised_ms       BIGINT  NOT NULL,
    ack_minutes     INTEGER NOT NULL,
    deadline_ms     BIGINT  NOT NULL,
    level           INTEGER NOT NULL,
    assignee        TEXT,
    status          TEXT    NOT NULL,
    acked_by        TEXT,
    acked_ms        BIGINT,
    resolved_by     TEXT,
    resolved_ms     BIGINT,
    log_idx         BIGINT  NOT NULL
);
CREATE INDEX care_alerts_status ON care_alerts (status, deadline_ms);
CREATE INDEX care_alerts_org ON care_alerts (org_id, raised_ms);

-- Every action on an alert (acknowledge, escalate, resolve), each a log entry of its own.
CREATE TABLE care_alert_actions (
    alert_id        TEXT    NOT NULL,
    at_ms           BIGINT  NOT NULL,
    action          TEXT    NOT NULL,
    by_account      TEXT    NOT NULL,
    assignee        TEXT,
    log_idx         BIGINT  NOT NULL,
    PRIMARY KEY (alert_id, log_idx)
);

-- Who is on duty for an organisation's alerts, in order: rank 1 first, rank 2 the escalation.
CREATE TABLE care_duty (
    org_id          TEXT    NOT NULL,
    rank            INTEGER NOT NULL,
    account_id      TEXT    NOT NULL,
    set_ms          BIGINT  NOT NULL,
    log_idx         BIGINT  NOT NULL,
    PRIMARY KEY (org_id, rank)
);

-- A patient's rating of the doctor and institution of one consultation (once per consultation).
CREATE TABLE care_ratings (
    consultation_id TEXT    PRIMARY KEY,
    patient_account TEXT    NOT NULL,
    doctor_id       TEXT    NOT NULL,
    org_id          TEXT    NOT NULL,
    doctor_score    INTEGER NOT NULL,
    org_score       INTEGER NOT NULL,
    at_ms           BIGINT  NOT NULL,
    log_idx         BIGINT  NOT NULL
);
CREATE INDEX care_ratings_doctor ON care_ratings (doctor_id);
