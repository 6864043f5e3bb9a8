//! Refunds (seed 000), ratings (seed 002) and supervision metrics (SUP-METRICS).

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Value, json};
use tianping_care::event::PaymentPurpose;
use tianping_care::supervision::{self, Metrics, Payment, Refund, Sums};
use tianping_identity::consent::Purpose;
use tianping_identity::role::Role;
use tianping_store::care::{self as rows, CareEffect, ConsultationRow, RatingRow};
use tianping_store::identity as id_rows;
use tianping_store::vault::Effect;

use super::{Care, CareError, Result, action_content};
use crate::identity::access::Principal;
use crate::log::now_ms;

/// A patient's consultation as their own pages list it.
#[derive(Debug, Clone, Serialize)]
pub struct MyConsultation {
    pub id: String,
    pub consultation: String,
    pub org_id: String,
    pub org_name: String,
    pub doctor: String,
    pub doctor_name: String,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    pub rated: bool,
}

/// Metrics of one institution or doctor.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsRow {
    pub id: String,
    pub name: String,
    #[serde(flatten)]
    pub metrics: Metrics,
}

#[derive(Debug, Clone, Serialize)]
pub struct SupervisionReport {
    pub generated_ms: i64,
    pub institutions: Vec<MetricsRow>,
    pub doctors: Vec<MetricsRow>,
}

impl Care {
    /// The vault subjects a person's consultations can be filed under: their account, and the keyed
    /// hash of their resident ID for consultations reported before they had an account here.
    async fn subjects_of(&self, account: &str) -> Result<Vec<String>> {
        let mut out = vec![account.to_owned()];
        if let Some(a) = id_rows::account(self.db(), account).await?
            && let Some(h) = a.id_hash
        {
            out.push(format!("patient:{}", hex::encode(h)));
        }
        Ok(out)
    }

    async fn consultations_of(&self, account: &str) -> Result<Vec<ConsultationRow>> {
        let mut all = Vec::new();
        for s in self.subjects_of(account).await? {
            all.extend(rows::consultations_of_patient(self.db(), &s).await?);
        }
        all.sort_by(|a, b| b.started_ms.cmp(&a.started_ms).then_with(|| a.id.cmp(&b.id)));
        Ok(all)
    }

    /// The consultations of the signed-in patient.
    pub async fn my_consultations(&self, who: &Principal) -> Result<Vec<MyConsultation>> {
        let mut out = Vec::new();
        // A patient sees the same few institutions and doctors again and again: look each up once.
        let mut names: HashMap<String, String> = HashMap::new();
        for c in self.consultations_of(&who.id).await? {
            if !names.contains_key(&c.org_id) {
                let n = id_rows::org(self.db(), &c.org_id).await?.map(|o| o.name);
                names.insert(c.org_id.clone(), n.unwrap_or_default());
            }
            if !names.contains_key(&c.doctor_id) {
                let n = id_rows::account(self.db(), &c.doctor_id)
                    .await?
                    .map(|a| a.display_name);
                names.insert(c.doctor_id.clone(), n.unwrap_or_default());
            }
            let (org_name, doctor_name) = (names[&c.org_id].clone(), names[&c.doctor_id].clone());
            out.push(MyConsultation {
                rated: rows::rating(self.db(), &c.id).await?.is_some(),
                id: c.id,
                consultation: c.reference,
                org_id: c.org_id,
                org_name,
                doctor: c.doctor_id,
                doctor_name,
                started_ms: c.started_ms,
                ended_ms: c.ended_ms,
            });
        }
        Ok(out)
    }

    /// The fees `patient` paid for consultations with `doctor`, to refund (seed 000), with the receipts
    /// (log entries) of each payment. Payment data is personal: the decision point decides (and
    /// records) whether `who` may see the patient's data for a dispute.
    pub async fn refund(&self, who: &Principal, patient: &str, doctor: &str) -> Result<Refund> {
        id_rows::account(self.db(), patient)
            .await?
            .ok_or(CareError::NotFound)?;
        self.identity()
            .authorize_export(who, patient, Purpose::Dispute)
            .await?;
        let mut payments = Vec::new();
        for s in self.subjects_of(patient).await? {
            for (consultation, doc, purpose, fee, occurred, idx) in
                rows::payments_of_patient(self.db(), &s).await?
            {
                let purpose = PaymentPurpose::parse(&purpose)
                    .ok_or_else(|| CareError::Storage(format!("payment purpose {purpose:?}")))?;
                payments.push(Payment {
                    consultation,
                    doctor: doc,
                    purpose,
                    fee_fen: fee,
                    occurred_ms: u64::try_from(occurred).unwrap_or(0),
                    log_index: idx,
                });
            }
        }
        Ok(supervision::refund(&payments, doctor))
    }

