//! The 24/7 duty queue (NEG-LIST, seed 003): red-flag alerts raised by patients' messages, who is on
//! duty for them, acknowledgement deadlines and escalation. An alert is raised by the log entry of the
//! message that matched (so it exists exactly when the message does); every action on it —
//! acknowledge, resolve, escalate — is a log entry of its own whose effect changes the alert, and
//! only while the alert is still in the state the action started from.
//!
//! Escalation: level 1 is the first person on the organisation's roster; when the deadline passes
//! unacknowledged, the duty clock ([`Care::escalate_overdue`]) moves it to level 2, the second person,
//! with a new deadline; if that passes too, to level 3, everyone on duty and the platform's operators.

use serde_json::json;
use tianping_identity::role::Role;
use tianping_store::care::{self as rows, AlertActionRow, AlertRow, CareEffect};
use tianping_store::identity as id_rows;
use tianping_store::vault::Effect;

use super::{Care, CareError, Result, action_content};
use crate::identity::access::Principal;
use crate::log::now_ms;

/// The highest escalation level: everyone on duty and the operators.
pub const MAX_LEVEL: i64 = 3;

/// What a person on duty does with an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertAction {
    /// "I have it": stops the escalation clock.
    Acknowledge,
    /// The situation is handled (e.g. the patient was called and referred).
    Resolve,
}

impl AlertAction {
    pub fn parse(s: &str) -> Option<AlertAction> {
        match s {
            "acknowledge" => Some(AlertAction::Acknowledge),
            "resolve" => Some(AlertAction::Resolve),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            AlertAction::Acknowledge => "acknowledge",
            AlertAction::Resolve => "resolve",
        }
    }
}

/// The account that stands for the duty clock in the log.
pub const DUTY_CLOCK: &str = "tianping:duty-clock";

impl Care {
    /// Alerts not yet resolved that `who` may see, most urgent first: staff and doctors of the
    /// organisations they belong to; operators and regulators every one.
    pub async fn duty_queue(&self, who: &Principal) -> Result<Vec<AlertRow>> {
        let orgs = match who.role {
            Role::Operator | Role::Regulator => None,
            Role::InstitutionStaff | Role::Doctor => Some(who.orgs.as_slice()),
            _ => {
                return Err(CareError::Forbidden(
                    "the duty queue is for people on duty".into(),
                ));
            }
        };
        Ok(rows::open_alerts(self.db(), orgs).await?)
    }

    /// One alert with its history, if `who` may see it.
    pub async fn alert(&self, who: &Principal, id: &str) -> Result<(AlertRow, Vec<AlertActionRow>)> {
        let alert = rows::alert(self.db(), id).await?.ok_or(CareError::NotFound)?;
        self.may_act(who, &alert, false).await?;
        let actions = rows::alert_actions(self.db(), id).await?;
        Ok((alert, actions))
    }

    async fn may_act(&self, who: &Principal, a: &AlertRow, acting: bool) -> Result<()> {
        let ok = match who.role {
            Role::Operator => true,
            Role::Regulator => !acting,
            Role::InstitutionStaff | Role::Doctor => who.orgs.contains(&a.org_id),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(CareError::Forbidden(
                "this alert is for the organisation's people on duty".into(),
            ))
        }
    }

    /// Acknowledge or resolve an alert. `note` is kept encrypted in the action's log entry.
    pub async fn act_on_alert(
        &self,
        who: &Principal,
        id: &str,
        action: AlertAction,
        note: Option<&str>,
    ) -> Result<AlertRow> {
        if note.is_some_and(|n| n.chars().count() > 2000) {
            return Err(CareError::BadRequest("a note is at most 2,000 characters".into()));
        }
        let _one_at_a_time = self.inner.writes.lock().await;
        let alert = rows::alert(self.db(), id).await?.ok_or(CareError::NotFound)?;
        self.may_act(who, &alert, true).await?;
        let to = match (action, alert.status.as_str()) {
            (AlertAction::Acknowledge, "open") => "acknowledged",
            (AlertAction::Resolve, "open" | "acknowledged") => "resolved",
            (_, from) => {
                return Err(CareError::Conflict(format!(
                    "the alert is {from}; it cannot be {}d now",
                    action.as_str()
                )));
            }
        };
        let now = now_ms() as i64;
        let effect = CareEffect::AlertAction {
            action: AlertActionRow {
                alert_id: alert.id.clone(),
                at_ms: now,
                action: action.as_str().into(),
                by_account: who.id.clone(),
                assignee: None,
                log_idx: 0,
            },
            from_status: alert.status.clone(),
            to_status: to.into(),
            from_level: alert.level,
            to_level: alert.level,
            deadline_ms: alert.deadline_ms,
        };
        let content = action_content(
            action.as_str(),
            json!({ "alert": alert.id, "consultation": alert.consultation_id, "by": who.id, "note": note }),
        );
        self.identity()
            .record("care.alert_action", &who.id, &content, vec![Effect::Care(effect)])
            .await?;
        rows::alert(self.db(), id).await?.ok_or(CareError::NotFound)
    }

