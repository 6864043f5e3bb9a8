//! Who is who: organisations, accounts and their roles, passwords (argon2id), server-side sessions,
//! TOTP second factors with recovery codes, doctor verification, sanctions (suspension and
//! blacklist), consent, and the one access decision point ([`access`]).
//!
//! The rules themselves are pure and live in `tianping-identity`; this module stores, seals and
//! logs. Decisions the law wants on the record (verifications, sanctions, notices, consents,
//! access decisions) are log entries whose effects the sequencer applies in the same transaction.

pub mod access;
pub mod consent;
pub mod oversight;

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tianping_identity::ids::{
    DisplayName, LicenceNumber, LoginName, ParseError, Password, Phone, ResidentId,
};
use tianping_identity::role::{OrgKind, Role};
use tianping_identity::{recovery, totp};
use tianping_store::identity::{self as rows, AccountRow, DoctorRow, OrgRow, SessionRow};
use tianping_store::vault::Effect;
use tianping_store::{Db, StoreError};
use zeroize::Zeroizing;

use crate::config::IdentitySettings;
use crate::keys::random_bytes;
use crate::log::now_ms;
use crate::vault::{Vault, VaultError};

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{0}")]
    Invalid(#[from] ParseError),
    #[error("{0}")]
    Consent(#[from] tianping_identity::consent::ConsentError),
    #[error("{0}")]
    BadRequest(String),
    #[error("this login name is taken")]
    LoginTaken,
    #[error("an account with this identity document or phone number exists")]
    IdentityTaken,
    #[error("this licence number is registered to another account")]
    LicenceTaken,
    #[error("this person, licence or phone number is blacklisted")]
    Blacklisted,
    #[error("wrong login name or password")]
    BadCredentials,
    #[error("too many failed attempts; the account is locked for now")]
    Locked,
    #[error("wrong or reused second-factor code")]
    BadSecondFactor,
    #[error("the account is suspended or blacklisted")]
    Suspended,
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    #[error("access denied: {0}")]
    Denied(tianping_identity::policy::Reason),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("storage failed: {0}")]
    Storage(String),
}

impl From<StoreError> for IdentityError {
    fn from(e: StoreError) -> Self {
        IdentityError::Storage(e.to_string())
    }
}

impl From<crate::log::AppendError> for IdentityError {
    fn from(e: crate::log::AppendError) -> Self {
        IdentityError::Vault(VaultError::Append(e))
    }
}

pub type Result<T, E = IdentityError> = std::result::Result<T, E>;

/// Handle to identity services. Cheap to clone.
#[derive(Clone)]
pub struct Identity {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    vault: Vault,
    settings: IdentitySettings,
    /// Serialises notice publication (the version check and the entry that records it).
    notices: tokio::sync::Mutex<()>,
}

/// A new account, as sign-up or an operator submits it.
pub struct SignUp {
    pub login: LoginName,
    pub display_name: DisplayName,
    pub password: Password,
    pub role: Role,
    pub resident_id: Option<ResidentId>,
    pub phone: Option<Phone>,
    /// For doctors: what the operator will verify (IDM-25).
    pub doctor: Option<DoctorApplication>,
    /// Organisations the account belongs to.
    pub orgs: Vec<String>,
}

pub struct DoctorApplication {
    pub licence: LicenceNumber,
    pub institution_id: String,
    pub specialty: String,
    pub practice_years: u32,
    /// What the doctor submitted as evidence (document references).
    pub evidence: Vec<String>,
}

/// Result of the password step of a login.
#[derive(Debug, Clone)]
pub enum LoginStep {
    /// Signed in (no second factor needed for this role).
    Done(String),
    /// Password right; the second factor comes next (or its enrolment, if `enrolled` is false).
    SecondFactor { account: String, enrolled: bool },
}

/// A session as a request sees it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub account: AccountRow,
    pub csrf: String,
    /// The second factor was given (or is not required for the role).
    pub mfa_ok: bool,
}

/// A fresh session: the cookie value (shown once, stored only as a hash) and its CSRF token.
pub struct NewSession {
    pub cookie: Zeroizing<String>,
    pub csrf: String,
}