    /// A patient rates the doctor and the institution of one of their ended consultations, once
    /// (seed 002: medical evaluation). The comment is kept encrypted in the rating's log entry.
    pub async fn rate(
        &self,
        who: &Principal,
        consultation_id: &str,
        doctor_score: i64,
        org_score: i64,
        comment: Option<&str>,
    ) -> Result<RatingRow> {
        if !(1..=5).contains(&doctor_score) || !(1..=5).contains(&org_score) {
            return Err(CareError::BadRequest("scores are 1 to 5".into()));
        }
        if comment.is_some_and(|c| c.chars().count() > 1000) {
            return Err(CareError::BadRequest(
                "a comment is at most 1,000 characters".into(),
            ));
        }
        if who.role != Role::Patient {
            return Err(CareError::Forbidden(
                "patients rate their own consultations".into(),
            ));
        }
        let _one_at_a_time = self.inner.writes.lock().await;
        let c = rows::consultation(self.db(), consultation_id)
            .await?
            .ok_or(CareError::NotFound)?;
        if !self.subjects_of(&who.id).await?.contains(&c.patient_subject) {
            return Err(CareError::Forbidden(
                "only the consultation's patient may rate it".into(),
            ));
        }
        if c.ended_ms.is_none() {
            return Err(CareError::Conflict(
                "a consultation is rated after it has ended".into(),
            ));
        }
        if rows::rating(self.db(), &c.id).await?.is_some() {
            return Err(CareError::Conflict(
                "this consultation has already been rated".into(),
            ));
        }
        let row = RatingRow {
            consultation_id: c.id.clone(),
            patient_account: who.id.clone(),
            doctor_id: c.doctor_id.clone(),
            org_id: c.org_id.clone(),
            doctor_score,
            org_score,
            at_ms: now_ms() as i64,
            log_idx: 0,
        };
        let content = action_content(
            "rating",
            json!({ "consultation": c.id, "doctor": c.doctor_id, "org": c.org_id,
                    "doctor_score": doctor_score, "org_score": org_score, "comment": comment }),
        );
        self.identity()
            .record(
                "care.rating",
                &who.id,
                &content,
                vec![Effect::Care(CareEffect::Rating(Box::new(row)))],
            )
            .await?;
        rows::rating(self.db(), &c.id).await?.ok_or(CareError::NotFound)
    }

    /// Supervision metrics per institution and per doctor (regulators and operators).
    pub async fn supervision(&self, who: &Principal) -> Result<SupervisionReport> {
        if !matches!(who.role, Role::Regulator | Role::Operator) {
            return Err(CareError::Forbidden(
                "supervision metrics are for regulators".into(),
            ));
        }
        let metrics = |rows: Vec<rows::SumsRow>| -> Vec<MetricsRow> {
            rows.into_iter()
                .map(|(id, name, v)| MetricsRow {
                    metrics: Metrics::from_sums(&sums(v)),
                    id,
                    name,
                })
                .collect()
        };
        let institutions = metrics(rows::supervision_sums(self.db(), false).await?);
        let doctors = metrics(rows::supervision_sums(self.db(), true).await?);
        Ok(SupervisionReport {
            generated_ms: now_ms() as i64,
            institutions,
            doctors,
        })
    }
}

fn sums(v: [i64; 9]) -> Sums {
    Sums {
        consultations: v[0],
        ended: v[1],
        with_response: v[2],
        response_ms_total: v[3],
        terminated: v[4],
        referred: v[5],
        findings: v[6],
        ratings: v[7],
        rating_total: v[8],
    }
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.4}")).unwrap_or_default()
}

/// The report as CSV: one line per institution or doctor.
pub fn report_csv(r: &SupervisionReport) -> String {
    let mut out = String::from(
        "level,id,name,consultations,ended,mean_response_s,termination_rate,referral_rate,findings_per_100,mean_rating,ratings\n",
    );
    for (level, rows) in [("institution", &r.institutions), ("doctor", &r.doctors)] {
        for m in rows {
            let name = m.name.replace('"', "\"\"");
            out.push_str(&format!(
                "{level},{},\"{name}\",{},{},{},{},{},{},{},{}\n",
                m.id,
                m.metrics.consultations,
                m.metrics.ended,
                opt(m.metrics.mean_response_s),
                opt(m.metrics.termination_rate),
                opt(m.metrics.referral_rate),
                opt(m.metrics.findings_per_100),
                opt(m.metrics.mean_rating),
                m.metrics.ratings,
            ));
        }
    }
    out
}

/// The report as FHIR R5 `MeasureReport`s (one per institution and doctor, type `summary`) in a
/// `collection` Bundle, so that regulators' FHIR tooling can take it in.
pub fn report_fhir(r: &SupervisionReport) -> Value {
    let instant = tianping_identity::time::format_instant(u64::try_from(r.generated_ms).unwrap_or(0));
    let date = tianping_identity::time::format_date(u64::try_from(r.generated_ms).unwrap_or(0));
    let group = |code: &str, value: Option<f64>, unit: &str| {
        let mut g = json!({ "code": { "coding": [{ "system": "https://tianping.org/fhir/CodeSystem/sup-metrics", "code": code }], "text": code } });
        if let Some(v) = value {
            g["measureScoreQuantity"] = json!({ "value": v, "unit": unit });
        }
        g
    };
    let mut entries = Vec::new();
    for (level, rows) in [("Organization", &r.institutions), ("Practitioner", &r.doctors)] {
        for m in rows {
            let x = &m.metrics;
            entries.push(json!({ "resource": {
                "resourceType": "MeasureReport",
                "status": "complete",
                "type": "summary",
                "measure": "https://tianping.org/fhir/Measure/sup-metrics",
                "subject": { "reference": format!("{level}/{}", m.id), "display": m.name },
                "date": instant,
                "period": { "end": date },
                "group": [
                    group("consultations", Some(x.consultations as f64), "1"),
                    group("mean-response-time", x.mean_response_s, "s"),
                    group("termination-rate", x.termination_rate, "1"),
                    group("referral-rate", x.referral_rate, "1"),
                    group("findings-per-100", x.findings_per_100, "1"),
                    group("mean-rating", x.mean_rating, "1"),
                ]
            }}));
        }
    }
    json!({ "resourceType": "Bundle", "type": "collection", "timestamp": instant, "entry": entries })
}
