//! Rows of online care: consultations, their events (idempotency and order), findings, red-flag alerts
//! and the actions on them, the duty roster and ratings. Written only through [`CareEffect`]s, which the
//! log's sequencer applies in the transaction of the entry that records them.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::log::{get_u64, to_i64};
use crate::{Db, Result, Script, Statement, Value, Writer, insert_rows};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsultationRow {
    pub id: String,
    pub org_id: String,
    pub reference: String,
    /// The patient's vault subject: an account id, or `patient:<keyed hash of the resident ID>`.
    pub patient_subject: String,
    pub doctor_id: String,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    pub response_ms: Option<i64>,
    pub terminated: bool,
    pub referred: bool,
    pub state_sealed: Vec<u8>,
    pub start_idx: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub org_id: String,
    pub idem_key: String,
    pub consultation_id: String,
    pub seq: i64,
    pub event_type: String,
    pub party: Option<String>,
    pub reference: Option<String>,
    pub flag: Option<bool>,
    pub red_flags: i64,
    pub fee_fen: Option<i64>,
    pub occurred_ms: i64,
    pub body_hash: Vec<u8>,
    pub log_idx: u64,
    pub record_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingRow {
    pub id: String,
    pub consultation_id: String,
    pub org_id: String,
    pub doctor_id: String,
    pub seq: i64,
    pub rule_id: String,
    pub rule_set: String,
    pub severity: String,
    pub citation: String,
    pub zh: String,
    pub en: String,
    pub at_ms: i64,
    pub log_idx: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    pub id: String,
    pub consultation_id: String,
    pub org_id: String,
    pub seq: i64,
    pub record_id: String,
    pub label: String,
    pub severity: String,
    pub zh: String,
    pub en: String,
    pub raised_ms: i64,
    pub ack_minutes: i64,
    pub deadline_ms: i64,
    pub level: i64,
    pub assignee: Option<String>,
    pub status: String,
    pub acked_by: Option<String>,
    pub acked_ms: Option<i64>,
    pub resolved_by: Option<String>,
    pub resolved_ms: Option<i64>,
    pub log_idx: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertActionRow {
    pub alert_id: String,
    pub at_ms: i64,
    pub action: String,
    pub by_account: String,
    pub assignee: Option<String>,
    pub log_idx: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatingRow {
    pub consultation_id: String,
    pub patient_account: String,
    pub doctor_id: String,
    pub org_id: String,
    pub doctor_score: i64,
    pub org_score: i64,
    pub at_ms: i64,
    pub log_idx: u64,
}

/// A change of online-care state, committed with the log entry that records it. `log_idx` fields are
/// filled in from the entry's index.
#[derive(Debug, Clone)]
pub enum CareEffect {
    Start(Box<ConsultationRow>),
    Event(Box<EventRow>),
    End {
        consultation_id: String,
        ended_ms: i64,
        response_ms: Option<i64>,
        terminated: bool,
        referred: bool,
    },
    Finding(Box<FindingRow>),
    Alert(Box<AlertRow>),
    /// Acknowledge, escalate or resolve an alert. The update applies only while the alert is in
    /// `from_status` (and, for an escalation, still at `from_level`), so two actions cannot both win.
    AlertAction {
        action: AlertActionRow,
        from_status: String,
        to_status: String,
        from_level: i64,
        to_level: i64,
        deadline_ms: i64,
    },
    /// Replace an organisation's duty roster (accounts in rank order).
    Duty {
        org_id: String,
        accounts: Vec<String>,
        at_ms: i64,
    },
    Rating(Box<RatingRow>),
}

/// Insert the events of a batch (see `insert_rows` in `lib.rs`).
pub fn insert_events(script: &mut Script, rows: Vec<(u64, Box<EventRow>)>) -> Result<()> {
    let mut values: Vec<Value> = Vec::with_capacity(rows.len() * 14);
    for (idx, r) in rows {
        let r = *r;
        values.extend([
            r.org_id.into(),
            r.idem_key.into(),
            r.consultation_id.into(),
            r.seq.into(),
            r.event_type.into(),
            r.party.into(),
            r.reference.into(),
            r.flag.map(i64::from).into(),
            r.red_flags.into(),
            r.fee_fen.into(),
            r.occurred_ms.into(),
            r.body_hash.into(),
            to_i64(idx)?.into(),
            r.record_id.into(),
        ]);
    }
    insert_rows(
        script,
        "care_events (org_id, idem_key, consultation_id, seq, event_type, party, reference, flag, \
         red_flags, fee_fen, occurred_ms, body_hash, log_idx, record_id)",
        14,
        values,
    );
    Ok(())
}

/// Apply one effect other than an event (events go in bulk through [`insert_events`]).
pub async fn apply(w: &mut Writer<'_>, script: &mut Script, idx: u64, e: CareEffect) -> Result<()> {
    let idx_i = to_i64(idx)?;
    match e {
        CareEffect::Event(row) => insert_events(script, vec![(idx, row)])?,
        CareEffect::Start(c) => {
            script.add(Statement::new(
                "INSERT INTO care_consultations (id, org_id, ref, patient_subject, doctor_id, started_ms, \
                 ended_ms, response_ms, terminated, referred, state_sealed, start_idx) \
                 VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, 0, 0, $7, $8)",
            )
            .bind(c.id)
            .bind(c.org_id)
            .bind(c.reference)
            .bind(c.patient_subject)
            .bind(c.doctor_id)
            .bind(c.started_ms)
            .bind(c.state_sealed)
            .bind(idx_i));
        }
        CareEffect::End {
            consultation_id,
            ended_ms,
            response_ms,
            terminated,
            referred,
        } => {
            script.add(
                Statement::new(
                    "UPDATE care_consultations SET ended_ms = $1, response_ms = $2, terminated = $3, \
                 referred = $4 WHERE id = $5",
                )
                .bind(ended_ms)
                .bind(response_ms)
                .bind(i64::from(terminated))
                .bind(i64::from(referred))
                .bind(consultation_id),
            );
        }
        CareEffect::Finding(f) => {
            script.add(Statement::new(
                "INSERT INTO care_findings (id, consultation_id, org_id, doctor_id, seq, rule_id, rule_set, \
                 severity, citation, zh, en, at_ms, log_idx) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(f.id)
            .bind(f.consultation_id)
            .bind(f.org_id)
            .bind(f.doctor_id)
            .bind(f.seq)
            .bind(f.rule_id)
            .bind(f.rule_set)
            .bind(f.severity)
            .bind(f.citation)
            .bind(f.zh)
            .bind(f.en)
            .bind(f.at_ms)
            .bind(idx_i));
        }
        CareEffect::Alert(a) => {
            script.add(Statement::new(
                "INSERT INTO care_alerts (id, consultation_id, org_id, seq, record_id, label, severity, zh, \
                 en, raised_ms, ack_minutes, deadline_ms, level, assignee, status, log_idx) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            )
            .bind(a.id)
            .bind(a.consultation_id)
            .bind(a.org_id)
            .bind(a.seq)
            .bind(a.record_id)
            .bind(a.label)
            .bind(a.severity)
            .bind(a.zh)
            .bind(a.en)
            .bind(a.raised_ms)
            .bind(a.ack_minutes)
            .bind(a.deadline_ms)
            .bind(a.level)
            .bind(a.assignee)
            .bind(a.status)
            .bind(idx_i));
        }
        CareEffect::AlertAction {
            action,
            from_status,
            to_status,
            from_level,
            to_level,
            deadline_ms,
        } => {
            // An escalation hands the alert to its new assignee (none at the last level: everyone).
            let reassign = action.action == "escalate";
            let (acked, resolved) = match to_status.as_str() {
                "acknowledged" => (true, false),
                "resolved" => (false, true),
                _ => (false, false),
            };
            // Whether the action wins depends on the alert's row: run what came before first.
            script.flush(w.reborrow()).await?;
            let changed = w
                .execute(
                    Statement::new(
                        "UPDATE care_alerts SET status = $1, level = $2, deadline_ms = $3, \
                 assignee = CASE WHEN $12 = 1 THEN $4 ELSE assignee END, \
                 acked_by = CASE WHEN $5 = 1 THEN $6 ELSE acked_by END, \
                 acked_ms = CASE WHEN $5 = 1 THEN $7 ELSE acked_ms END, \
                 resolved_by = CASE WHEN $8 = 1 THEN $6 ELSE resolved_by END, \
                 resolved_ms = CASE WHEN $8 = 1 THEN $7 ELSE resolved_ms END \
                 WHERE id = $9 AND status = $10 AND level = $11",
                    )
                    .bind(&to_status)
                    .bind(to_level)
                    .bind(deadline_ms)
                    .bind(action.assignee.clone())
                    .bind(i64::from(acked))
                    .bind(action.by_account.clone())
                    .bind(action.at_ms)
                    .bind(i64::from(resolved))
                    .bind(action.alert_id.clone())
                    .bind(&from_status)
                    .bind(from_level)
                    .bind(i64::from(reassign)),
                )
                .await?;
            if changed == 1 {
                w.execute(Statement::new(
                    "INSERT INTO care_alert_actions (alert_id, at_ms, action, by_account, assignee, log_idx) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(action.alert_id)
                .bind(action.at_ms)
                .bind(action.action)
                .bind(action.by_account)
                .bind(action.assignee)
                .bind(idx_i))
                .await?;
            }
        }
        CareEffect::Duty {
            org_id,
            accounts,
            at_ms,
        } => {
            script.add(Statement::new("DELETE FROM care_duty WHERE org_id = $1").bind(&org_id));
            for (rank, account) in accounts.into_iter().enumerate() {
                script.add(Statement::new(
                    "INSERT INTO care_duty (org_id, rank, account_id, set_ms, log_idx) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&org_id)
                .bind(rank as i64 + 1)
                .bind(account)
                .bind(at_ms)
                .bind(idx_i));
            }
        }
        CareEffect::Rating(r) => {
            script.add(Statement::new(
                "INSERT INTO care_ratings (consultation_id, patient_account, doctor_id, org_id, doctor_score, \
                 org_score, at_ms, log_idx) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(r.consultation_id)
            .bind(r.patient_account)
            .bind(r.doctor_id)
            .bind(r.org_id)
            .bind(r.doctor_score)
            .bind(r.org_score)
            .bind(r.at_ms)
            .bind(idx_i));
        }
    }
    Ok(())
}

const CONSULTATION_COLUMNS: &str = "id, org_id, ref, patient_subject, doctor_id, started_ms, ended_ms, \
     response_ms, terminated, referred, state_sealed, start_idx";

fn consultation_row(r: &AnyRow) -> Result<ConsultationRow> {
    Ok(ConsultationRow {
        id: r.try_get(0)?,
        org_id: r.try_get(1)?,
        reference: r.try_get(2)?,
        patient_subject: r.try_get(3)?,
        doctor_id: r.try_get(4)?,
        started_ms: r.try_get(5)?,
        ended_ms: r.try_get(6)?,
        response_ms: r.try_get(7)?,
        terminated: r.try_get::<i64, _>(8)? != 0,
        referred: r.try_get::<i64, _>(9)? != 0,
        state_sealed: r.try_get(10)?,
        start_idx: get_u64(r, 11)?,
    })
}

pub async fn consultation_by_ref(db: &Db, org_id: &str, reference: &str) -> Result<Option<ConsultationRow>> {
    let sql = format!("SELECT {CONSULTATION_COLUMNS} FROM care_consultations WHERE org_id = $1 AND ref = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org_id)
        .bind(reference)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(consultation_row)
        .transpose()
}

pub async fn consultation(db: &Db, id: &str) -> Result<Option<ConsultationRow>> {
    let sql = format!("SELECT {CONSULTATION_COLUMNS} FROM care_consultations WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(consultation_row)
        .transpose()
}

/// Consultations of a patient (by vault subject), newest first.
pub async fn consultations_of_patient(db: &Db, patient_subject: &str) -> Result<Vec<ConsultationRow>> {
    let sql = format!(
        "SELECT {CONSULTATION_COLUMNS} FROM care_consultations WHERE patient_subject = $1 \
         ORDER BY started_ms DESC, id"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(patient_subject)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(consultation_row)
        .collect()
}

const EVENT_COLUMNS: &str = "org_id, idem_key, consultation_id, seq, event_type, party, reference, flag, \
     red_flags, fee_fen, occurred_ms, body_hash, log_idx, record_id";

fn event_row(r: &AnyRow) -> Result<EventRow> {
    Ok(EventRow {
        org_id: r.try_get(0)?,
        idem_key: r.try_get(1)?,
        consultation_id: r.try_get(2)?,
        seq: r.try_get(3)?,
        event_type: r.try_get(4)?,
        party: r.try_get(5)?,
        reference: r.try_get(6)?,
        flag: r.try_get::<Option<i64>, _>(7)?.map(|v| v != 0),
        red_flags: r.try_get(8)?,
        fee_fen: r.try_get(9)?,
        occurred_ms: r.try_get(10)?,
        body_hash: r.try_get(11)?,
        log_idx: get_u64(r, 12)?,
        record_id: r.try_get(13)?,
    })
}

/// The events of a consultation in order.
pub async fn events_of(db: &Db, consultation_id: &str) -> Result<Vec<EventRow>> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM care_events WHERE consultation_id = $1 ORDER BY seq");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(consultation_id)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(event_row)
        .collect()
}

/// The events stored under any of these idempotency keys of an organisation.
pub async fn events_by_keys(db: &Db, org_id: &str, keys: &[&str]) -> Result<Vec<EventRow>> {
    let mut out = Vec::new();
    for chunk in keys.chunks(500) {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM care_events WHERE org_id = $1 AND idem_key IN ({})",
            crate::numbered(2, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org_id.to_owned());
        for k in chunk {
            q = q.bind(k.to_string());
        }
        for r in q.fetch_all(db.pool()).await? {
            out.push(event_row(&r)?);
        }
    }
    Ok(out)
}

const FINDING_COLUMNS: &str = "id, consultation_id, org_id, doctor_id, seq, rule_id, rule_set, severity, \
     citation, zh, en, at_ms, log_idx";

fn finding_row(r: &AnyRow) -> Result<FindingRow> {
    Ok(FindingRow {
        id: r.try_get(0)?,
        consultation_id: r.try_get(1)?,
        org_id: r.try_get(2)?,
        doctor_id: r.try_get(3)?,
        seq: r.try_get(4)?,
        rule_id: r.try_get(5)?,
        rule_set: r.try_get(6)?,
        severity: r.try_get(7)?,
        citation: r.try_get(8)?,
        zh: r.try_get(9)?,
        en: r.try_get(10)?,
        at_ms: r.try_get(11)?,
        log_idx: get_u64(r, 12)?,
    })
}

/// Findings of one consultation, in event order.
pub async fn findings_of(db: &Db, consultation_id: &str) -> Result<Vec<FindingRow>> {
    let sql = format!(
        "SELECT {FINDING_COLUMNS} FROM care_findings WHERE consultation_id = $1 ORDER BY seq, rule_id"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(consultation_id)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(finding_row)
        .collect()
}

/// The latest findings, of one organisation or (None) of all, newest first, each with the partner's
/// reference of its consultation.
pub async fn findings(db: &Db, org_id: Option<&str>, limit: i64) -> Result<Vec<(String, FindingRow)>> {
    let columns: Vec<String> = FINDING_COLUMNS.split(", ").map(|c| format!("f.{c}")).collect();
    let sql = format!(
        "SELECT {}, c.ref FROM care_findings f JOIN care_consultations c ON c.id = f.consultation_id \
         WHERE ($1 IS NULL OR f.org_id = $1) ORDER BY f.at_ms DESC, f.id LIMIT $2",
        columns.join(", ")
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org_id)
        .bind(limit)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| Ok((r.try_get(13)?, finding_row(r)?)))
        .collect()
}

const ALERT_COLUMNS: &str = "id, consultation_id, org_id, seq, record_id, label, severity, zh, en, raised_ms, \
     ack_minutes, deadline_ms, level, assignee, status, acked_by, acked_ms, resolved_by, resolved_ms, log_idx";

fn alert_row(r: &AnyRow) -> Result<AlertRow> {
    Ok(AlertRow {
        id: r.try_get(0)?,
        consultation_id: r.try_get(1)?,
        org_id: r.try_get(2)?,
        seq: r.try_get(3)?,
        record_id: r.try_get(4)?,
        label: r.try_get(5)?,
        severity: r.try_get(6)?,
        zh: r.try_get(7)?,
        en: r.try_get(8)?,
        raised_ms: r.try_get(9)?,
        ack_minutes: r.try_get(10)?,
        deadline_ms: r.try_get(11)?,
        level: r.try_get(12)?,
        assignee: r.try_get(13)?,
        status: r.try_get(14)?,
        acked_by: r.try_get(15)?,
        acked_ms: r.try_get(16)?,
        resolved_by: r.try_get(17)?,
        resolved_ms: r.try_get(18)?,
        log_idx: get_u64(r, 19)?,
    })
}

pub async fn alert(db: &Db, id: &str) -> Result<Option<AlertRow>> {
    let sql = format!("SELECT {ALERT_COLUMNS} FROM care_alerts WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(alert_row)
        .transpose()
}

/// Alerts not yet resolved (of the given organisations, or all when `orgs` is None), most urgent first.
pub async fn open_alerts(db: &Db, orgs: Option<&[String]>) -> Result<Vec<AlertRow>> {
    let filter = match orgs {
        None => String::new(),
        Some([]) => return Ok(vec![]),
        Some(orgs) => format!(" AND org_id IN ({})", crate::numbered(1, orgs.len())),
    };
    let sql = format!(
        "SELECT {ALERT_COLUMNS} FROM care_alerts WHERE status <> 'resolved'{filter} ORDER BY deadline_ms, id"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for o in orgs.unwrap_or_default() {
        q = q.bind(o.clone());
    }
    q.fetch_all(db.pool()).await?.iter().map(alert_row).collect()
}

/// Open alerts past their acknowledgement deadline.
pub async fn overdue_alerts(db: &Db, now_ms: i64) -> Result<Vec<AlertRow>> {
    let sql = format!(
        "SELECT {ALERT_COLUMNS} FROM care_alerts WHERE status = 'open' AND deadline_ms <= $1 \
         ORDER BY deadline_ms, id"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now_ms)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(alert_row)
        .collect()
}

pub async fn alert_actions(db: &Db, alert_id: &str) -> Result<Vec<AlertActionRow>> {
    sqlx::query(
        "SELECT alert_id, at_ms, action, by_account, assignee, log_idx FROM care_alert_actions \
         WHERE alert_id = $1 ORDER BY log_idx",
    )
    .bind(alert_id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| {
        Ok(AlertActionRow {
            alert_id: r.try_get(0)?,
            at_ms: r.try_get(1)?,
            action: r.try_get(2)?,
            by_account: r.try_get(3)?,
            assignee: r.try_get(4)?,
            log_idx: get_u64(r, 5)?,
        })
    })
    .collect()
}

/// An organisation's duty roster, in rank order.
pub async fn duty(db: &Db, org_id: &str) -> Result<Vec<String>> {
    sqlx::query("SELECT account_id FROM care_duty WHERE org_id = $1 ORDER BY rank")
        .bind(org_id)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
}

/// A payment with what refunds need: `(consultation, doctor, purpose, fee, occurred, log index)`.
pub type PaymentRow = (String, String, String, i64, i64, u64);

/// Every payment in the consultations of a patient.
pub async fn payments_of_patient(db: &Db, patient_subject: &str) -> Result<Vec<PaymentRow>> {
    sqlx::query(
        "SELECT c.ref, c.doctor_id, e.reference, e.fee_fen, e.occurred_ms, e.log_idx \
         FROM care_events e JOIN care_consultations c ON c.id = e.consultation_id \
         WHERE c.patient_subject = $1 AND e.event_type = 'payment' ORDER BY e.occurred_ms, e.log_idx",
    )
    .bind(patient_subject)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| {
        Ok((
            r.try_get(0)?,
            r.try_get(1)?,
            r.try_get(2)?,
            r.try_get(3)?,
            r.try_get(4)?,
            get_u64(r, 5)?,
        ))
    })
    .collect()
}

pub async fn rating(db: &Db, consultation_id: &str) -> Result<Option<RatingRow>> {
    sqlx::query(
        "SELECT consultation_id, patient_account, doctor_id, org_id, doctor_score, org_score, at_ms, log_idx \
         FROM care_ratings WHERE consultation_id = $1",
    )
    .bind(consultation_id)
    .fetch_optional(db.pool())
    .await?
    .map(|r| {
        Ok(RatingRow {
            consultation_id: r.try_get(0)?,
            patient_account: r.try_get(1)?,
            doctor_id: r.try_get(2)?,
            org_id: r.try_get(3)?,
            doctor_score: r.try_get(4)?,
            org_score: r.try_get(5)?,
            at_ms: r.try_get(6)?,
            log_idx: get_u64(&r, 7)?,
        })
    })
    .transpose()
}

/// Supervision sums per group: `(group, its name, [consultations, ended, with_response,
/// response_ms_total, terminated, referred, findings, ratings, rating_total])`.
pub type SumsRow = (String, String, [i64; 9]);

/// Sums per organisation (`by_doctor` false) or per doctor.
pub async fn supervision_sums(db: &Db, by_doctor: bool) -> Result<Vec<SumsRow>> {
    // Two fixed texts, chosen here; nothing from outside is spliced in.
    let (group, score, name) = if by_doctor {
        (
            "doctor_id",
            "doctor_score",
            "SELECT display_name FROM id_accounts WHERE id = c.doctor_id",
        )
    } else {
        (
            "org_id",
            "org_score",
            "SELECT name FROM id_organisations WHERE id = c.org_id",
        )
    };
    let sql = format!(
        "SELECT c.{group}, COALESCE(({name}), ''), COUNT(*), \
           CAST(SUM(CASE WHEN c.ended_ms IS NULL THEN 0 ELSE 1 END) AS BIGINT), \
           CAST(SUM(CASE WHEN c.response_ms IS NULL THEN 0 ELSE 1 END) AS BIGINT), \
           CAST(COALESCE(SUM(c.response_ms), 0) AS BIGINT), \
           CAST(SUM(c.terminated) AS BIGINT), CAST(SUM(c.referred) AS BIGINT), \
           CAST(COALESCE(SUM((SELECT COUNT(*) FROM care_findings f WHERE f.consultation_id = c.id)), 0) AS BIGINT), \
           CAST(COALESCE(SUM((SELECT COUNT(*) FROM care_ratings r WHERE r.consultation_id = c.id)), 0) AS BIGINT), \
           CAST(COALESCE(SUM((SELECT SUM(r.{score}) FROM care_ratings r WHERE r.consultation_id = c.id)), 0) AS BIGINT) \
         FROM care_consultations c GROUP BY c.{group} ORDER BY c.{group}"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| {
            let mut v = [0i64; 9];
            for (i, slot) in v.iter_mut().enumerate() {
                *slot = r.try_get(i + 2)?;
            }
            Ok((r.try_get(0)?, r.try_get(1)?, v))
        })
        .collect()
}
