//! Identity through the entry points people and integrations use: the sign-up, login and TOTP
//! forms, the session cookie, the JSON API and the pages; the access decision point with consent;
//! abuse (brute force, session fixation, CSRF, a blacklisted doctor coming back); the authorisation
//! matrix of every API route × every role; random bodies to every route.

use std::collections::BTreeMap;

use reqwest::Method;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use tianping_identity::ids::{DisplayName, LoginName, Password};
use tianping_identity::role::{OrgKind, Role};
use tianping_service::identity::SignUp;
use tianping_store::testing::TestDb;

use super::{Server, expect_problem};

/// A browser without JavaScript: keeps cookies by hand, never follows redirects.
pub(super) struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
}

/// A valid resident ID for test person `n` (the check character computed as GB 11643 says).
pub(super) fn resident_id(n: u32) -> String {
    resident_id_born(&format!("199003{:02}", 1 + n % 28), n)
}

/// A valid resident ID of someone born on `yyyymmdd`.
pub(super) fn resident_id_born(yyyymmdd: &str, n: u32) -> String {
    let first17 = format!("110101{yyyymmdd}{:03}", n % 1000);
    let check = tianping_identity::ids::ResidentId::check_character(&first17).unwrap();
    format!("{first17}{check}")
}

pub(super) fn licence(n: u32) -> String {
    format!("{:015}", 110_000_000_000_000u64 + u64::from(n))
}

pub(super) const PASSWORD: &str = "correct horse battery";

impl Browser {
    pub(super) fn new(server: &Server) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: server.base.clone(),
            cookies: BTreeMap::new(),
        }
    }

    pub(super) fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, resp: &reqwest::Response) {
        for v in resp.headers().get_all(SET_COOKIE) {
            let v = v.to_str().unwrap();
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            assert!(
                attrs.contains("HttpOnly") && attrs.contains("SameSite=Strict"),
                "{v}"
            );
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), val.to_owned());
            }
        }
    }

    pub(super) async fn get(&mut self, path: &str) -> (u16, String) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&resp);
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    /// The CSRF token the page at `path` puts in its forms.
    async fn csrf(&mut self, path: &str) -> String {
        let (_, html) = self.get(path).await;
        field_value(&html, "csrf").unwrap_or_else(|| panic!("no csrf field on {path}: {html}"))
    }

    /// Post a form as the page at `from` would (with its CSRF token); returns status, Location, body.
    pub(super) async fn submit(
        &mut self,
        from: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> (u16, String, String) {
        let csrf = self.csrf(from).await;
        let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        form.extend_from_slice(fields);
        self.post_form(action, &form).await
    }

    pub(super) async fn post_form(&mut self, action: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        let resp = self
            .http
            .post(format!("{}{action}", self.base))
            .header(COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(&resp);
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, location, resp.text().await.unwrap())
    }

    /// Post a multipart form (the page's CSRF token first, then files) as a browser would.
    async fn upload(
        &mut self,
        from: &str,
        action: &str,
        files: &[(&str, &str, &[u8])],
    ) -> (u16, String, String) {
        let csrf = self.csrf(from).await;
        let boundary = "----tianping-test-boundary";
        let mut body =
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n")
                .into_bytes();
        for (name, media_type, bytes) in files {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"f\"\r\n\
                     Content-Type: {media_type}\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let resp = self
            .http
            .post(format!("{}{action}", self.base))
            .header(COOKIE, self.cookie_header())
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        self.keep(&resp);
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, location, resp.text().await.unwrap())
    }

    /// A JSON API call with the session cookie (and the CSRF header on writes).
    pub(super) async fn api(&mut self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let csrf = if method == Method::GET {
            String::new()
        } else {
            self.csrf("/privacy").await
        };
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .header("x-csrf-token", csrf);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    fn session(&self) -> Option<&String> {
        self.cookies.get("tp_session")
    }

    /// Sign up through the form; staff roles then enrol TOTP. Returns the TOTP secret, if any.
    pub(super) async fn sign_up(
        &mut self,
        role: &str,
        login: &str,
        n: u32,
        doctor_at: Option<&str>,
    ) -> Option<String> {
        let id = resident_id(n);
        let lic = licence(n);
        let mut fields = vec![
            ("role", role),
            ("login", login),
            ("display_name", "测试 用户"),
            ("password", PASSWORD),
            ("resident_id", id.as_str()),
        ];
        if let Some(org) = doctor_at {
            fields.extend([
                ("licence", lic.as_str()),
                ("institution", org),
                ("specialty", "全科"),
                ("practice_years", "6"),
            ]);
        }
        let (status, location, body) = self.submit("/signup", "/signup", &fields).await;
        assert_eq!(status, 303, "sign-up of {login}: {body}");
        if location == "/totp/enrol" {
            Some(self.enrol().await)
        } else {
            assert_eq!(location, "/privacy");
            None
        }
    }

    async fn enrol(&mut self) -> String {
        let (status, html) = self.get("/totp/enrol").await;
        assert_eq!(status, 200, "{html}");
        let secret = between(&html, "<code id=\"totp-secret\">", "</code>")
            .unwrap()
            .to_owned();
        let code = totp_now(&secret);
        let (status, _, html) = self
            .submit("/totp/enrol", "/totp/enrol", &[("code", &code)])
            .await;
        assert_eq!(
            status, 200,
            "enrolment confirmed with the recovery codes page: {html}"
        );
        assert!(html.contains("id=\"recovery-codes\""), "{html}");
        secret
    }

    pub(super) async fn log_in(&mut self, login: &str, password: &str) -> (u16, String, String) {
        self.submit("/login", "/login", &[("login", login), ("password", password)])
            .await
    }
}

pub(super) fn totp_now(secret_b32: &str) -> String {
    let secret = tianping_identity::totp::TotpSecret::from_base32(secret_b32).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    tianping_identity::totp::code_at(&secret, now)
}

pub(super) fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(&s[i..j])
}