    /// The duty clock: escalate every open alert past its deadline one level (to the roster's next
    /// person, with a new deadline). Returns the alerts escalated.
    pub async fn escalate_overdue(&self, now: i64) -> Result<Vec<String>> {
        let _one_at_a_time = self.inner.writes.lock().await;
        let mut done = Vec::new();
        for a in rows::overdue_alerts(self.db(), now).await? {
            if a.level >= MAX_LEVEL {
                continue;
            }
            let level = a.level + 1;
            let roster = rows::duty(self.db(), &a.org_id).await?;
            // Level 2: the second person on the roster; level 3: everyone (no single assignee).
            let assignee = (level == 2).then(|| roster.get(1).cloned()).flatten();
            let deadline = now + a.ack_minutes * 60_000;
            let effect = CareEffect::AlertAction {
                action: AlertActionRow {
                    alert_id: a.id.clone(),
                    at_ms: now,
                    action: "escalate".into(),
                    by_account: DUTY_CLOCK.into(),
                    assignee: assignee.clone(),
                    log_idx: 0,
                },
                from_status: "open".into(),
                to_status: "open".into(),
                from_level: a.level,
                to_level: level,
                deadline_ms: deadline,
            };
            let content = action_content(
                "escalate",
                json!({ "alert": a.id, "consultation": a.consultation_id, "level": level,
                        "assignee": assignee, "deadline_ms": deadline }),
            );
            self.identity()
                .record(
                    "care.alert_action",
                    DUTY_CLOCK,
                    &content,
                    vec![Effect::Care(effect)],
                )
                .await?;
            done.push(a.id);
        }
        Ok(done)
    }

    /// Set an organisation's duty roster (accounts in order: first on duty, then the escalation).
    /// Each must be a staff member or doctor of the organisation.
    pub async fn set_duty(&self, who: &Principal, org: &str, accounts: &[String]) -> Result<()> {
        if who.role != Role::Operator {
            return Err(CareError::Forbidden("operators set duty rosters".into()));
        }
        if accounts.is_empty() || accounts.len() > 20 {
            return Err(CareError::BadRequest("a roster names 1 to 20 accounts".into()));
        }
        id_rows::org(self.db(), org).await?.ok_or(CareError::NotFound)?;
        for a in accounts {
            let acc = id_rows::account(self.db(), a)
                .await?
                .ok_or_else(|| CareError::BadRequest(format!("no account {a}")))?;
            let on_duty_role = matches!(acc.role.as_str(), "institution_staff" | "doctor");
            let member = id_rows::active_memberships(self.db(), a)
                .await?
                .iter()
                .any(|o| o == org);
            if !on_duty_role || !member {
                return Err(CareError::BadRequest(format!(
                    "account {a} is not a staff member or doctor of the organisation"
                )));
            }
        }
        let now = now_ms() as i64;
        let effect = CareEffect::Duty {
            org_id: org.to_owned(),
            accounts: accounts.to_vec(),
            at_ms: now,
        };
        let content = action_content("duty_roster", json!({ "org": org, "accounts": accounts }));
        self.identity()
            .record("care.duty_roster", &who.id, &content, vec![Effect::Care(effect)])
            .await?;
        Ok(())
    }

    /// Run the duty clock until the process ends.
    pub async fn run_duty_clock(self) {
        let period = std::time::Duration::from_secs(self.settings().duty_clock_seconds.max(1));
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            if let Err(e) = self.escalate_overdue(now_ms() as i64).await {
                tracing::warn!(error = %e, "duty clock: escalation failed; retrying at the next tick");
            }
        }
    }
}
