//! Rows of identity, access and consent: organisations, accounts, memberships, guardianships,
//! sessions, recovery codes, doctor verification, sanctions, notices, consents and access events.
//!
//! Decisions that the law wants on the record (verifications, sanctions, notices, consents, access
//! decisions) are [`IdentityEffect`]s of a log entry, applied by the sequencer in the batch's
//! transaction like the vault's effects. Everything else is an ordinary transaction here.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::log::to_i64;
use crate::{Db, Result, Script, Statement, Tx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub status: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    pub id: String,
    pub login: String,
    pub display_name: String,
    pub role: String,
    pub password_hash: String,
    pub subject: String,
    pub id_hash: Option<Vec<u8>>,
    pub id_sealed: Option<Vec<u8>>,
    pub phone_hash: Option<Vec<u8>>,
    pub status: String,
    pub totp_secret: Option<Vec<u8>>,
    pub totp_enabled: bool,
    pub totp_last_step: Option<i64>,
    pub failed_logins: i64,
    pub locked_until_ms: Option<i64>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub account_id: String,
    pub csrf: String,
    pub mfa_ok: bool,
    pub expires_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoctorRow {
    pub account_id: String,
    pub licence_no: String,
    pub institution_id: String,
    pub specialty: String,
    pub practice_years: i64,
    pub evidence: String,
    pub status: String,
    pub note: Option<String>,
    pub submitted_ms: i64,
    pub decided_by: Option<String>,
    pub decided_ms: Option<i64>,
    pub expires_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SanctionRow {
    pub id: String,
    pub target_kind: String,
    pub target: String,
    pub measure: String,
    pub reason: String,
    pub id_hash: Option<Vec<u8>>,
    pub licence_no: Option<String>,
    pub phone_hash: Option<Vec<u8>>,
    pub decided_by: String,
    pub decided_ms: i64,
    pub lifted_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRow {
    pub id: String,
    pub version: i64,
    pub purpose: String,
    /// Space-separated category codes.
    pub categories: String,
    pub text_zh: String,
    pub text_en: String,
    pub digest: Vec<u8>,
    pub published_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRow {
    pub id: String,
    pub subject_id: String,
    pub granted_by: String,
    pub by_guardian: bool,
    pub notice_id: String,
    pub notice_version: i64,
    pub purpose: String,
    pub category: String,
    pub recipient: String,
    pub granted_ms: i64,
    pub granted_idx: u64,
    pub withdrawn_by: Option<String>,
    pub withdrawn_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEventRow {
    pub id: String,
    pub subject_id: String,
    pub actor_id: String,
    pub actor_role: String,
    pub actor_name: String,
    pub action: String,
    pub resource: String,
    pub category: String,
    pub purpose: String,
    pub permit: bool,
    pub reason: String,
    pub basis: Option<String>,
    pub at_ms: i64,
    pub log_idx: u64,
}

/// A change of identity state recorded by a log entry (the sequencer supplies the index).
#[derive(Debug, Clone)]
pub enum IdentityEffect {
    /// An operator's verification decision on a doctor.
    DoctorDecision {
        account_id: String,
        status: String,
        note: Option<String>,
        by: String,
        ms: i64,
        expires_ms: Option<i64>,
    },
    /// A suspension or blacklisting; also sets the target's status.
    Sanction(SanctionRow),
    /// A sanction lifted; the target becomes active again unless another sanction remains.
    LiftSanction {
        id: String,
        by: String,
        ms: i64,
    },
    Notice(NoticeRow),
    Grant(ConsentRow),
    /// An operator recorded that `guardian` is the guardian of `ward`.
    Guardianship {
        guardian: String,
        ward: String,
        ms: i64,
    },
    Withdraw {
        id: String,
        by: String,
        ms: i64,
    },
    Access(AccessEventRow),
}

fn b(v: bool) -> i64 {
    i64::from(v)
}

/// Add the statements of one identity effect to the batch's `script` (none needs a result).
pub(crate) fn apply(script: &mut Script, idx: u64, e: IdentityEffect) -> Result<()> {
    let idx = to_i64(idx)?;
    match e {
        IdentityEffect::DoctorDecision {
            account_id,
            status,
            note,
            by,
            ms,
            expires_ms,
        } => {
            script.add(
                Statement::new(
                    "UPDATE id_doctors SET status = $1, note = $2, decided_by = $3, decided_ms = $4, \
                 expires_ms = $5, decision_idx = $6 WHERE account_id = $7",
                )
                .bind(status)
                .bind(note)
                .bind(by)
                .bind(ms)
                .bind(expires_ms)
                .bind(idx)
                .bind(account_id),
            );
        }
        IdentityEffect::Sanction(s) => {
            script.add(Statement::new(
                "INSERT INTO id_sanctions (id, target_kind, target, measure, reason, id_hash, licence_no, \
                 phone_hash, decided_by, decided_ms, decided_idx) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(s.id)
            .bind(s.target_kind.clone())
            .bind(s.target.clone())
            .bind(s.measure.clone())
            .bind(s.reason)
            .bind(s.id_hash)
            .bind(s.licence_no)
            .bind(s.phone_hash)
            .bind(s.decided_by)
            .bind(s.decided_ms)
            .bind(idx));
            let table = status_table(&s.target_kind);
            script.add(set_status(table, "$1").bind(s.target.clone()));
            if s.target_kind == "account" {
                // A takedown takes effect at once: the account's sessions end with it.
                script.add(Statement::new("DELETE FROM id_sessions WHERE account_id = $1").bind(s.target));
            }
        }
        IdentityEffect::LiftSanction { id, by, ms } => {
            script.add(
                Statement::new(
                    "UPDATE id_sanctions SET lifted_by = $1, lifted_ms = $2, lifted_idx = $3 \
                     WHERE id = $4 AND lifted_ms IS NULL",
                )
                .bind(by)
                .bind(ms)
                .bind(idx)
                .bind(id.clone()),
            );
            // The target's status is recomputed from its unlifted sanctions (unchanged if the
            // sanction was lifted already); which table it is in follows from the row.
            for (table, kind) in [
                ("id_organisations", "target_kind = 'organisation'"),
                ("id_accounts", "target_kind <> 'organisation'"),
            ] {
                let target = format!("(SELECT target FROM id_sanctions WHERE id = $1 AND {kind})");
                script.add(set_status(table, &target).bind(id.clone()));
            }
        }
        IdentityEffect::Notice(n) => {
            script.add(
                Statement::new(
                    "INSERT INTO id_notices (id, version, purpose, categories, text_zh, text_en, digest, \
                 published_ms, published_idx) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(n.id)
                .bind(n.version)
                .bind(n.purpose)
                .bind(n.categories)
                .bind(n.text_zh)
                .bind(n.text_en)
                .bind(n.digest)
                .bind(n.published_ms)
                .bind(idx),
            );
        }
        IdentityEffect::Grant(c) => {
            script.add(Statement::new(
                "INSERT INTO id_consents (id, subject_id, granted_by, by_guardian, notice_id, notice_version, \
                 purpose, category, recipient, granted_ms, granted_idx) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(c.id)
            .bind(c.subject_id)
            .bind(c.granted_by)
            .bind(b(c.by_guardian))
            .bind(c.notice_id)
            .bind(c.notice_version)
            .bind(c.purpose)
            .bind(c.category)
            .bind(c.recipient)
            .bind(c.granted_ms)
            .bind(idx));
        }
        IdentityEffect::Guardianship { guardian, ward, ms } => {
            script.add(
                Statement::new(
                    "INSERT INTO id_guardianships (guardian_id, ward_id, created_ms) VALUES ($1, $2, $3) \
                     ON CONFLICT (guardian_id, ward_id) DO NOTHING",
                )
                .bind(guardian)
                .bind(ward)
                .bind(ms),
            );
        }
        IdentityEffect::Withdraw { id, by, ms } => {
            script.add(
                Statement::new(
                    "UPDATE id_consents SET withdrawn_by = $1, withdrawn_ms = $2, withdrawn_idx = $3 \
                 WHERE id = $4 AND withdrawn_ms IS NULL",
                )
                .bind(by)
                .bind(ms)
                .bind(idx)
                .bind(id),
            );
        }
        IdentityEffect::Access(a) => {
            script.add(
                Statement::new(
                    "INSERT INTO id_access_events (id, subject_id, actor_id, actor_role, actor_name, action, \
                 resource, category, purpose, permit, reason, basis, at_ms, log_idx) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                )
                .bind(a.id)
                .bind(a.subject_id)
                .bind(a.actor_id)
                .bind(a.actor_role)
                .bind(a.actor_name)
                .bind(a.action)
                .bind(a.resource)
                .bind(a.category)
                .bind(a.purpose)
                .bind(b(a.permit))
                .bind(a.reason)
                .bind(a.basis)
                .bind(a.at_ms)
                .bind(idx),
            );
        }
    }
    Ok(())
}

/// The table holding the status of a sanction's target.
fn status_table(kind: &str) -> &'static str {
    match kind {
        "organisation" => "id_organisations",
        _ => "id_accounts",
    }
}

/// Recompute the status of the sanctioned row of `table` whose id is the SQL expression `target`
/// (a placeholder or a subquery) from its unlifted sanctions: blacklisted beats suspended beats
/// active. Only fixed fragments are spliced into the text.
fn set_status(table: &'static str, target: &str) -> Statement {
    Statement::dynamic(format!(
        "UPDATE {table} SET status = COALESCE((SELECT CASE WHEN SUM(CASE WHEN s.measure = 'blacklist' \
         THEN 1 ELSE 0 END) > 0 THEN 'blacklisted' ELSE 'suspended' END FROM id_sanctions s \
         WHERE s.target = {table}.id AND s.lifted_ms IS NULL HAVING COUNT(*) > 0), 'active') WHERE id = {target}"
    ))
}

// ---- organisations and accounts

pub async fn insert_org(tx: &mut Tx<'_>, o: &OrgRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO id_organisations (id, name, kind, status, created_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(o.id.clone())
    .bind(o.name.clone())
    .bind(o.kind.clone())
    .bind(o.status.clone())
    .bind(o.created_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn org_row(r: &AnyRow) -> Result<OrgRow> {
    Ok(OrgRow {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        kind: r.try_get(2)?,
        status: r.try_get(3)?,
        created_ms: r.try_get(4)?,
    })
}

pub async fn org(db: &Db, id: &str) -> Result<Option<OrgRow>> {
    sqlx::query("SELECT id, name, kind, status, created_ms FROM id_organisations WHERE id = $1")
        .bind(id.to_owned())
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(org_row)
        .transpose()
}

pub async fn orgs(db: &Db) -> Result<Vec<OrgRow>> {
    sqlx::query("SELECT id, name, kind, status, created_ms FROM id_organisations ORDER BY name, id")
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(org_row)
        .collect()
}

const ACCOUNT_COLUMNS: &str = "id, login, display_name, role, password_hash, subject, id_hash, id_sealed, \
     phone_hash, status, totp_secret, totp_enabled, totp_last_step, failed_logins, locked_until_ms, created_ms";

pub async fn insert_account(tx: &mut Tx<'_>, a: &AccountRow) -> Result<()> {
    let sql = format!(
        "INSERT INTO id_accounts ({ACCOUNT_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(a.id.clone())
        .bind(a.login.clone())
        .bind(a.display_name.clone())
        .bind(a.role.clone())
        .bind(a.password_hash.clone())
        .bind(a.subject.clone())
        .bind(a.id_hash.clone())
        .bind(a.id_sealed.clone())
        .bind(a.phone_hash.clone())
        .bind(a.status.clone())
        .bind(a.totp_secret.clone())
        .bind(b(a.totp_enabled))
        .bind(a.totp_last_step)
        .bind(a.failed_logins)
        .bind(a.locked_until_ms)
        .bind(a.created_ms)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn account_row(r: &AnyRow) -> Result<AccountRow> {
    let enabled: i64 = r.try_get(11)?;
    Ok(AccountRow {
        id: r.try_get(0)?,
        login: r.try_get(1)?,
        display_name: r.try_get(2)?,
        role: r.try_get(3)?,
        password_hash: r.try_get(4)?,
        subject: r.try_get(5)?,
        id_hash: r.try_get(6)?,
        id_sealed: r.try_get(7)?,
        phone_hash: r.try_get(8)?,
        status: r.try_get(9)?,
        totp_secret: r.try_get(10)?,
        totp_enabled: enabled != 0,
        totp_last_step: r.try_get(12)?,
        failed_logins: r.try_get(13)?,
        locked_until_ms: r.try_get(14)?,
        created_ms: r.try_get(15)?,
    })
}

async fn account_where(db: &Db, filter: &str, value: &str) -> Result<Option<AccountRow>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM id_accounts WHERE {filter} = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(value.to_owned())
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(account_row)
        .transpose()
}

pub async fn account(db: &Db, id: &str) -> Result<Option<AccountRow>> {
    account_where(db, "id", id).await
}

pub async fn account_by_login(db: &Db, login: &str) -> Result<Option<AccountRow>> {
    account_where(db, "login", login).await
}

/// The account whose data is filed under this vault subject.
pub async fn account_by_subject(db: &Db, subject: &str) -> Result<Option<AccountRow>> {
    account_where(db, "subject", subject).await
}

pub async fn accounts(db: &Db) -> Result<Vec<AccountRow>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM id_accounts ORDER BY created_ms, id");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(account_row)
        .collect()
}

/// Which of login / ID hash / phone hash are already used by an account.
pub async fn identifiers_taken(
    db: &Db,
    login: &str,
    id_hash: Option<&[u8]>,
    phone_hash: Option<&[u8]>,
) -> Result<(bool, bool, bool)> {
    let row = sqlx::query(
        "SELECT \
           (SELECT COUNT(*) FROM id_accounts WHERE login = $1), \
           (SELECT COUNT(*) FROM id_accounts WHERE id_hash = $2), \
           (SELECT COUNT(*) FROM id_accounts WHERE phone_hash = $3)",
    )
    .bind(login.to_owned())
    .bind(id_hash.map(<[u8]>::to_vec))
    .bind(phone_hash.map(<[u8]>::to_vec))
    .fetch_one(db.pool())
    .await?;
    let n = |i: usize| -> Result<bool> { Ok(row.try_get::<i64, _>(i)? > 0) };
    Ok((n(0)?, n(1)?, n(2)?))
}

/// Is any of these identifiers under an unlifted blacklisting?
pub async fn blacklisted_identifier(
    db: &Db,
    id_hash: Option<&[u8]>,
    licence_no: Option<&str>,
    phone_hash: Option<&[u8]>,
) -> Result<bool> {
    let row = sqlx::query(
        "SELECT COUNT(*) FROM id_sanctions WHERE measure = 'blacklist' AND lifted_ms IS NULL AND \
         ((id_hash IS NOT NULL AND id_hash = $1) OR (licence_no IS NOT NULL AND licence_no = $2) OR \
          (phone_hash IS NOT NULL AND phone_hash = $3))",
    )
    .bind(id_hash.map(<[u8]>::to_vec))
    .bind(licence_no.map(str::to_owned))
    .bind(phone_hash.map(<[u8]>::to_vec))
    .fetch_one(db.pool())
    .await?;
    Ok(row.try_get::<i64, _>(0)? > 0)
}

pub async fn set_password(tx: &mut Tx<'_>, account: &str, hash: &str) -> Result<()> {
    sqlx::query("UPDATE id_accounts SET password_hash = $1 WHERE id = $2")
        .bind(hash.to_owned())
        .bind(account.to_owned())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Count a failed login; lock the account until `lock_until_ms` once `max_failures` is reached.
/// Returns the failure count after this one.
pub async fn login_failed(db: &Db, account: &str, max_failures: i64, lock_until_ms: i64) -> Result<i64> {
    let mut tx = db.begin().await?;
    let row = sqlx::query(
        "UPDATE id_accounts SET failed_logins = failed_logins + 1 WHERE id = $1 RETURNING failed_logins",
    )
    .bind(account.to_owned())
    .fetch_one(&mut *tx)
    .await?;
    let n: i64 = row.try_get(0)?;
    if n >= max_failures {
        sqlx::query("UPDATE id_accounts SET locked_until_ms = $1, failed_logins = 0 WHERE id = $2")
            .bind(lock_until_ms)
            .bind(account.to_owned())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(n)
}

pub async fn login_succeeded(db: &Db, account: &str) -> Result<()> {
    sqlx::query("UPDATE id_accounts SET failed_logins = 0, locked_until_ms = NULL WHERE id = $1")
        .bind(account.to_owned())
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Store a (new, not yet confirmed) TOTP secret.
pub async fn set_totp_secret(db: &Db, account: &str, sealed: &[u8]) -> Result<()> {
    sqlx::query(
        "UPDATE id_accounts SET totp_secret = $1, totp_enabled = 0, totp_last_step = NULL WHERE id = $2",
    )
    .bind(sealed.to_vec())
    .bind(account.to_owned())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Record the TOTP step just used (and enable TOTP) unless a step at least as late was used:
/// returns false on a replay (checked in the statement, so two replicas cannot both accept it).
pub async fn use_totp_step(tx: &mut Tx<'_>, account: &str, step: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE id_accounts SET totp_enabled = 1, totp_last_step = $1 \
         WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
    )
    .bind(step)
    .bind(account.to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn replace_recovery_codes(tx: &mut Tx<'_>, account: &str, hashes: &[Vec<u8>]) -> Result<()> {
    sqlx::query("DELETE FROM id_recovery_codes WHERE account_id = $1")
        .bind(account.to_owned())
        .execute(&mut **tx)
        .await?;
    for h in hashes {
        sqlx::query("INSERT INTO id_recovery_codes (account_id, code_hash) VALUES ($1, $2)")
            .bind(account.to_owned())
            .bind(h.clone())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Spend a recovery code; false when it does not exist or was used.
pub async fn use_recovery_code(db: &Db, account: &str, hash: &[u8], ms: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE id_recovery_codes SET used_ms = $1 WHERE account_id = $2 AND code_hash = $3 AND used_ms IS NULL",
    )
    .bind(ms)
    .bind(account.to_owned())
    .bind(hash.to_vec())
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn add_membership(tx: &mut Tx<'_>, account: &str, org: &str, ms: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO id_memberships (account_id, org_id, created_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (account_id, org_id) DO NOTHING",
    )
    .bind(account.to_owned())
    .bind(org.to_owned())
    .bind(ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The organisations an account belongs to that are in good standing (not suspended or blacklisted).
pub async fn active_memberships(db: &Db, account: &str) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT m.org_id FROM id_memberships m JOIN id_organisations o ON o.id = m.org_id \
         WHERE m.account_id = $1 AND o.status = 'active' ORDER BY m.org_id",
    )
    .bind(account.to_owned())
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

pub async fn wards(db: &Db, guardian: &str) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT ward_id FROM id_guardianships WHERE guardian_id = $1 ORDER BY ward_id")
        .bind(guardian.to_owned())
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

// ---- sessions

pub async fn insert_session(tx: &mut Tx<'_>, id_hash: &[u8], s: &SessionRow, now_ms: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO id_sessions (id_hash, account_id, csrf, mfa_ok, created_ms, expires_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id_hash.to_vec())
    .bind(s.account_id.clone())
    .bind(s.csrf.clone())
    .bind(b(s.mfa_ok))
    .bind(now_ms)
    .bind(s.expires_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The unexpired session with this id hash.
pub async fn session(db: &Db, id_hash: &[u8], now_ms: i64) -> Result<Option<SessionRow>> {
    let row = sqlx::query(
        "SELECT account_id, csrf, mfa_ok, expires_ms FROM id_sessions WHERE id_hash = $1 AND expires_ms > $2",
    )
    .bind(id_hash.to_vec())
    .bind(now_ms)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        let mfa: i64 = r.try_get(2)?;
        Ok(SessionRow {
            account_id: r.try_get(0)?,
            csrf: r.try_get(1)?,
            mfa_ok: mfa != 0,
            expires_ms: r.try_get(3)?,
        })
    })
    .transpose()
}

pub async fn delete_session(tx: &mut Tx<'_>, id_hash: &[u8]) -> Result<()> {
    sqlx::query("DELETE FROM id_sessions WHERE id_hash = $1")
        .bind(id_hash.to_vec())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

// ---- doctors

const DOCTOR_COLUMNS: &str = "account_id, licence_no, institution_id, specialty, practice_years, evidence, status, \
     note, submitted_ms, decided_by, decided_ms, expires_ms";

pub async fn insert_doctor(tx: &mut Tx<'_>, d: &DoctorRow) -> Result<()> {
    let sql = format!(
        "INSERT INTO id_doctors ({DOCTOR_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(d.account_id.clone())
        .bind(d.licence_no.clone())
        .bind(d.institution_id.clone())
        .bind(d.specialty.clone())
        .bind(d.practice_years)
        .bind(d.evidence.clone())
        .bind(d.status.clone())
        .bind(d.note.clone())
        .bind(d.submitted_ms)
        .bind(d.decided_by.clone())
        .bind(d.decided_ms)
        .bind(d.expires_ms)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn doctor_row(r: &AnyRow) -> Result<DoctorRow> {
    Ok(DoctorRow {
        account_id: r.try_get(0)?,
        licence_no: r.try_get(1)?,
        institution_id: r.try_get(2)?,
        specialty: r.try_get(3)?,
        practice_years: r.try_get(4)?,
        evidence: r.try_get(5)?,
        status: r.try_get(6)?,
        note: r.try_get(7)?,
        submitted_ms: r.try_get(8)?,
        decided_by: r.try_get(9)?,
        decided_ms: r.try_get(10)?,
        expires_ms: r.try_get(11)?,
    })
}

pub async fn doctor(db: &Db, account: &str) -> Result<Option<DoctorRow>> {
    let sql = format!("SELECT {DOCTOR_COLUMNS} FROM id_doctors WHERE account_id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(account.to_owned())
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(doctor_row)
        .transpose()
}

/// What decides whether a doctor may attend a consultation (IDS-13), for many licences in one query
/// per 500: the doctor, their account's status (`None` if the account is missing) and whether a
/// sanction in force names the account.
pub async fn doctors_standing(db: &Db, licences: &[&str]) -> Result<Vec<(DoctorRow, Option<String>, bool)>> {
    let mut out = Vec::with_capacity(licences.len());
    for chunk in licences.chunks(500) {
        let sql = format!(
            "SELECT {DOCTOR_COLUMNS}, \
               (SELECT a.status FROM id_accounts a WHERE a.id = id_doctors.account_id), \
               (SELECT COUNT(*) FROM id_sanctions s WHERE s.target = id_doctors.account_id AND s.lifted_ms IS NULL) \
             FROM id_doctors WHERE licence_no IN ({})",
            crate::numbered(1, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for l in chunk {
            q = q.bind(l.to_string());
        }
        for r in q.fetch_all(db.pool()).await? {
            let sanctions: i64 = r.try_get(13)?;
            out.push((doctor_row(&r)?, r.try_get(12)?, sanctions > 0));
        }
    }
    Ok(out)
}

/// The accounts of people with these resident-ID keyed hashes, one query per 500.
pub async fn accounts_by_id_hashes(db: &Db, id_hashes: &[&[u8]]) -> Result<Vec<AccountRow>> {
    let mut out = Vec::with_capacity(id_hashes.len());
    for chunk in id_hashes.chunks(500) {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM id_accounts WHERE id_hash IN ({})",
            crate::numbered(1, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for h in chunk {
            q = q.bind(h.to_vec());
        }
        for r in q.fetch_all(db.pool()).await? {
            out.push(account_row(&r)?);
        }
    }
    Ok(out)
}

pub async fn licence_taken(db: &Db, licence: &str) -> Result<bool> {
    let row = sqlx::query("SELECT COUNT(*) FROM id_doctors WHERE licence_no = $1")
        .bind(licence.to_owned())
        .fetch_one(db.pool())
        .await?;
    Ok(row.try_get::<i64, _>(0)? > 0)
}

pub async fn doctors_with_status(db: &Db, status: &str) -> Result<Vec<DoctorRow>> {
    let sql = format!(
        "SELECT {DOCTOR_COLUMNS} FROM id_doctors WHERE status = $1 ORDER BY submitted_ms, account_id"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(status.to_owned())
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(doctor_row)
        .collect()
}

// ---- sanctions

/// Is this account or organisation under a sanction in force?
pub async fn under_sanction(db: &Db, target: &str) -> Result<bool> {
    let row = sqlx::query("SELECT COUNT(*) FROM id_sanctions WHERE target = $1 AND lifted_ms IS NULL")
        .bind(target.to_owned())
        .fetch_one(db.pool())
        .await?;
    Ok(row.try_get::<i64, _>(0)? > 0)
}

pub async fn sanctions(db: &Db, active_only: bool) -> Result<Vec<SanctionRow>> {
    let sql = format!(
        "SELECT id, target_kind, target, measure, reason, id_hash, licence_no, phone_hash, decided_by, \
         decided_ms, lifted_ms FROM id_sanctions {} ORDER BY decided_ms DESC, id",
        if active_only {
            "WHERE lifted_ms IS NULL"
        } else {
            ""
        }
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| {
            Ok(SanctionRow {
                id: r.try_get(0)?,
                target_kind: r.try_get(1)?,
                target: r.try_get(2)?,
                measure: r.try_get(3)?,
                reason: r.try_get(4)?,
                id_hash: r.try_get(5)?,
                licence_no: r.try_get(6)?,
                phone_hash: r.try_get(7)?,
                decided_by: r.try_get(8)?,
                decided_ms: r.try_get(9)?,
                lifted_ms: r.try_get(10)?,
            })
        })
        .collect()
}

// ---- notices and consents

fn notice_row(r: &AnyRow) -> Result<NoticeRow> {
    Ok(NoticeRow {
        id: r.try_get(0)?,
        version: r.try_get(1)?,
        purpose: r.try_get(2)?,
        categories: r.try_get(3)?,
        text_zh: r.try_get(4)?,
        text_en: r.try_get(5)?,
        digest: r.try_get(6)?,
        published_ms: r.try_get(7)?,
    })
}

/// The latest version of every notice.
pub async fn current_notices(db: &Db) -> Result<Vec<NoticeRow>> {
    sqlx::query(
        "SELECT id, version, purpose, categories, text_zh, text_en, digest, published_ms FROM id_notices n \
         WHERE version = (SELECT MAX(version) FROM id_notices m WHERE m.id = n.id) ORDER BY id",
    )
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(notice_row)
    .collect()
}

pub async fn notice(db: &Db, id: &str, version: i64) -> Result<Option<NoticeRow>> {
    sqlx::query(
        "SELECT id, version, purpose, categories, text_zh, text_en, digest, published_ms FROM id_notices \
         WHERE id = $1 AND version = $2",
    )
    .bind(id.to_owned())
    .bind(version)
    .fetch_optional(db.pool())
    .await?
    .as_ref()
    .map(notice_row)
    .transpose()
}

const CONSENT_COLUMNS: &str = "id, subject_id, granted_by, by_guardian, notice_id, notice_version, purpose, \
     category, recipient, granted_ms, granted_idx, withdrawn_by, withdrawn_ms";

fn consent_row(r: &AnyRow) -> Result<ConsentRow> {
    let g: i64 = r.try_get(3)?;
    Ok(ConsentRow {
        id: r.try_get(0)?,
        subject_id: r.try_get(1)?,
        granted_by: r.try_get(2)?,
        by_guardian: g != 0,
        notice_id: r.try_get(4)?,
        notice_version: r.try_get(5)?,
        purpose: r.try_get(6)?,
        category: r.try_get(7)?,
        recipient: r.try_get(8)?,
        granted_ms: r.try_get(9)?,
        granted_idx: crate::log::get_u64(r, 10)?,
        withdrawn_by: r.try_get(11)?,
        withdrawn_ms: r.try_get(12)?,
    })
}

/// Every consent of a subject, withdrawn ones included (the full history), newest first.
pub async fn consents_of(db: &Db, subject: &str) -> Result<Vec<ConsentRow>> {
    let sql = format!(
        "SELECT {CONSENT_COLUMNS} FROM id_consents WHERE subject_id = $1 ORDER BY granted_ms DESC, id"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(subject.to_owned())
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(consent_row)
        .collect()
}

pub async fn consent(db: &Db, id: &str) -> Result<Option<ConsentRow>> {
    let sql = format!("SELECT {CONSENT_COLUMNS} FROM id_consents WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_owned())
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(consent_row)
        .transpose()
}

// ---- access events

/// A subject's access events, newest first, at most `limit`.
pub async fn access_events_of(db: &Db, subject: &str, limit: i64) -> Result<Vec<AccessEventRow>> {
    sqlx::query(
        "SELECT id, subject_id, actor_id, actor_role, actor_name, action, resource, category, purpose, \
         permit, reason, basis, at_ms, log_idx FROM id_access_events WHERE subject_id = $1 \
         ORDER BY at_ms DESC, log_idx DESC LIMIT $2",
    )
    .bind(subject.to_owned())
    .bind(limit)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| {
        let permit: i64 = r.try_get(9)?;
        Ok(AccessEventRow {
            id: r.try_get(0)?,
            subject_id: r.try_get(1)?,
            actor_id: r.try_get(2)?,
            actor_role: r.try_get(3)?,
            actor_name: r.try_get(4)?,
            action: r.try_get(5)?,
            resource: r.try_get(6)?,
            category: r.try_get(7)?,
            purpose: r.try_get(8)?,
            permit: permit != 0,
            reason: r.try_get(10)?,
            basis: r.try_get(11)?,
            at_ms: r.try_get(12)?,
            log_idx: crate::log::get_u64(r, 13)?,
        })
    })
    .collect()
}