fn field_value(html: &str, name: &str) -> Option<String> {
    between(html, &format!("name=\"{name}\" value=\""), "\"").map(str::to_owned)
}

/// An account made by an operator (as `tianping account create` does).
pub(super) async fn staff(server: &Server, role: Role, login: &str, orgs: Vec<String>) -> String {
    let l = LoginName::parse(login).unwrap();
    server
        .identity
        .register(SignUp {
            password: Password::parse(PASSWORD, Some(&l)).unwrap(),
            login: l,
            display_name: DisplayName::parse("工作人员").unwrap(),
            role,
            resident_id: None,
            phone: None,
            doctor: None,
            orgs,
        })
        .await
        .unwrap()
}

pub(super) async fn org(server: &Server, name: &str, kind: OrgKind) -> tianping_store::identity::OrgRow {
    server.identity.create_org(name, kind).await.unwrap()
}

/// An operator's account, signed in (password and TOTP enrolment).
pub(super) async fn operator(server: &Server, login: &str) -> Browser {
    staff(server, Role::Operator, login, vec![]).await;
    staff_browser(server, login).await
}

/// A signed-in browser for a staff account: password, then TOTP enrolment.
pub(super) async fn staff_browser(server: &Server, login: &str) -> Browser {
    let mut b = Browser::new(server);
    let (status, location, _) = b.log_in(login, PASSWORD).await;
    assert_eq!((status, location.as_str()), (303, "/totp/enrol"));
    b.enrol().await;
    b
}

