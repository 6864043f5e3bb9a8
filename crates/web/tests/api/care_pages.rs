//! The pages of online care, used like a browser without JavaScript: the duty queue with its
//! acknowledge and resolve forms, a patient's consultations with the rating form, the refund of one
//! doctor's fees (seed 000) with receipts, and the regulator's supervision metrics; each in both
//! languages, each form refused without its CSRF token, each page refused to the wrong role.

use reqwest::Method;
use serde_json::json;
use tianping_identity::role::{OrgKind, Role};
use tianping_store::testing::TestDb;
use tianping_web::ui::{Locale, t};

use super::Server;
use super::care::{Partner, msg, partner_token, patient, seed_000_payments, start, verified_doctor};
use super::identity::{Browser, operator, org, staff, staff_browser};

/// The message ids of the online-care section of the translations. A missing translation shows
/// as its id, so none of them may appear in a rendered page.
fn care_message_ids() -> Vec<String> {
    let mut ids = Vec::new();
    for source in [
        include_str!("../../locales/zh-CN/main.ftl"),
        include_str!("../../locales/en-US/main.ftl"),
    ] {
        let section = source
            .split_once("## Online care")
            .expect("the online-care section")
            .1;
        for line in section.lines() {
            if line.starts_with(|c: char| c.is_ascii_alphabetic())
                && let Some((id, _)) = line.split_once('=')
            {
                ids.push(id.trim().to_owned());
            }
        }
    }
    assert!(ids.len() > 50, "{ids:?}");
    ids
}

