//! Supervision computed from what the store keeps: refunds of a doctor's fees (seed 000) and the
//! quantitative supervision metrics per institution and per doctor (SUP-METRICS).

use serde::Serialize;

use crate::event::PaymentPurpose;

/// A payment recorded in a consultation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Payment {
    pub consultation: String,
    /// The attending doctor's account.
    pub doctor: String,
    pub purpose: PaymentPurpose,
    pub fee_fen: i64,
    pub occurred_ms: u64,
    /// The log entry (receipt) that recorded the payment.
    pub log_index: u64,
}

/// The fees to refund for one doctor's consultations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refund {
    pub doctor: String,
    pub total_fen: i64,
    /// The consultation fees refunded, with their receipts.
    pub lines: Vec<Payment>,
    /// What the patient paid in all (top-ups excluded), for comparison.
    pub paid_all_doctors_fen: i64,
    /// What the patient topped up (not refundable here: it is the balance the fees were paid from).
    pub topped_up_fen: i64,
}

/// Only the fees the patient paid for consultations with `doctor` are refunded (seed 000: "仅退还刘某高
/// 咨询颜文伟所缴纳的费用"); other doctors' fees, drugs and top-ups are not.
pub fn refund(payments: &[Payment], doctor: &str) -> Refund {
    let mut lines: Vec<Payment> = payments
        .iter()
        .filter(|p| p.doctor == doctor && p.purpose == PaymentPurpose::ConsultationFee)
        .cloned()
        .collect();
    lines.sort_by_key(|p| (p.occurred_ms, p.log_index));
    let sum = |f: &dyn Fn(&Payment) -> bool| payments.iter().filter(|p| f(p)).map(|p| p.fee_fen).sum::<i64>();
    Refund {
        doctor: doctor.to_owned(),
        total_fen: lines.iter().map(|p| p.fee_fen).sum(),
        lines,
        paid_all_doctors_fen: sum(&|p| p.purpose != PaymentPurpose::TopUp),
        topped_up_fen: sum(&|p| p.purpose == PaymentPurpose::TopUp),
    }
}

/// Sums over the consultations of one institution or doctor, as the store aggregates them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sums {
    pub consultations: i64,
    pub ended: i64,
    pub with_response: i64,
    pub response_ms_total: i64,
    pub terminated: i64,
    pub referred: i64,
    pub findings: i64,
    pub ratings: i64,
    pub rating_total: i64,
}

/// Supervision metrics of one institution or doctor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub consultations: i64,
    pub ended: i64,
    /// Mean time from the patient's first message to the doctor's first reply, in seconds.
    pub mean_response_s: Option<f64>,
    /// Share of consultations stopped online (0–1).
    pub termination_rate: Option<f64>,
    pub referral_rate: Option<f64>,
    pub findings_per_100: Option<f64>,
    /// Mean rating (1–5) and how many ratings it rests on.
    pub mean_rating: Option<f64>,
    pub ratings: i64,
}

fn ratio(n: i64, d: i64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

impl Metrics {
    pub fn from_sums(s: &Sums) -> Metrics {
        Metrics {
            consultations: s.consultations,
            ended: s.ended,
            mean_response_s: ratio(s.response_ms_total, s.with_response).map(|v| v / 1000.0),
            termination_rate: ratio(s.terminated, s.consultations),
            referral_rate: ratio(s.referred, s.consultations),
            findings_per_100: ratio(s.findings * 100, s.consultations),
            mean_rating: ratio(s.rating_total, s.ratings),
            ratings: s.ratings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pay(c: &str, doctor: &str, purpose: PaymentPurpose, fee: i64, idx: u64) -> Payment {
        Payment {
            consultation: c.into(),
            doctor: doctor.into(),
            purpose,
            fee_fen: fee,
            occurred_ms: idx * 1000,
            log_index: idx,
        }
    }

    #[test]
    fn only_the_named_doctors_consultation_fees_are_refunded() {
        use PaymentPurpose::*;
        let ps = vec![
            pay("c1", "yan", TopUp, 100_000, 1),
            pay("c1", "yan", ConsultationFee, 30_000, 2),
            pay("c2", "li", ConsultationFee, 20_000, 3),
            pay("c3", "yan", ConsultationFee, 25_000, 4),
            pay("c3", "yan", Drug, 8_000, 5),
        ];
        let r = refund(&ps, "yan");
        assert_eq!(r.total_fen, 55_000);
        assert_eq!(
            r.lines.iter().map(|p| p.log_index).collect::<Vec<_>>(),
            vec![2, 4]
        );
        assert_eq!(r.paid_all_doctors_fen, 83_000);
        assert_eq!(r.topped_up_fen, 100_000);
        assert_eq!(refund(&ps, "nobody").total_fen, 0);
    }

    #[test]
    fn metrics_are_rates_of_the_sums() {
        let m = Metrics::from_sums(&Sums {
            consultations: 4,
            ended: 3,
            with_response: 2,
            response_ms_total: 90_000,
            terminated: 1,
            referred: 2,
            findings: 3,
            ratings: 2,
            rating_total: 9,
        });
        assert_eq!(m.mean_response_s, Some(45.0));
        assert_eq!(m.termination_rate, Some(0.25));
        assert_eq!(m.referral_rate, Some(0.5));
        assert_eq!(m.findings_per_100, Some(75.0));
        assert_eq!(m.mean_rating, Some(4.5));
        let empty = Metrics::from_sums(&Sums::default());
        assert_eq!(empty.mean_response_s, None);
        assert_eq!(empty.findings_per_100, None);
    }
}