async fn partner_record(server: &Server, subject: &str, kind: &str) -> String {
    let (status, body) = server
        .send(
            Method::POST,
            "/api/v1/vault/records",
            Some(json!({"kind": kind, "subject": subject, "content": {"text": "咳嗽三天，夜间加重"}})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["record_id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_decides_access_and_the_patient_sees_every_decision() {
    for db in TestDb::all().await {
        let server = Server::start(&db, "intl").await;
        let hospital = org(&server, "第一人民医院互联网医院", OrgKind::InternetHospital).await;
        staff(&server, Role::Operator, "ops", vec![]).await;

        // A doctor signs up; until verified, no access.
        let mut doctor = Browser::new(&server);
        doctor
            .sign_up("doctor", "dr.li", 1, Some(&hospital.id))
            .await
            .unwrap();
        let (_, me) = doctor.api(Method::GET, "/api/v1/identity/me", None).await;
        assert_eq!(me["verification"], "pending");
        let doctor_id = me["id"].as_str().unwrap().to_owned();

        // The doctor uploads a scan of the licence; only PDF, PNG and JPEG are taken.
        let scan: &[u8] = b"\x89PNG\r\n\x1a\n licence scan";
        let (status, location, body) = doctor
            .upload(
                "/doctor/evidence",
                "/doctor/evidence",
                &[("evidence", "image/png", scan)],
            )
            .await;
        assert_eq!((status, location.as_str()), (303, "/doctor/evidence"), "{body}");
        let (status, _, body) = doctor
            .upload(
                "/doctor/evidence",
                "/doctor/evidence",
                &[("evidence", "text/html", b"<script>")],
            )
            .await;
        assert_eq!(status, 422, "{body}");

        // The operator opens the evidence (recorded in the doctor's access log) and verifies the
        // doctor through the queue page.
        let mut ops = staff_browser(&server, "ops").await;
        let (status, queue) = ops.get("/operator/verifications").await;
        assert_eq!(status, 200);
        assert!(queue.contains(&licence(1)), "{queue}");
        let link = between(&queue, "href=\"/operator/evidence/", "\"")
            .unwrap()
            .to_owned();
        let resp = ops
            .http
            .get(format!("{}/operator/evidence/{link}", server.base))
            .header(COOKIE, ops.cookie_header())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert!(
            resp.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment")
        );
        assert_eq!(&resp.bytes().await.unwrap()[..], scan);
        let (_, doctor_log) = doctor
            .api(Method::GET, "/api/v1/identity/me/access-log", None)
            .await;
        // Both the queue listing the application and the opened evidence are in the doctor's log.
        let seen: Vec<(&str, &str)> = doctor_log
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["action"].as_str().unwrap(), e["reason"].as_str().unwrap()))
            .collect();
        assert_eq!(
            seen,
            vec![("read", "oversight_duty"), ("list", "oversight_duty")],
            "{doctor_log}"
        );
        assert_eq!(doctor_log[0]["basis"], "legal_duty");
        let (status, location, _) = ops
            .submit(
                "/operator/verifications",
                &format!("/operator/verifications/{doctor_id}"),
                &[("decision", "verify"), ("note", "证照已核对")],
            )
            .await;
        assert_eq!((status, location.as_str()), (303, "/operator/verifications"));
        let (_, me) = doctor.api(Method::GET, "/api/v1/identity/me", None).await;
        assert_eq!(me["verification"], "verified");
        // Decided: the operator's reason to see the evidence has ended.
        let (status, _) = ops.get(&format!("/operator/evidence/{link}")).await;
        assert_eq!(status, 403);

        // A patient signs up; a partner files a consultation record about them.
        let mut patient = Browser::new(&server);
        assert!(patient.sign_up("patient", "wang.fang", 2, None).await.is_none());
        let (_, me) = patient.api(Method::GET, "/api/v1/identity/me", None).await;
        let patient_id = me["id"].as_str().unwrap().to_owned();
        let record = partner_record(&server, &patient_id, "consultation.message").await;

        // No consent: the doctor is refused, and the refusal is recorded.
        let (status, page) = doctor.get(&format!("/records/{record}")).await;
        assert_eq!(status, 403, "{page}");
        assert!(!page.contains("咳嗽三天"));
        let (status, body) = doctor
            .api(
                Method::GET,
                &format!("/api/v1/vault/records/{record}?purpose=treatment"),
                None,
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("access_denied")),
            "{body}"
        );

        // A sensitive category without the separate box is refused (PIPL-29); with it, granted.
        let grant = json!({"notice": "care", "category": "consultation_record", "recipient": hospital.id});
        let (status, body) = patient
            .api(Method::POST, "/api/v1/identity/consents", Some(grant.clone()))
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("consent_separate_required")),
            "{body}"
        );
        let mut grant = grant;
        grant["separate_acknowledgement"] = json!(true);
        let (status, consent) = patient
            .api(Method::POST, "/api/v1/identity/consents", Some(grant))
            .await;
        assert_eq!(status, 201, "{consent}");

        let (status, page) = doctor.get(&format!("/records/{record}")).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("咳嗽三天"), "{page}");

        // Withdrawal takes effect for the very next access.
        let consent_id = consent["id"].as_str().unwrap();
        let (status, _) = patient
            .api(
                Method::POST,
                &format!("/api/v1/identity/consents/{consent_id}/withdraw"),
                None,
            )
            .await;
        assert_eq!(status, 204);
        let (status, _) = doctor.get(&format!("/records/{record}")).await;
        assert_eq!(status, 403);

        // The patient's access log: deny, deny, permit, deny (newest first), each with its basis.
        let (_, log) = patient
            .api(Method::GET, "/api/v1/identity/me/access-log", None)
            .await;
        let decisions: Vec<(bool, &str)> = log
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["actor_id"] == doctor_id.as_str())
            .map(|e| (e["permit"].as_bool().unwrap(), e["reason"].as_str().unwrap()))
            .collect();
        assert_eq!(
            decisions,
            vec![
                (false, "no_consent"),
                (true, "consent_covers"),
                (false, "no_consent"),
                (false, "no_consent")
            ]
        );
        let permit = log
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["permit"] == true)
            .unwrap();
        assert_eq!(permit["basis"], "consent");
        // Each decision is an entry of the evidence log.
        let idx = permit["log_index"].as_u64().unwrap();
        assert!(idx < server.node_log.head().size);
        let (_, page) = patient.get("/privacy").await;
        assert!(page.contains("id=\"access-log\""), "{page}");
        assert!(page.contains(&format!("#{idx}")), "{page}");

        // The consent and the access events export as FHIR R5 resources.
        let (status, fhir) = patient
            .api(
                Method::GET,
                &format!("/api/v1/identity/consents/{consent_id}/fhir"),
                None,
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(fhir["resourceType"], "Consent");
        assert_eq!(fhir["status"], "inactive");
        let (_, bundle) = patient
            .api(Method::GET, "/api/v1/identity/me/access-log/fhir", None)
            .await;
        assert_eq!(bundle["resourceType"], "Bundle");
        assert_eq!(
            bundle["entry"].as_array().unwrap().len(),
            log.as_array().unwrap().len()
        );
        assert_eq!(bundle["entry"][0]["resource"]["resourceType"], "AuditEvent");
        // What the API exports passes the independent validator.
        let dir = tempfile::tempdir().unwrap();
        let mut files = vec![super::fhir_validator::write(dir.path(), "consent", &fhir)];
        for (i, e) in bundle["entry"].as_array().unwrap().iter().enumerate() {
            files.push(super::fhir_validator::write(
                dir.path(),
                &format!("audit-{i}"),
                &e["resource"],
            ));
        }
        let out = super::fhir_validator::validate(&files);
        assert!(out.status.success(), "{}", super::fhir_validator::report(&out));

        // The patient downloads their data: their own record, with its proof.
        let (status, export) = patient.get("/privacy/export").await;
        assert_eq!(status, 200);
        let export: Value = serde_json::from_str(&export).unwrap();
        assert_eq!(export["records"][0]["id"], record.as_str());
        assert_eq!(export["records"][0]["content"]["text"], "咳嗽三天，夜间加重");
        server.stop().await;
    }
}