/// A rendered page in `locale`: its language, no script, no untranslated message id.
fn assert_page(html: &str, locale: Locale) {
    assert!(
        html.contains(&format!(r#"<html lang="{}">"#, locale.tag())),
        "{html}"
    );
    assert!(!html.to_lowercase().contains("<script"), "no scripts");
    for id in care_message_ids() {
        assert!(!html.contains(&id), "untranslated {id:?} in {html}");
    }
}

/// Text as askama escapes it in HTML.
fn escaped(s: &str) -> String {
    s.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// Switch `b` to `locale` with the language switch of the page at `from` (which it returns to).
async fn switch_language(b: &mut Browser, from: &str, locale: Locale) {
    let (status, location, body) = b
        .submit(from, "/lang", &[("lang", locale.tag()), ("next", from)])
        .await;
    assert_eq!((status, location.as_str()), (303, from), "{body}");
}

/// The part of `html` of the table row of alert `id`, if the queue shows it.
fn alert_row<'a>(html: &'a str, id: &str) -> Option<&'a str> {
    let start = html.find(&format!(r#"data-alert="{id}""#))?;
    let end = html[start..].find("</tr>")? + start;
    Some(&html[start..end])
}

fn zh(key: &str) -> String {
    t(Locale::ZhCn, key)
}

fn en(key: &str) -> String {
    t(Locale::EnUs, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_duty_queue_page_acknowledges_and_resolves_alerts() {
    for db in TestDb::all().await {
        let server = Server::start(&db, "intl").await;
        let hospital = org(&server, "值班页面医院", OrgKind::InternetHospital).await;
        let p = Partner {
            server: &server,
            token: partner_token(&server, "duty-pages", &hospital.id).await,
        };
        let (_, lic) = verified_doctor(&server, "dr.page", 41, &hospital.id).await;
        let (_, pid, mut patient_browser) = patient(&server, "page.patient", 42).await;
        let nurse = staff(
            &server,
            Role::InstitutionStaff,
            "duty.nurse",
            vec![hospital.id.clone()],
        )
        .await;
        let mut ops = operator(&server, "ops.pages").await;
        let (s, body) = ops
            .api(
                Method::POST,
                &format!("/api/v1/care/duty/{}", hospital.id),
                Some(json!({"accounts": [nurse]})),
            )
            .await;
        assert_eq!(s, 204, "{body}");

        // Someone on duty before any red flag: an empty queue.
        let mut b = staff_browser(&server, "duty.nurse").await;
        let (s, html) = b.get("/duty").await;
        assert_eq!(s, 200, "{html}");
        assert!(html.contains(r#"id="duty-empty""#), "{html}");
        assert!(
            html.contains(r#"href="/duty" aria-current="page""#),
            "the navigation leads here"
        );

        p.event(&start("p-1", &pid, &lic, "psychiatry")).await;
        let (s, r) = p
            .event(&msg("p-1", 1, "patient", "医生，我觉得活着没意思，不想活了"))
            .await;
        assert_eq!(s, 201, "{r}");
        let alerts = r["alerts"].as_array().unwrap();
        assert_eq!(alerts.len(), 1, "{r}");
        let id = alerts[0].as_str().unwrap().to_owned();
        let (_, detail) = b
            .api(Method::GET, &format!("/api/v1/care/alerts/{id}"), None)
            .await;

        // The queue shows it, in Chinese by default: what the red flag signals (from the rule
        // book), the organisation, the consultation, the person it is assigned to, its status.
        let (s, html) = b.get("/duty").await;
        assert_eq!(s, 200, "{html}");
        assert_page(&html, Locale::ZhCn);
        assert!(html.contains(r#"<table id="duty-queue">"#), "{html}");
        let row = alert_row(&html, &id).expect("the alert's row");
        assert!(
            row.contains(&escaped(detail["explanation"]["zh-CN"].as_str().unwrap())),
            "{row}"
        );
        assert!(row.contains("值班页面医院"), "{row}");
        assert!(row.contains(detail["consultation_id"].as_str().unwrap()), "{row}");
        assert!(row.contains("工作人员"), "assigned to the nurse: {row}");
        assert!(
            row.contains(&format!(r#"<td class="status">{}</td>"#, zh("care-status-open"))),
            "{row}"
        );
        assert!(!row.contains("alert-overdue"), "its deadline is ahead: {row}");
        assert!(row.contains(&format!(r#"action="/duty/{id}/acknowledge""#)));
        assert!(row.contains(&format!(r#"action="/duty/{id}/resolve""#)));
        assert!(!html.contains("不想活了"), "never the patient's words");

        // A regulator sees the queue but has no buttons; acting is refused.
        staff(&server, Role::Regulator, "regulator.duty", vec![]).await;
        let mut reg = staff_browser(&server, "regulator.duty").await;
        let (s, html) = reg.get("/duty").await;
        assert_eq!(s, 200, "{html}");
        assert!(alert_row(&html, &id).is_some());
        assert!(!html.contains("/acknowledge"), "{html}");
        let (s, _, _) = reg.submit("/duty", &format!("/duty/{id}/acknowledge"), &[]).await;
        assert_eq!(s, 403);

        // A patient, and someone signed out, have no duty queue.
        let (s, html) = patient_browser.get("/duty").await;
        assert_eq!(s, 403);
        assert!(html.contains(&zh("error-access-denied-title")), "{html}");
        let (_, html) = patient_browser.get("/privacy").await;
        assert!(!html.contains(r#"href="/duty""#), "not in a patient's navigation");
        let (s, _) = Browser::new(&server).get("/duty").await;
        assert_eq!(s, 303);

        // Left unacknowledged past two deadlines (the duty clock run at those times), it is at
        // level 3: everyone on duty.
        let first_deadline = detail["deadline_ms"].as_i64().unwrap();
        assert_eq!(
            server.care.escalate_overdue(first_deadline + 1).await.unwrap(),
            std::slice::from_ref(&id)
        );
        let (_, level2) = b
            .api(Method::GET, &format!("/api/v1/care/alerts/{id}"), None)
            .await;
        let second_deadline = level2["deadline_ms"].as_i64().unwrap();
        assert_eq!(
            server.care.escalate_overdue(second_deadline + 1).await.unwrap(),
            std::slice::from_ref(&id)
        );
        let (_, html) = b.get("/duty").await;
        let row = alert_row(&html, &id).unwrap();
        assert!(row.contains(r#"<td class="nowrap">3</td>"#), "{row}");
        assert!(row.contains(&zh("care-duty-assignee-all")), "{row}");

        // Without its CSRF token (or with another) the form is refused and nothing changes.
        let zeros = "0".repeat(64);
        for csrf in ["", zeros.as_str()] {
            let (s, _, _) = b
                .post_form(&format!("/duty/{id}/acknowledge"), &[("csrf", csrf)])
                .await;
            assert_eq!(s, 403);
            let (s, _, _) = b
                .post_form(&format!("/duty/{id}/resolve"), &[("csrf", csrf)])
                .await;
            assert_eq!(s, 403);
        }
        let (_, html) = b.get("/duty").await;
        assert!(alert_row(&html, &id).unwrap().contains(&zh("care-status-open")));

        // Acknowledge: back to the queue, where it shows acknowledged and can only be resolved.
        let (s, location, body) = b.submit("/duty", &format!("/duty/{id}/acknowledge"), &[]).await;
        assert_eq!((s, location.as_str()), (303, "/duty"), "{body}");
        let (_, html) = b.get("/duty").await;
        let row = alert_row(&html, &id).unwrap();
        assert!(
            row.contains(&format!(
                r#"<td class="status">{}</td>"#,
                zh("care-status-acknowledged")
            )),
            "{row}"
        );
        assert!(!row.contains("/acknowledge"), "{row}");
        // Acknowledging twice is a conflict, shown translated on the page.
        let (s, _, html) = b.submit("/duty", &format!("/duty/{id}/acknowledge"), &[]).await;
        assert_eq!(s, 422);
        assert!(
            html.contains(&format!(
                r#"id="form-error">{}<"#,
                escaped(&zh("care-duty-conflict"))
            )),
            "{html}"
        );
        assert!(alert_row(&html, &id).is_some());
        // A note over 2,000 characters is refused, translated.
        let long = "记".repeat(2001);
        let (s, _, html) = b
            .submit("/duty", &format!("/duty/{id}/resolve"), &[("note", &long)])
            .await;
        assert_eq!(s, 422);
        assert!(html.contains(&escaped(&zh("care-note-too-long"))), "{html}");
        // An alert that does not exist.
        let (s, _, html) = b.submit("/duty", "/duty/nope/resolve", &[]).await;
        assert_eq!(s, 422);
        assert!(html.contains(&escaped(&zh("care-duty-not-found"))), "{html}");

        // The English page.
        switch_language(&mut b, "/duty", Locale::EnUs).await;
        let (s, html) = b.get("/duty").await;
        assert_eq!(s, 200);
        assert_page(&html, Locale::EnUs);
        let row = alert_row(&html, &id).unwrap();
        assert!(
            row.contains(&escaped(detail["explanation"]["en-US"].as_str().unwrap())),
            "{row}"
        );
        assert!(row.contains(&en("care-status-acknowledged")), "{row}");
        assert!(html.contains(&en("care-duty-resolve")), "{html}");

        // Resolve with a note: the alert leaves the queue; the history has every action.
        let (s, location, body) = b
            .submit(
                "/duty",
                &format!("/duty/{id}/resolve"),
                &[("note", "已电话联系患者，建议立即到精神科急诊")],
            )
            .await;
        assert_eq!((s, location.as_str()), (303, "/duty"), "{body}");
        let (_, html) = b.get("/duty").await;
        assert!(alert_row(&html, &id).is_none(), "{html}");
        assert!(html.contains(r#"id="duty-empty""#));
        let (_, detail) = b
            .api(Method::GET, &format!("/api/v1/care/alerts/{id}"), None)
            .await;
        assert_eq!(detail["status"], "resolved");
        let actions: Vec<&str> = detail["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["escalate", "escalate", "acknowledge", "resolve"]);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patients_rate_consultations_and_see_the_refund_of_one_doctors_fees() {
    for db in TestDb::all().await {
        let server = Server::start(&db, "intl").await;
        let platform = org(&server, "页面咨询平台", OrgKind::ConsultationPlatform).await;
        let hospital = org(&server, "页面安定医院", OrgKind::MedicalInstitution).await;
        let p = Partner {
            server: &server,
            token: partner_token(&server, "page-platform", &platform.id).await,
        };
        let (yan, yan_lic) = verified_doctor(&server, "dr.page.yan", 51, &hospital.id).await;
        let (li, li_lic) = verified_doctor(&server, "dr.page.li", 52, &hospital.id).await;
        let (_, pid, mut b) = patient(&server, "page.jiakui", 53).await;

        // Seed 000: a top-up, then fees to two doctors (and a drug).
        let payments = seed_000_payments(&p, &pid, &yan_lic, &li_lic).await;
        let fees_of = |lic: &str| -> Vec<u64> {
            payments
                .iter()
                .filter(|f| f.doctor_licence == lic && f.purpose == "consultation_fee")
                .map(|f| f.index)
                .collect()
        };
        let (yan_receipts, li_receipts) = (fees_of(&yan_lic), fees_of(&li_lic));
        // One still running.
        let (s, _) = p.event(&start("y-3", &pid, &yan_lic, "psychiatry")).await;
        assert_eq!(s, 201);
        let (_, mine) = b.api(Method::GET, "/api/v1/care/me/consultations", None).await;
        let id_of = |reference: &str| -> String {
            mine["consultations"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["consultation"] == reference)
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let (y1, y2, y3) = (id_of("y-1"), id_of("y-2"), id_of("y-3"));

        // The consultations page: every consultation, a rating form for the ended ones, a link
        // to the refund of each doctor's fees.
        let (s, html) = b.get("/consultations").await;
        assert_eq!(s, 200, "{html}");
        assert_page(&html, Locale::ZhCn);
        assert_eq!(html.matches("data-consultation=").count(), 4, "{html}");
        assert!(html.contains("页面咨询平台") && html.contains("颜医生"));
        for c in [&y1, &y2] {
            assert!(html.contains(&format!(r#"action="/consultations/{c}/rating""#)));
        }
        assert!(!html.contains(&format!(r#"action="/consultations/{y3}/rating""#)));
        assert!(html.contains(&zh("care-consult-ongoing")));
        assert!(html.contains(&format!(r#"href="/refunds?doctor={yan}""#)));
        assert!(html.contains(&format!(r#"href="/refunds?doctor={li}""#)));
        assert!(html.contains(r#"<select id="doctor_score-"#));

        // Rating: refused without CSRF; a bad score is refused, translated; then once, and only once.
        let rating = format!("/consultations/{y1}/rating");
        let (s, _, _) = b
            .post_form(
                &rating,
                &[("csrf", ""), ("doctor_score", "2"), ("institution_score", "3")],
            )
            .await;
        assert_eq!(s, 403);
        let (s, _, html) = b
            .submit(
                "/consultations",
                &rating,
                &[("doctor_score", "9"), ("institution_score", "3")],
            )
            .await;
        assert_eq!(s, 422);
        assert!(html.contains(&escaped(&zh("care-rating-invalid"))), "{html}");
        let (s, location, body) = b
            .submit(
                "/consultations",
                &rating,
                &[
                    ("doctor_score", "2"),
                    ("institution_score", "3"),
                    ("comment", "回复太慢"),
                ],
            )
            .await;
        assert_eq!((s, location.as_str()), (303, "/consultations"), "{body}");
        let (_, html) = b.get("/consultations").await;
        assert!(!html.contains(&format!(r#"action="{rating}""#)), "{html}");
        assert_eq!(
            html.matches(&format!(r#"<p class="rated">{}</p>"#, zh("care-consult-rated")))
                .count(),
            1
        );
        let (s, _, html) = b
            .submit(
                "/consultations",
                &rating,
                &[("doctor_score", "5"), ("institution_score", "5")],
            )
            .await;
        assert_eq!(s, 422);
        assert!(html.contains(&escaped(&zh("care-rating-conflict"))), "{html}");
        // A consultation still running cannot be rated.
        let (s, _, html) = b
            .submit(
                "/consultations",
                &format!("/consultations/{y3}/rating"),
                &[("doctor_score", "5"), ("institution_score", "5")],
            )
            .await;
        assert_eq!(s, 422);
        assert!(html.contains(&escaped(&zh("care-rating-conflict"))), "{html}");

        // The refund page: first the choice of doctor, then one doctor's fees with their receipts.
        let (s, html) = b.get("/refunds").await;
        assert_eq!(s, 200, "{html}");
        assert_page(&html, Locale::ZhCn);
        assert!(html.contains(&format!(r#"<option value="{yan}">"#)), "{html}");
        assert!(html.contains(&format!(r#"<option value="{li}">"#)));
        assert!(!html.contains(r#"id="refund-total""#));
        let (s, html) = b.get(&format!("/refunds?doctor={yan}")).await;
        assert_eq!(s, 200, "{html}");
        assert_page(&html, Locale::ZhCn);
        assert!(
            html.contains(r#"<strong id="refund-total">¥80.00</strong>"#),
            "3000 + 5000 fen: {html}"
        );
        assert!(html.contains(&format!(r#"<option value="{yan}" selected>"#)));
        let table = &html[html.find(r#"<table id="refund-lines">"#).unwrap()..];
        let table = &table[..table.find("</table>").unwrap()];
        assert_eq!(table.matches("<tr>").count(), 3, "a header and two fees: {table}");
        for (index, amount) in yan_receipts.iter().zip(["¥30.00", "¥50.00"]) {
            assert!(
                table.contains(&format!(r#"href="/api/v1/log/entries/{index}/proof""#)),
                "{table}"
            );
            assert!(table.contains(amount), "{table}");
        }
        for index in &li_receipts {
            assert!(!html.contains(&format!("/api/v1/log/entries/{index}/proof")));
        }
        assert!(!table.contains("¥40.00") && !table.contains("¥20.00"));
        assert!(html.contains(r#"id="refund-paid-all">¥140.00<"#), "{html}");
        assert!(html.contains(r#"id="refund-topped-up">¥1000.00<"#), "{html}");
        // The receipt link leads to the entry's inclusion proof.
        let proof = server
            .get(&format!("/api/v1/log/entries/{}/proof", yan_receipts[0]))
            .await
            .text()
            .await
            .unwrap();
        assert!(proof.starts_with("c2sp.org/tlog-proof@v1"), "{proof}");
        let (s, html) = b.get(&format!("/refunds?doctor={li}")).await;
        assert_eq!(s, 200);
        assert!(html.contains(r#"<strong id="refund-total">¥40.00</strong>"#));
        // A doctor the patient never consulted.
        let (s, html) = b.get("/refunds?doctor=someone-else").await;
        assert_eq!(s, 422);
        assert!(
            html.contains(&escaped(&zh("care-refund-doctor-unknown"))),
            "{html}"
        );

        // A query that is no choice of doctor is just the page.
        let (s, html) = b.get(&format!("/refunds?doctor={yan}&doctor={li}")).await;
        assert_eq!(s, 200);
        assert!(!html.contains(r#"id="refund-total""#));

        // In English.
        switch_language(&mut b, "/consultations", Locale::EnUs).await;
        let (s, html) = b.get("/consultations").await;
        assert_eq!(s, 200);
        assert_page(&html, Locale::EnUs);
        assert!(html.contains(&en("care-consult-rated")));
        assert!(html.contains(&en("care-rating-submit")));
        let (s, html) = b.get(&format!("/refunds?doctor={yan}")).await;
        assert_eq!(s, 200);
        assert_page(&html, Locale::EnUs);
        assert!(html.contains(r#"<strong id="refund-total">¥80.00</strong>"#));
        assert!(html.contains(&escaped(&en("care-refund-lead"))), "{html}");

        // The regulator's metrics: the platform with its four consultations, three ended, rated 3;
        // the doctors; the downloads.
        staff(&server, Role::Regulator, "regulator.pages", vec![]).await;
        let mut reg = staff_browser(&server, "regulator.pages").await;
        let (s, html) = reg.get("/regulator/supervision").await;
        assert_eq!(s, 200, "{html}");
        assert_page(&html, Locale::ZhCn);
        let institutions = &html[html.find(r#"<table id="metrics-institutions">"#).unwrap()..];
        let institutions = &institutions[..institutions.find("</table>").unwrap()];
        let row = &institutions[institutions
            .find(&format!(r#"<tr data-id="{}">"#, platform.id))
            .expect("the platform's row")..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(row.contains("页面咨询平台"), "{row}");
        let cells: Vec<&str> = row
            .split(r#"<td class="num">"#)
            .skip(1)
            .map(|c| c.split('<').next().unwrap().trim())
            .collect();
        assert_eq!(cells[..2], ["4", "3"], "{row}");
        assert_eq!(cells[4], "0.0%", "no referrals: {row}");
        assert_eq!(cells[6], "3.00", "{row}");
        assert!(row.contains("—"), "no doctor replied, so no response time: {row}");
        let doctors = &html[html.find(r#"<table id="metrics-doctors">"#).unwrap()..];
        assert!(doctors.contains(&format!(r#"<tr data-id="{yan}">"#)));
        for format in ["csv", "json", "fhir"] {
            assert!(html.contains(&format!(r#"href="/api/v1/care/supervision?format={format}""#)));
        }
        switch_language(&mut reg, "/regulator/supervision", Locale::EnUs).await;
        let (s, html) = reg.get("/regulator/supervision").await;
        assert_eq!(s, 200);
        assert_page(&html, Locale::EnUs);
        assert!(html.contains(&en("care-supervision-institutions")));
        // Operators see it too.
        let mut ops = operator(&server, "ops.metrics").await;
        let (s, _) = ops.get("/regulator/supervision").await;
        assert_eq!(s, 200);

        // The wrong roles are refused.
        for path in ["/consultations", "/refunds", "/refunds?doctor=x"] {
            let (s, _) = reg.get(path).await;
            assert_eq!(s, 403, "{path}");
        }
        let (s, _, _) = reg
            .submit(
                "/duty",
                &format!("/consultations/{y2}/rating"),
                &[("doctor_score", "5"), ("institution_score", "5")],
            )
            .await;
        assert_eq!(s, 403);
        let (s, html) = b.get("/regulator/supervision").await;
        assert_eq!(s, 403);
        assert_page(&html, Locale::EnUs);
        assert!(html.contains(&en("error-access-denied-title")));
        let (_, html) = b.get("/consultations").await;
        assert!(html.contains(r#"href="/refunds""#) && !html.contains(r#"href="/regulator/supervision""#));
        server.stop().await;
    }
}