/// A TOTP enrolment in progress.
pub struct Enrolment {
    pub secret_base32: Zeroizing<String>,
    pub uri: Zeroizing<String>,
}

/// What is stored for a secret the server only needs to recognise (session ids, recovery codes).
fn sha256(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

const ID_LABEL: &str = "identity.resident_id";
const TOTP_LABEL: &str = "identity.totp";

impl Identity {
    pub fn new(db: Db, vault: Vault, settings: IdentitySettings) -> Identity {
        Identity {
            inner: Arc::new(Inner {
                db,
                vault,
                settings,
                notices: tokio::sync::Mutex::new(()),
            }),
        }
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn vault(&self) -> &Vault {
        &self.inner.vault
    }

    pub fn settings(&self) -> &IdentitySettings {
        &self.inner.settings
    }

    /// Keyed hash of an identifier (never stored in the clear).
    fn id_hash(&self, domain: &str, value: &str) -> Vec<u8> {
        self.inner
            .vault
            .log()
            .keyed_hash(domain, value.as_bytes())
            .to_vec()
    }

    /// The keyed hash under which a resident ID is known here (accounts, blacklist, consultations).
    pub fn resident_id_hash(&self, id: &tianping_identity::ids::ResidentId) -> Vec<u8> {
        self.id_hash("resident_id", id.as_str())
    }

    /// Append an identity event to the log with its effects; returns the entry's index.
    pub(crate) async fn record(
        &self,
        kind: &str,
        actor: &str,
        content: &Value,
        effects: Vec<Effect>,
    ) -> Result<u64> {
        let source = crate::vault::source_name(actor);
        let receipt = self.inner.vault.event(kind, &source, content, effects).await?;
        Ok(receipt.receipt.index)
    }

    // ---- organisations

    pub async fn create_org(&self, name: &str, kind: OrgKind) -> Result<OrgRow> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(IdentityError::BadRequest(
                "an organisation name is 1 to 100 characters".into(),
            ));
        }
        let row = OrgRow {
            id: new_id(),
            name: name.to_owned(),
            kind: kind.as_str().to_owned(),
            status: "active".into(),
            created_ms: now_ms() as i64,
        };
        let mut tx = self.inner.db.begin().await?;
        rows::insert_org(&mut tx, &row).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(row)
    }

    pub async fn org(&self, id: &str) -> Result<Option<OrgRow>> {
        Ok(rows::org(&self.inner.db, id).await?)
    }

    pub async fn orgs(&self) -> Result<Vec<OrgRow>> {
        Ok(rows::orgs(&self.inner.db).await?)
    }

    // ---- accounts

    /// Create an account. Refused when the login is taken, when the identity document or phone
    /// number belongs to another account, or when any identifier (ID, phone, licence) is
    /// blacklisted — so a blacklisted person cannot come back under a new account.
    pub async fn register(&self, s: SignUp) -> Result<String> {
        let id_hash = s
            .resident_id
            .as_ref()
            .map(|r| self.id_hash("resident_id", r.as_str()));
        let phone_hash = s.phone.as_ref().map(|p| self.id_hash("phone", p.as_str()));
        let licence = s.doctor.as_ref().map(|d| d.licence.as_str().to_owned());
        let db = &self.inner.db;
        if rows::blacklisted_identifier(db, id_hash.as_deref(), licence.as_deref(), phone_hash.as_deref())
            .await?
        {
            return Err(IdentityError::Blacklisted);
        }
        let (login_taken, id_taken, phone_taken) =
            rows::identifiers_taken(db, s.login.as_str(), id_hash.as_deref(), phone_hash.as_deref()).await?;
        if login_taken {
            return Err(IdentityError::LoginTaken);
        }
        if id_taken || phone_taken {
            return Err(IdentityError::IdentityTaken);
        }
        if let Some(l) = &licence
            && rows::licence_taken(db, l).await?
        {
            return Err(IdentityError::LicenceTaken);
        }
        if let Some(d) = &s.doctor {
            let org = rows::org(db, &d.institution_id)
                .await?
                .ok_or_else(|| IdentityError::BadRequest("the institution named does not exist".into()))?;
            let kind: OrgKind = org.kind.parse()?;
            if !kind.is_medical_institution() {
                return Err(IdentityError::BadRequest(
                    "a doctor practises at a medical institution or internet hospital".into(),
                ));
            }
        }
        for org in &s.orgs {
            if rows::org(db, org).await?.is_none() {
                return Err(IdentityError::BadRequest(
                    "an organisation named does not exist".into(),
                ));
            }
        }
        let id = new_id();
        let id_sealed = match &s.resident_id {
            Some(r) => Some(
                self.inner
                    .vault
                    .seal_secret(&format!("{ID_LABEL}/{id}"), r.as_str().as_bytes())
                    .await?,
            ),
            None => None,
        };
        let password_hash = hash_password(&s.password).await?;
        let now = now_ms() as i64;
        let row = AccountRow {
            subject: self.inner.vault.subject_id(&id)?,
            id: id.clone(),
            login: s.login.as_str().to_owned(),
            display_name: s.display_name.as_str().to_owned(),
            role: s.role.as_str().to_owned(),
            password_hash,
            id_hash,
            id_sealed,
            phone_hash,
            status: "active".into(),
            totp_secret: None,
            totp_enabled: false,
            totp_last_step: None,
            failed_logins: 0,
            locked_until_ms: None,
            created_ms: now,
        };
        let mut tx = db.begin().await?;
        rows::insert_account(&mut tx, &row).await.map_err(|e| match e {
            // A concurrent sign-up with the same identifiers lost the race.
            StoreError::Db(sqlx::Error::Database(d)) if d.is_unique_violation() => IdentityError::LoginTaken,
            e => e.into(),
        })?;
        for org in &s.orgs {
            rows::add_membership(&mut tx, &id, org, now).await?;
        }
        if let Some(d) = s.doctor {
            rows::add_membership(&mut tx, &id, &d.institution_id, now).await?;
            rows::insert_doctor(
                &mut tx,
                &DoctorRow {
                    account_id: id.clone(),
                    licence_no: d.licence.as_str().to_owned(),
                    institution_id: d.institution_id,
                    specialty: d.specialty,
                    practice_years: i64::from(d.practice_years),
                    evidence: serde_json::to_string(&d.evidence).unwrap_or_else(|_| "[]".into()),
                    status: "pending".into(),
                    note: None,
                    submitted_ms: now,
                    decided_by: None,
                    decided_ms: None,
                    expires_ms: None,
                },
            )
            .await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(id)
    }

    pub async fn account(&self, id: &str) -> Result<AccountRow> {
        rows::account(&self.inner.db, id)
            .await?
            .ok_or(IdentityError::NotFound)
    }

    pub async fn account_by_login(&self, login: &str) -> Result<Option<AccountRow>> {
        Ok(rows::account_by_login(&self.inner.db, login).await?)
    }

    /// The resident ID number of an account, decrypted (for the account holder's own export).
    pub async fn resident_id(&self, account: &AccountRow) -> Result<Option<ResidentId>> {
        let Some(sealed) = &account.id_sealed else {
            return Ok(None);
        };
        let plain = self
            .inner
            .vault
            .open_secret(&format!("{ID_LABEL}/{}", account.id), sealed)
            .await?;
        let s = std::str::from_utf8(&plain)
            .map_err(|_| IdentityError::Storage("sealed ID is not text".into()))?;
        Ok(Some(ResidentId::parse(s)?))
    }

    /// Record that `guardian` is the guardian of `ward` (an operator's decision, checked against
    /// documents outside the platform; PIPL-31). It is a log entry: guardians may see and consent
    /// for their wards.
    pub async fn add_guardianship(&self, by: &str, guardian: &str, ward: &str) -> Result<()> {
        let g = self.account(guardian).await?;
        let w = self.account(ward).await?;
        if g.role != Role::Guardian.as_str() || g.id == w.id {
            return Err(IdentityError::BadRequest(
                "only a guardian account can be linked, to another account".into(),
            ));
        }
        let content = serde_json::json!({ "guardian": g.id, "ward": w.id, "by": by });
        self.record(
            "identity.guardianship",
            by,
            &content,
            vec![Effect::Identity(
                tianping_store::identity::IdentityEffect::Guardianship {
                    guardian: g.id,
                    ward: w.id,
                    ms: now_ms() as i64,
                },
            )],
        )
        .await?;
        Ok(())
    }

    // ---- login

    /// The password step of a login, with lockout after repeated failures. Unknown logins cost
    /// the same password hash as known ones.
    pub async fn login(&self, login: &str, password: &str) -> Result<LoginStep> {
        let now = now_ms() as i64;
        let account = rows::account_by_login(&self.inner.db, &login.trim().to_ascii_lowercase()).await?;
        let Some(account) = account else {
            let _ = verify_password(DUMMY_HASH, password).await;
            return Err(IdentityError::BadCredentials);
        };
        if account.locked_until_ms.is_some_and(|t| t > now) {
            return Err(IdentityError::Locked);
        }
        if !verify_password(&account.password_hash, password).await? {
            self.count_failure(&account.id).await?;
            return Err(IdentityError::BadCredentials);
        }
        if account.status != "active" {
            return Err(IdentityError::Suspended);
        }
        let role: Role = account.role.parse()?;
        if role.is_staff() {
            return Ok(LoginStep::SecondFactor {
                account: account.id,
                enrolled: account.totp_enabled,
            });
        }
        rows::login_succeeded(&self.inner.db, &account.id).await?;
        Ok(LoginStep::Done(account.id))
    }

    async fn count_failure(&self, account: &str) -> Result<()> {
        let until = now_ms() as i64 + (self.inner.settings.lockout_minutes * 60_000) as i64;
        rows::login_failed(
            &self.inner.db,
            account,
            self.inner.settings.max_failed_logins,
            until,
        )
        .await?;
        Ok(())
    }

    /// Start (or resume) a TOTP enrolment: a new secret, stored sealed until the first good code
    /// confirms it. Showing the page again shows the same secret; an enrolled account gets none.
    pub async fn begin_enrolment(&self, account: &str) -> Result<Enrolment> {
        let a = self.account(account).await?;
        if a.totp_enabled {
            return Err(IdentityError::BadRequest(
                "the second factor is already set up".into(),
            ));
        }
        let secret = match self.totp_secret(&a).await? {
            Some(pending) => pending,
            None => {
                let secret = totp::TotpSecret::from_bytes(&*random_bytes::<20>())?;
                let sealed = self
                    .inner
                    .vault
                    .seal_secret(&format!("{TOTP_LABEL}/{account}"), secret.as_bytes())
                    .await?;
                rows::set_totp_secret(&self.inner.db, account, &sealed).await?;
                secret
            }
        };
        Ok(Enrolment {
            secret_base32: Zeroizing::new(secret.to_base32()),
            uri: Zeroizing::new(totp::otpauth_uri(
                &secret,
                &self.inner.settings.totp_issuer,
                &a.login,
            )),
        })
    }

    async fn totp_secret(&self, a: &AccountRow) -> Result<Option<totp::TotpSecret>> {
        let Some(sealed) = &a.totp_secret else {
            return Ok(None);
        };
        let plain = self
            .inner
            .vault
            .open_secret(&format!("{TOTP_LABEL}/{}", a.id), sealed)
            .await?;
        Ok(Some(totp::TotpSecret::from_bytes(&plain)?))
    }

    /// Check a TOTP code (or, once enrolled, a recovery code). The first good code confirms an
    /// enrolment and returns fresh recovery codes (shown once). Failures count towards lockout.
    pub async fn second_factor(&self, account: &str, code: &str) -> Result<Option<Vec<String>>> {
        let a = self.account(account).await?;
        let now = now_ms();
        if a.locked_until_ms.is_some_and(|t| t > now as i64) {
            return Err(IdentityError::Locked);
        }
        if a.status != "active" {
            return Err(IdentityError::Suspended);
        }
        let Some(secret) = self.totp_secret(&a).await? else {
            return Err(IdentityError::BadSecondFactor);
        };
        let last = a.totp_last_step.and_then(|s| u64::try_from(s).ok());
        if let Some(step) = totp::verify(&secret, code.trim(), now, last) {
            let mut tx = self.inner.db.begin().await?;
            let fresh = rows::use_totp_step(&mut tx, account, step as i64).await?;
            if !fresh {
                tx.rollback().await.map_err(StoreError::from)?;
                self.count_failure(account).await?;
                return Err(IdentityError::BadSecondFactor);
            }
            let codes = if a.totp_enabled {
                None
            } else {
                let (codes, hashes) = new_recovery_codes();
                rows::replace_recovery_codes(&mut tx, account, &hashes).await?;
                Some(codes)
            };
            tx.commit().await.map_err(StoreError::from)?;
            rows::login_succeeded(&self.inner.db, account).await?;
            return Ok(codes);
        }
        if a.totp_enabled
            && let Some(norm) = recovery::normalise_recovery_code(code)
            && rows::use_recovery_code(&self.inner.db, account, &sha256(&norm), now as i64).await?
        {
            rows::login_succeeded(&self.inner.db, account).await?;
            return Ok(None);
        }
        self.count_failure(account).await?;
        Err(IdentityError::BadSecondFactor)
    }

    // ---- sessions

    /// Start a session. Every sign-in and every change of privilege (second factor given) starts a
    /// new session id and ends the one presented, so a fixed session id never gains rights.
    pub async fn start_session(
        &self,
        account: &str,
        mfa_ok: bool,
        replacing: Option<&str>,
    ) -> Result<NewSession> {
        let cookie = Zeroizing::new(hex::encode(*random_bytes::<32>()));
        let csrf = hex::encode(*random_bytes::<32>());
        let now = now_ms() as i64;
        let row = SessionRow {
            account_id: account.to_owned(),
            csrf: csrf.clone(),
            mfa_ok,
            expires_ms: now + (self.inner.settings.session_minutes * 60_000) as i64,
        };
        let mut tx = self.inner.db.begin().await?;
        if let Some(old) = replacing {
            rows::delete_session(&mut tx, &sha256(old)).await?;
        }
        rows::insert_session(&mut tx, &sha256(&cookie), &row, now).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(NewSession { cookie, csrf })
    }

    /// The live session for a cookie value, with its account; `None` when unknown, expired, or
    /// when the account is no longer active (a takedown ends access at once).
    pub async fn session(&self, cookie: &str) -> Result<Option<SessionInfo>> {
        if cookie.len() != 64 || !cookie.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let Some(s) = rows::session(&self.inner.db, &sha256(cookie), now_ms() as i64).await? else {
            return Ok(None);
        };
        let account = self.account(&s.account_id).await?;
        if account.status != "active" {
            return Ok(None);
        }
        Ok(Some(SessionInfo {
            account,
            csrf: s.csrf,
            mfa_ok: s.mfa_ok,
        }))
    }

    pub async fn end_session(&self, cookie: &str) -> Result<()> {
        let mut tx = self.inner.db.begin().await?;
        rows::delete_session(&mut tx, &sha256(cookie)).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}

/// Ten recovery codes: the display forms and the hashes stored.
fn new_recovery_codes() -> (Vec<String>, Vec<Vec<u8>>) {
    (0..10)
        .map(|_| {
            let code = recovery::format_recovery_code(&random_bytes::<7>());
            let norm = recovery::normalise_recovery_code(&code).unwrap_or_else(|| code.clone());
            let hash = sha256(&norm);
            (code, hash)
        })
        .unzip()
}

/// An argon2id hash of a random password, verified against when the login is unknown so that
/// timing does not tell which logins exist.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$qLmUWVeX2ISs1Sw9YJeZmKP0y1nJHN7MNgz3FLuwEqs";

async fn hash_password(p: &Password) -> Result<String> {
    let pw = Zeroizing::new(p.expose().as_bytes().to_vec());
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(&pw)
            .map(|h| h.to_string())
            .map_err(|e| IdentityError::Storage(format!("password hashing failed: {e}")))
    })
    .await
    .map_err(|e| IdentityError::Storage(e.to_string()))?
}

async fn verify_password(stored: &str, password: &str) -> Result<bool> {
    let stored = stored.to_owned();
    let pw = Zeroizing::new(password.as_bytes().to_vec());
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        Argon2::default().verify_password(&pw, &parsed).is_ok()
    })
    .await
    .map_err(|e| IdentityError::Storage(e.to_string()))
}