#[tokio::test]
async fn a_child_under_14_needs_the_guardian_who_consents_for_them() {
    let db = TestDb::sqlite();
    let server = Server::start(&db, "intl").await;
    let hospital = org(&server, "儿童医院", OrgKind::MedicalInstitution).await;
    let mut ops = operator(&server, "ops.g").await;
    // A child born in 2016 (the sign-up is done by the family), and the mother as guardian.
    let mut child = Browser::new(&server);
    let child_id = resident_id_born("20160505", 123);
    let (status, location, body) = child
        .submit(
            "/signup",
            "/signup",
            &[
                ("role", "patient"),
                ("login", "xiao.ming"),
                ("display_name", "小明"),
                ("password", PASSWORD),
                ("resident_id", &child_id),
            ],
        )
        .await;
    assert_eq!((status, location.as_str()), (303, "/privacy"), "{body}");
    let mut mother = Browser::new(&server);
    mother.sign_up("guardian", "ma.li", 7, None).await;
    let grant = json!({"notice": "care", "category": "contact", "recipient": hospital.id});
    // The child cannot consent alone (PIPL-31).
    let (status, body) = child
        .api(Method::POST, "/api/v1/identity/consents", Some(grant.clone()))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("consent_guardian_required")),
        "{body}"
    );
    // Not yet linked: the mother cannot consent for the child either.
    let (_, me) = child.api(Method::GET, "/api/v1/identity/me", None).await;
    let mut for_child = grant.clone();
    for_child["subject"] = me["id"].clone();
    let (status, _) = mother
        .api(Method::POST, "/api/v1/identity/consents", Some(for_child.clone()))
        .await;
    assert_eq!(status, 403);
    // Only an operator links a guardian; then the mother consents for her child.
    let link = json!({"guardian": "ma.li", "ward": "xiao.ming"});
    let (status, _) = mother
        .api(Method::POST, "/api/v1/identity/guardianships", Some(link.clone()))
        .await;
    assert_eq!(status, 403);
    let (status, body) = ops
        .api(Method::POST, "/api/v1/identity/guardianships", Some(link))
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, consent) = mother
        .api(Method::POST, "/api/v1/identity/consents", Some(for_child))
        .await;
    assert_eq!(status, 201, "{consent}");
    assert_eq!(consent["by_guardian"], true);
    // The mother sees the child's consents beside her own, and the guardian's FHIR Consent names her.
    let (_, list) = mother
        .api(Method::GET, "/api/v1/identity/me/consents", None)
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (status, fhir) = mother
        .api(
            Method::GET,
            &format!(
                "/api/v1/identity/consents/{}/fhir",
                consent["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        fhir["grantor"][0]["reference"]
            .as_str()
            .unwrap()
            .starts_with("RelatedPerson/"),
        "{fhir}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_changed_notice_must_be_read_again_before_consenting() {
    let db = TestDb::sqlite();
    let server = Server::start(&db, "intl").await;
    let hospital = org(&server, "新华医院", OrgKind::MedicalInstitution).await;
    let mut ops = operator(&server, "ops.n").await;
    let mut patient = Browser::new(&server);
    patient.sign_up("patient", "he.ping", 8, None).await;
    let (_, notices) = patient.api(Method::GET, "/api/v1/identity/notices", None).await;
    let care = notices
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "care")
        .unwrap()
        .clone();
    assert_eq!(care["version"], 1);
    // The operator publishes version 2 of the care notice; its text is an entry of the log.
    let size = server.node_log.head().size;
    let v2 = json!({"id": "care", "purpose": "treatment", "categories": ["contact", "consultation_record"],
        "text_zh": "第二版告知书：新增录音录像的保存期限说明。", "text_en": "Notice, second version: adds how long recordings are kept."});
    let (status, body) = ops.api(Method::POST, "/api/v1/identity/notices", Some(v2)).await;
    assert_eq!((status, body["version"].as_u64()), (201, Some(2)), "{body}");
    assert_eq!(server.node_log.head().size, size + 1);
    // Consent to what was read: version 1 is stale now; version 2 is accepted.
    let mut grant =
        json!({"notice": "care", "notice_version": 1, "category": "contact", "recipient": hospital.id});
    let (status, body) = patient
        .api(Method::POST, "/api/v1/identity/consents", Some(grant.clone()))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("consent_stale_notice")),
        "{body}"
    );
    grant["notice_version"] = json!(2);
    let (status, body) = patient
        .api(Method::POST, "/api/v1/identity/consents", Some(grant))
        .await;
    assert_eq!(
        (status, body["notice_version"].as_i64()),
        (201, Some(2)),
        "{body}"
    );
    // People may not publish notices.
    let (status, _) = patient
        .api(
            Method::POST,
            "/api/v1/identity/notices",
            Some(json!({"id": "x", "purpose": "treatment",
            "categories": ["contact"], "text_zh": "x", "text_en": "x"})),
        )
        .await;
    assert_eq!(status, 403);
    server.stop().await;
}

#[tokio::test]
async fn brute_force_locks_the_account_and_unknown_logins_look_the_same() {
    let db = TestDb::sqlite();
    let server = Server::start(&db, "intl").await;
    let mut patient = Browser::new(&server);
    patient.sign_up("patient", "zhao.lei", 3, None).await;
    let mut attacker = Browser::new(&server);
    for _ in 0..5 {
        let (status, _, html) = attacker.log_in("zhao.lei", "wrong password!").await;
        assert_eq!(status, 401, "{html}");
    }
    // Locked now: even the right password is refused for a while.
    let (status, _, html) = attacker.log_in("zhao.lei", PASSWORD).await;
    assert_eq!(status, 429, "{html}");
    assert!(attacker.session().is_none());
    let (status, _, _) = attacker.log_in("nobody.here", "wrong password!").await;
    assert_eq!(status, 401);
    // Spraying many accounts from one address is throttled too: the limit counts attempts per
    // address, whatever logins they name (7 so far from this address).
    for i in 7..tianping_web::LOGIN_ATTEMPTS_PER_MINUTE {
        let (status, _, _) = attacker.log_in(&format!("user{i}"), "wrong password!").await;
        assert_eq!(status, 401);
    }
    let (status, _, html) = attacker.log_in("zhao.lei.other", "wrong password!").await;
    assert_eq!(status, 429, "{html}");
    assert!(html.contains("登录尝试过多"), "{html}");
    server.stop().await;
}

#[tokio::test]
async fn a_session_id_planted_before_login_gains_nothing() {
    let db = TestDb::sqlite();
    let server = Server::start(&db, "intl").await;
    let mut victim = Browser::new(&server);
    victim.sign_up("patient", "sun.li", 4, None).await;
    victim.post_form("/logout", &[]).await; // refused without CSRF: still signed in
    assert!(victim.session().is_some());
    let csrf = victim.csrf("/privacy").await;
    victim.post_form("/logout", &[("csrf", &csrf)]).await;
    assert!(victim.session().is_none());

    // An attacker fixes a session cookie in the victim's browser; the victim logs in.
    let planted = "a".repeat(64);
    victim.cookies.insert("tp_session".into(), planted.clone());
    let (status, location, _) = victim.log_in("sun.li", PASSWORD).await;
    assert_eq!((status, location.as_str()), (303, "/privacy"));
    let issued = victim.session().unwrap().clone();
    assert_ne!(issued, planted);
    let mut attacker = Browser::new(&server);
    attacker.cookies.insert("tp_session".into(), planted);
    let (status, _) = attacker.api(Method::GET, "/api/v1/identity/me", None).await;
    assert_eq!(status, 401);
    // A staff member's half-signed-in session (password, no TOTP yet) reaches nothing either.
    staff(&server, Role::Regulator, "reg.zhou", vec![]).await;
    let mut half = Browser::new(&server);
    let (_, location, _) = half.log_in("reg.zhou", PASSWORD).await;
    assert_eq!(location, "/totp/enrol");
    let (status, _) = half.api(Method::GET, "/api/v1/identity/me", None).await;
    assert_eq!(status, 401);
    let (status, _) = half.get("/privacy").await;
    assert_eq!(status, 303);
    server.stop().await;
}

#[tokio::test]
async fn every_state_changing_form_and_cookie_call_needs_its_csrf_token() {
    let db = TestDb::sqlite();
    let server = Server::start(&db, "intl").await;
    let org = org(&server, "仁心医院", OrgKind::MedicalInstitution).await;
    let mut ops = operator(&server, "ops.csrf").await;
    let mut patient = Browser::new(&server);
    patient.sign_up("patient", "qian.yu", 5, None).await;
    let mut doctor = Browser::new(&server);
    doctor.sign_up("doctor", "dr.csrf", 9, Some(&org.id)).await;
    // Who posts each form: 0 a new visitor, 1 the patient, 2 the operator, 3 the doctor.
    let forms: [(usize, &str); 11] = [
        (3, "/doctor/evidence"),
        (0, "/signup"),
        (0, "/login"),
        (0, "/lang"),
        (0, "/totp"),
        (0, "/totp/enrol"),
        (1, "/privacy/consents"),
        (1, "/privacy/consents/x/withdraw"),
        (2, "/operator/blacklist"),
        (2, "/operator/verifications/x"),
        (2, "/operator/blacklist/x/lift"),
    ];
    let mut visitor = Browser::new(&server);
    visitor.get("/").await;
    for (who, action) in forms {
        let browser = match who {
            0 => &mut visitor,
            1 => &mut patient,
            2 => &mut ops,
            _ => &mut doctor,
        };
        for csrf in [
            "",
            "0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            let (status, _, body) = browser
                .post_form(
                    action,
                    &[("csrf", csrf), ("login", "x"), ("lang", "en-US"), ("next", "/")],
                )
                .await;
            // The second-factor forms send a visitor without a pending session to sign in first.
            assert!(
                status == 403 || (status == 303 && action.starts_with("/totp")),
                "{action}: {status} {body}"
            );
        }
    }
    // Cookie-authenticated API writes need the X-CSRF-Token header.
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/identity/consents", server.base))
        .header(COOKIE, patient.cookie_header())
        .json(&json!({"notice": "care", "category": "contact", "recipient": org.id}))
        .send()
        .await
        .unwrap();
    expect_problem(resp, 403, "csrf").await;
    let (_, consents) = patient
        .api(Method::GET, "/api/v1/identity/me/consents", None)
        .await;
    assert_eq!(consents, json!([]), "nothing was granted");
    server.stop().await;
}

#[tokio::test]
async fn a_blacklisted_doctor_is_out_at_once_and_cannot_come_back() {
    for db in TestDb::all().await {
        let server = Server::start(&db, "intl").await;
        let hospital = org(&server, "康宁医院", OrgKind::MedicalInstitution).await;
        staff(&server, Role::Operator, "ops.bl", vec![]).await;
        let mut doctor = Browser::new(&server);
        doctor.sign_up("doctor", "dr.bad", 6, Some(&hospital.id)).await;
        let (_, me) = doctor.api(Method::GET, "/api/v1/identity/me", None).await;
        let doctor_id = me["id"].as_str().unwrap().to_owned();
        let mut ops = staff_browser(&server, "ops.bl").await;
        let (status, location, body) = ops
            .submit(
                "/operator/blacklist",
                "/operator/blacklist",
                &[
                    ("target_kind", "account"),
                    ("target", "dr.bad"),
                    ("measure", "blacklist"),
                    ("reason", "冒用他人执业证书"),
                ],
            )
            .await;
        assert_eq!(
            (status, location.as_str()),
            (303, "/operator/blacklist"),
            "{body}"
        );
        // The takedown is immediate: the doctor's session is gone, the password no longer works.
        let (status, _) = doctor.api(Method::GET, "/api/v1/identity/me", None).await;
        assert_eq!(status, 401);
        let (status, _, _) = Browser::new(&server).log_in("dr.bad", PASSWORD).await;
        assert_eq!(status, 403);
        // Coming back under a new login with the same ID number or licence is refused.
        let mut again = Browser::new(&server);
        // The same ID number with a new licence, and a new ID number with the same licence.
        for (id, lic) in [(resident_id(6), licence(60)), (resident_id(61), licence(6))] {
            let (status, _, html) = again
                .submit(
                    "/signup",
                    "/signup",
                    &[
                        ("role", "doctor"),
                        ("login", "dr.new"),
                        ("display_name", "新名字"),
                        ("password", PASSWORD),
                        ("resident_id", &id),
                        ("licence", &lic),
                        ("institution", &hospital.id),
                        ("specialty", "内科"),
                        ("practice_years", "8"),
                    ],
                )
                .await;
            assert_eq!(status, 422, "{html}");
            assert!(html.contains("id=\"form-error\""), "{html}");
        }
        assert!(
            server
                .identity
                .account_by_login("dr.new")
                .await
                .unwrap()
                .is_none()
        );
        // The decision is in the log and on the blacklist page.
        let (_, page) = ops.get("/operator/blacklist").await;
        assert!(page.contains("冒用他人执业证书"), "{page}");
        // The operator sees who is blacklisted through the decision point: a recorded listing.
        assert!(page.contains("(dr.bad)"), "{page}");
        let log = server.identity.access_log(&doctor_id, 10).await.unwrap();
        assert_eq!(
            (log[0].action.as_str(), log[0].reason.as_str()),
            ("list", "oversight_duty")
        );

        // An organisation's takedown stops its partner tokens at once.
        let token = tianping_service::tokens::create_scoped(
            server.identity.db(),
            "kangning-app",
            &[],
            Some(&hospital.id),
        )
        .await
        .unwrap();
        let bearer = |path: &str| {
            reqwest::Client::new()
                .get(format!("{}{path}", server.base))
                .bearer_auth(token.as_str())
                .send()
        };
        assert_eq!(
            bearer("/api/v1/vault/holds").await.unwrap().status().as_u16(),
            200
        );
        let (status, location, body) = ops
            .submit(
                "/operator/blacklist",
                "/operator/blacklist",
                &[
                    ("target_kind", "organisation"),
                    ("target", "康宁医院"),
                    ("measure", "suspend"),
                    ("reason", "执业许可被吊销"),
                ],
            )
            .await;
        assert_eq!(
            (status, location.as_str()),
            (303, "/operator/blacklist"),
            "{body}"
        );
        expect_problem(
            bearer("/api/v1/vault/holds").await.unwrap(),
            403,
            "account_suspended",
        )
        .await;

        // Lifting a sanction recomputes its target's status from the sanctions still in force.
        let (status, list) = ops.api(Method::GET, "/api/v1/identity/sanctions", None).await;
        assert_eq!(status, 200, "{list}");
        let id_of = |target: &str| {
            list.as_array()
                .unwrap()
                .iter()
                .find(|s| s["target"] == target)
                .unwrap_or_else(|| panic!("no sanction of {target}: {list}"))["id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let lift = format!("/api/v1/identity/sanctions/{}/lift", id_of(&hospital.id));
        let (status, body) = ops.api(Method::POST, &lift, None).await;
        assert_eq!(status, 204, "{body}");
        assert_eq!(
            bearer("/api/v1/vault/holds").await.unwrap().status().as_u16(),
            200,
            "the organisation is active again"
        );
        let (status, body) = ops.api(Method::POST, &lift, None).await;
        assert_eq!(status, 404, "a lifted sanction cannot be lifted again: {body}");
        let lift = format!("/api/v1/identity/sanctions/{}/lift", id_of(&doctor_id));
        let (status, body) = ops.api(Method::POST, &lift, None).await;
        assert_eq!(status, 204, "{body}");
        let (status, _, body) = Browser::new(&server).log_in("dr.bad", PASSWORD).await;
        assert_eq!(status, 303, "the doctor's account is active again: {body}");
        server.stop().await;
    }
}

/// Every API route × every role: the expected outcome class. A route missing from the table, or a
/// table row without a route, fails the test (routes come from the OpenAPI document).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorisation_matrix_covers_every_route_and_role() {
    let db = TestDb::sqlite();
    let server = Server::start(&db, "intl").await;
    let org = org(&server, "矩阵医院", OrgKind::InternetHospital).await;
    // One signed-in browser per person role; the integration is the server's bearer token.
    let mut browsers: Vec<(Role, Browser)> = Vec::new();
    for (i, role) in Role::ALL.into_iter().enumerate() {
        if role == Role::Integration {
            continue;
        }
        let login = format!("m.{}", role.as_str().replace('_', "-"));
        staff(&server, role, &login, vec![org.id.clone()]).await;
        let mut b = Browser::new(&server);
        let (_, location, _) = b.log_in(&login, PASSWORD).await;
        if location == "/totp/enrol" {
            b.enrol().await;
        }
        let _ = i;
        browsers.push((role, b));
    }
    let patient_subject = "matrix-subject";
    let record = partner_record(&server, patient_subject, "consultation.message").await;

    // Outcomes: A = allowed (2xx, or 4xx from validating the dummy request), F = 403, U = 401.
    // Public routes are answered to anyone.
    use Outcome::*;
    let table: Vec<(&str, &str, Outcome, &[Role])> = vec![
        ("POST", "/api/v1/log/entries", Integration, &[]),
        ("GET", "/api/v1/log/proof/inclusion", Public, &[]),
        ("GET", "/api/v1/log/proof/consistency", Public, &[]),
        ("GET", "/api/v1/log/entries/{index}/proof", Public, &[]),
        ("GET", "/api/v1/vault/records/{id}", Decided, &[]),
        ("GET", "/api/v1/vault/records/{id}/content", Decided, &[]),
        ("POST", "/api/v1/vault/uploads", Integration, &[]),
        ("GET", "/api/v1/vault/uploads/{id}", Integration, &[]),
        ("PATCH", "/api/v1/vault/uploads/{id}", Integration, &[]),
        ("POST", "/api/v1/vault/uploads/{id}/complete", Integration, &[]),
        ("GET", "/api/v1/vault/subjects/{subject}/export", Decided, &[]),
        (
            "POST",
            "/api/v1/vault/subjects/{subject}/erasure",
            Roles,
            &[Role::Patient, Role::Guardian, Role::Operator],
        ),
        (
            "POST",
            "/api/v1/vault/holds",
            Roles,
            &[Role::Operator, Role::Regulator],
        ),
        (
            "GET",
            "/api/v1/vault/holds",
            Roles,
            &[Role::Operator, Role::Regulator],
        ),
        (
            "DELETE",
            "/api/v1/vault/holds/{id}",
            Roles,
            &[Role::Operator, Role::Regulator],
        ),
        ("POST", "/api/v1/vault/consultations/{id}/close", Integration, &[]),
        ("POST", "/api/v1/vault/retention/run", Roles, &[Role::Operator]),
        ("POST", "/api/v1/vault/shred", Roles, &[Role::Operator]),
        ("GET", "/api/v1/identity/me", People, &[]),
        ("GET", "/api/v1/identity/me/access-log", People, &[]),
        ("GET", "/api/v1/identity/me/access-log/fhir", People, &[]),
        ("GET", "/api/v1/identity/me/consents", People, &[]),
        ("GET", "/api/v1/identity/notices", Public, &[]),
        ("POST", "/api/v1/identity/notices", PeopleOnly, &[Role::Operator]),
        (
            "POST",
            "/api/v1/identity/consents",
            PeopleOnly,
            &[Role::Patient, Role::Guardian, Role::Relative],
        ),
        ("POST", "/api/v1/identity/consents/{id}/withdraw", People, &[]),
        ("GET", "/api/v1/identity/consents/{id}/fhir", People, &[]),
        ("GET", "/api/v1/identity/organisations", People, &[]),
        (
            "POST",
            "/api/v1/identity/organisations",
            PeopleOnly,
            &[Role::Operator],
        ),
        (
            "POST",
            "/api/v1/identity/guardianships",
            PeopleOnly,
            &[Role::Operator],
        ),
        (
            "GET",
            "/api/v1/identity/verifications",
            PeopleOnly,
            &[Role::Operator],
        ),
        (
            "POST",
            "/api/v1/identity/verifications/{account}/decision",
            PeopleOnly,
            &[Role::Operator],
        ),
        ("GET", "/api/v1/identity/sanctions", PeopleOnly, &[Role::Operator]),
        (
            "POST",
            "/api/v1/identity/sanctions",
            PeopleOnly,
            &[Role::Operator],
        ),
        (
            "POST",
            "/api/v1/identity/sanctions/{id}/lift",
            PeopleOnly,
            &[Role::Operator],
        ),
        ("POST", "/api/v1/care/events", Integration, &[]),
        ("POST", "/api/v1/care/events/batch", Integration, &[]),
        (
            "GET",
            "/api/v1/care/consultations/{org}/{consultation}",
            Roles,
            CARE_VIEWERS,
        ),
        ("GET", "/api/v1/care/findings", Roles, CARE_VIEWERS),
        ("GET", "/api/v1/care/alerts", PeopleOnly, CARE_VIEWERS),
        ("GET", "/api/v1/care/alerts/{id}", PeopleOnly, CARE_VIEWERS),
        (
            "POST",
            "/api/v1/care/alerts/{id}/{action}",
            PeopleOnly,
            CARE_VIEWERS,
        ),
        (
            "POST",
            "/api/v1/care/alerts/escalate",
            PeopleOnly,
            &[Role::Operator],
        ),
        ("POST", "/api/v1/care/duty/{org}", PeopleOnly, &[Role::Operator]),
        ("GET", "/api/v1/care/refunds", People, &[]),
        (
            "GET",
            "/api/v1/care/me/consultations",
            PeopleOnly,
            &[Role::Patient],
        ),
        ("POST", "/api/v1/care/ratings", PeopleOnly, &[Role::Patient]),
        (
            "GET",
            "/api/v1/care/supervision",
            PeopleOnly,
            &[Role::Regulator, Role::Operator],
        ),
        ("GET", "/log/checkpoint", Public, &[]),
        ("GET", "/log/vkey", Public, &[]),
        ("GET", "/log/tile/{path}", Public, &[]),
        ("GET", "/healthz", Public, &[]),
        ("GET", "/readyz", Public, &[]),
    ];
    // The table and the API are the same set of routes.
    let doc: Value = serde_json::from_str(&tianping_web::openapi::document()).unwrap();
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    documented.sort();
    let mut tabled: Vec<(String, String)> = table
        .iter()
        .map(|(m, p, ..)| (m.to_string(), p.to_string()))
        .collect();
    tabled.sort();
    assert_eq!(tabled, documented, "the matrix and the API's routes differ");

    let fill = |p: &str| {
        p.replace("{id}", &record)
            .replace("{index}", "0")
            .replace("{subject}", patient_subject)
            .replace("{account}", "nobody")
            .replace("{path}", "0/000")
    };
    for (method, path, outcome, roles) in &table {
        let url = fill(path);
        let m: Method = method.parse().unwrap();
        // The integration token.
        let (status, body) = server.send(m.clone(), &url, Some(json!({}))).await;
        let allowed_token = matches!(outcome, Integration | Public | Decided) || (*outcome == Roles);
        check(
            status,
            &body,
            allowed_token,
            &format!("integration {method} {path}"),
        );
        // Anonymous.
        let resp = reqwest::Client::new()
            .request(m.clone(), format!("{}{url}", server.base))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        if *outcome == Public {
            assert!(
                status != 401 && status != 403,
                "anonymous {method} {path}: {status}"
            );
        } else {
            assert_eq!(status, 401, "anonymous {method} {path}");
        }
        // Each person role.
        for (role, b) in browsers.iter_mut() {
            let (status, body) = b.api(m.clone(), &url, Some(json!({}))).await;
            let allowed = match outcome {
                Public | People | Decided => true,
                Integration => false,
                Roles | PeopleOnly => roles.contains(role),
            };
            check(
                status,
                &body,
                allowed,
                &format!("{} {method} {path}", role.as_str()),
            );
        }
    }
    server.stop().await;
}

/// Who sees an organisation's consultations, findings and alerts (the service narrows it further).
const CARE_VIEWERS: &[Role] = &[
    Role::InstitutionStaff,
    Role::Doctor,
    Role::Regulator,
    Role::Operator,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Anyone, signed in or not.
    Public,
    /// Integrations with the route's scope only.
    Integration,
    /// Any signed-in person (not integrations).
    People,
    /// Only the listed person roles.
    PeopleOnly,
    /// Integrations, or the listed person roles.
    Roles,
    /// Any caller; the access decision point then decides on the data (403 `access_denied` when it refuses).
    Decided,
}

/// `allowed`: the caller passed the route's gate — whatever follows (2xx, or a 4xx about the
/// dummy request, or the decision point's `access_denied`) is not `forbidden`/`missing_scope`/401.
fn check(status: u16, body: &Value, allowed: bool, what: &str) {
    assert!(status < 500, "{what}: {status} {body}");
    let gate = status == 401 || (status == 403 && body["code"] != "access_denied");
    if allowed {
        assert!(!gate, "{what} should pass the gate: {status} {body}");
    } else {
        assert!(
            status == 403 && body["code"] != "access_denied",
            "{what} should be refused: {status} {body}"
        );
    }
}

/// Random bodies, paths and methods to every route never produce a 5xx, and every error is
/// problem+json.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_requests_to_every_route_get_a_4xx_problem_not_a_5xx() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let db = TestDb::sqlite();
    let server = Server::start(&db, "intl").await;
    let mut ops = operator(&server, "ops.fuzz").await;
    let doc: Value = serde_json::from_str(&tianping_web::openapi::document()).unwrap();
    let mut routes: Vec<(String, String)> = Vec::new();
    for (path, methods) in doc["paths"].as_object().unwrap() {
        for m in methods.as_object().unwrap().keys() {
            routes.push((m.to_uppercase(), path.clone()));
        }
    }
    let bodies = prop_oneof![
        any::<Vec<u8>>().prop_map(|b| (b, "application/json")),
        "\\PC{0,200}".prop_map(|s| (s.into_bytes(), "application/json")),
        "\\PC{0,200}".prop_map(|s| (s.into_bytes(), "application/x-www-form-urlencoded")),
        (any::<i64>(), "[a-z_]{1,12}", "\\PC{0,40}").prop_map(|(n, k, v)| (
            json!({k: v, "n": n, "kind": v, "subject": n})
                .to_string()
                .into_bytes(),
            "application/json"
        )),
    ];
    let segment = "[A-Za-z0-9%._~-]{0,20}";
    let mut runner = TestRunner::new(Config {
        cases: 8,
        failure_persistence: None,
        ..Config::default()
    });
    let rt = tokio::runtime::Handle::current();
    for (method, path) in &routes {
        let strategy = (bodies.clone(), segment, any::<bool>());
        runner
            .run(&strategy, |((body, ctype), seg, as_token)| {
                let url = path
                    .split('/')
                    .map(|p| if p.starts_with('{') { seg.as_str() } else { p })
                    .collect::<Vec<_>>()
                    .join("/");
                let m: Method = method.parse().unwrap();
                let http = reqwest::Client::new();
                let mut req = http
                    .request(m.clone(), format!("{}{url}", server.base))
                    .header("content-type", ctype)
                    .body(body);
                if as_token {
                    req = req.bearer_auth(&server.token);
                } else {
                    req = req.header(COOKIE, ops.cookie_header());
                }
                let resp = tokio::task::block_in_place(|| rt.block_on(req.send())).unwrap();
                let status = resp.status().as_u16();
                let ctype = resp
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                prop_assert!(status < 500, "{method} {url}: {status}");
                if status >= 400 && url.starts_with("/api/") {
                    prop_assert_eq!(
                        ctype.as_str(),
                        "application/problem+json",
                        "{} {}: {}",
                        method,
                        url,
                        status
                    );
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    }
    let _ = &mut ops;
    server.stop().await;
}
