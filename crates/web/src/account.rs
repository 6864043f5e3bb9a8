//! Pages for getting in and out: sign-up (with real-name and, for doctors, licence details),
//! login with lockout, TOTP enrolment and the second factor (staff roles), sign-out; and the session
//! middleware every page runs behind.
//!
//! Sessions live in the database (shared by every replica); the browser holds only a random id in
//! the `tp_session` cookie (HttpOnly, SameSite=Strict, Secure when configured). Every sign-in and
//! every step up (second factor given) issues a new id and ends the old one, so a session id planted
//! before login never gains rights (session fixation).

use std::collections::BTreeMap;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Request, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tianping_identity::ids::{
    DisplayName, LicenceNumber, LoginName, ParseError, Password, Phone, ResidentId,
};
use tianping_identity::role::{OrgKind, Role};
use tianping_service::identity::{DoctorApplication, IdentityError, LoginStep, SessionInfo, SignUp};

use crate::AppState;
use crate::extract::SESSION_COOKIE;
use crate::ui::csrf::{self, SessionCsrf};
use crate::ui::{PageCtx, SelectOption, UserNav, paths, render, render_status, t};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::SIGNUP, get(signup_page).post(signup))
        .route(paths::LOGIN, get(login_page).post(login))
        .route(TOTP_ENROL, get(enrol_page).post(enrol))
        .route(TOTP, get(totp_page).post(totp))
        .route(paths::LOGOUT, axum::routing::post(logout))
}

pub const TOTP_ENROL: &str = "/totp/enrol";
pub const TOTP: &str = "/totp";

/// The session of this request: signed in (second factor given where needed).
#[derive(Clone)]
pub struct Signed(pub SessionInfo);

/// A session waiting for its second factor.
#[derive(Clone)]
pub struct Pending(pub SessionInfo);

/// Middleware: resolve the session cookie; put the session, its CSRF token and the navigation
/// into the request's extensions.
pub async fn session_layer(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    if let Some(cookie) = csrf::cookie_value(req.headers(), SESSION_COOKIE) {
        match s.identity.session(&cookie).await {
            Ok(Some(info)) => {
                req.extensions_mut().insert(SessionCsrf(info.csrf.clone()));
                if info.mfa_ok {
                    req.extensions_mut().insert(UserNav::new(
                        info.account.display_name.clone(),
                        info.account.role.clone(),
                    ));
                    req.extensions_mut().insert(Signed(info));
                } else {
                    req.extensions_mut().insert(Pending(info));
                }
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "session lookup failed"),
        }
    }
    req.extensions_mut()
        .insert(csrf::CookieSecurity(s.identity.settings().secure_cookies));
    next.run(req).await
}

/// A 303 redirect.
pub fn see_other(to: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(
            LOCATION,
            HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/")),
        )],
    )
        .into_response()
}

/// Start a session for `account` (ending the one the request presented) and hand `respond` its
/// CSRF token to build the response, which then sets the session cookie.
async fn with_new_session(
    s: &AppState,
    ext: &Extensions,
    headers: &HeaderMap,
    account: &str,
    mfa_ok: bool,
    respond: impl FnOnce(&str) -> Response,
) -> Response {
    let old = csrf::cookie_value(headers, SESSION_COOKIE);
    let session = match s.identity.start_session(account, mfa_ok, old.as_deref()).await {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(error = %e, "session start failed");
            return crate::ui::internal_error_page();
        }
    };
    let max_age = (s.identity.settings().session_minutes * 60) as i64;
    let mut resp = respond(&session.csrf);
    resp.headers_mut().append(
        SET_COOKIE,
        csrf::set_cookie(
            SESSION_COOKIE,
            &session.cookie,
            Some(max_age),
            csrf::CookieSecurity::of(ext),
        ),
    );
    resp
}

/// The status of a page that shows a form: 422 when it carries an error, else 200.
pub fn form_status(form_error: &str) -> StatusCode {
    if form_error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

/// Field errors of a form, already translated.
#[derive(Default, Debug)]
pub struct Errors(BTreeMap<&'static str, String>);

impl Errors {
    pub fn get(&self, field: &str) -> String {
        self.0.get(field).cloned().unwrap_or_default()
    }

    pub fn set(&mut self, field: &'static str, message: String) {
        self.0.entry(field).or_insert(message);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The translated message of a parse error (keys are listed in `tianping_identity::ids`).
pub fn parse_message(ctx: &PageCtx, e: &ParseError) -> String {
    t(ctx.locale, e.message_key())
}

/// Where a person lands after signing in.
fn home_of(role: &str) -> &'static str {
    if role == Role::Operator.as_str() {
        paths::VERIFICATION_QUEUE
    } else if role == Role::Doctor.as_str() {
        crate::operator::DOCTOR_EVIDENCE
    } else {
        paths::PRIVACY
    }
}

pub(crate) fn bad_csrf(ctx: PageCtx) -> Response {
    crate::ui::pages::error_page(
        ctx,
        StatusCode::FORBIDDEN,
        crate::ui::pages::ErrorKey::BAD_REQUEST,
        crate::ui::pages::ErrorKey::CSRF,
    )
}

/// A fixed-window counter of sign-in attempts per client address, in memory (each replica counts
/// its own; the per-account lockout in the database is shared). Bounded: when it tracks too many
/// addresses it starts a new window for all.
#[derive(Clone)]
pub struct Throttle {
    per_minute: u32,
    seen: std::sync::Arc<
        std::sync::Mutex<(
            std::time::Instant,
            std::collections::HashMap<std::net::IpAddr, u32>,
        )>,
    >,
}

impl Throttle {
    const MAX_TRACKED: usize = 100_000;

    pub fn new(per_minute: u32) -> Throttle {
        Throttle {
            per_minute,
            seen: std::sync::Arc::new(std::sync::Mutex::new((
                std::time::Instant::now(),
                Default::default(),
            ))),
        }
    }

    /// Count an attempt from `ip`; false when it is over the limit for the current minute.
    pub fn allow(&self, ip: Option<std::net::IpAddr>) -> bool {
        let Some(ip) = ip else { return true };
        let mut guard = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (start, counts) = &mut *guard;
        if start.elapsed() >= std::time::Duration::from_secs(60) || counts.len() >= Self::MAX_TRACKED {
            *start = std::time::Instant::now();
            counts.clear();
        }
        let n = counts.entry(ip).or_insert(0);
        *n = n.saturating_add(1);
        *n <= self.per_minute
    }
}

/// The client's address, when the server was started with connection info.
fn client_ip(ext: &Extensions) -> Option<std::net::IpAddr> {
    ext.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}

/// A form whose fields include the CSRF token.
pub trait HasCsrf {
    fn csrf(&self) -> &str;
}

macro_rules! has_csrf {
    ($($t:ty),* $(,)?) => {
        $(impl $crate::account::HasCsrf for $t {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })*
    };
}
pub(crate) use has_csrf;

/// A posted form whose `csrf` field carries this request's token (the session's, else the
/// anonymous cookie's). Anything else — no token, a wrong one, a body that is no form — is refused
/// with the translated 403 page before the handler runs.
pub struct Posted<F>(pub F);

impl<S, F> axum::extract::FromRequest<S> for Posted<F>
where
    S: Send + Sync,
    F: serde::de::DeserializeOwned + Default + HasCsrf,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        use axum::extract::FromRequestParts;
        let (mut parts, body) = req.into_parts();
        let Ok(ctx) = PageCtx::from_request_parts(&mut parts, state).await;
        let (ext, headers) = (parts.extensions.clone(), parts.headers.clone());
        let form = Form::<F>::from_request(Request::from_parts(parts, body), state)
            .await
            .map(|Form(f)| f)
            .unwrap_or_default();
        if csrf::check(&ext, &headers, form.csrf()) {
            Ok(Posted(form))
        } else {
            Err(bad_csrf(ctx))
        }
    }
}

has_csrf!(SignupForm, LoginForm, CodeForm, CsrfOnly);

// ---- sign-up

#[derive(Deserialize, Default, Debug)]
pub struct SignupForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    resident_id: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    licence: String,
    #[serde(default)]
    institution: String,
    #[serde(default)]
    specialty: String,
    #[serde(default)]
    practice_years: String,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    ctx: PageCtx,
    f: SignupForm,
    errors: Errors,
    form_error: String,
    roles: Vec<SelectOption>,
    institutions: Vec<SelectOption>,
}

async fn signup_view(
    s: &AppState,
    ctx: PageCtx,
    f: SignupForm,
    errors: Errors,
    form_error: String,
) -> Response {
    let roles = [Role::Patient, Role::Guardian, Role::Relative, Role::Doctor]
        .into_iter()
        .map(|r| SelectOption {
            value: r.as_str().to_owned(),
            label: t(ctx.locale, r.message_key()),
            selected: f.role == r.as_str(),
        })
        .collect();
    let institutions = s
        .identity
        .orgs()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|o| {
            o.kind
                .parse::<OrgKind>()
                .is_ok_and(|k| k.is_medical_institution())
                && o.status == "active"
        })
        .map(|o| SelectOption {
            selected: f.institution == o.id,
            value: o.id,
            label: o.name,
        })
        .collect();
    let status = if errors.is_empty() && form_error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render_status(
        status,
        &SignupPage {
            ctx,
            f,
            errors,
            form_error,
            roles,
            institutions,
        },
    )
}

async fn signup_page(State(s): State<AppState>, ctx: PageCtx) -> Response {
    signup_view(&s, ctx, SignupForm::default(), Errors::default(), String::new()).await
}

async fn signup(
    State(s): State<AppState>,
    ctx: PageCtx,
    ext: Extensions,
    headers: HeaderMap,
    form: Result<Form<SignupForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(mut f)) = form else {
        return signup_view(
            &s,
            ctx.clone(),
            SignupForm::default(),
            Errors::default(),
            ctx.t("form-invalid"),
        )
        .await;
    };
    if !csrf::check(&ext, &headers, &f.csrf) {
        return bad_csrf(ctx);
    }
    let mut errors = Errors::default();
    let login = LoginName::parse(&f.login).map_err(|e| errors.set("login", parse_message(&ctx, &e)));
    let name =
        DisplayName::parse(&f.display_name).map_err(|e| errors.set("display_name", parse_message(&ctx, &e)));
    let password = login
        .as_ref()
        .ok()
        .map(|l| Password::parse(&f.password, Some(l)))
        .unwrap_or_else(|| Password::parse(&f.password, None))
        .map_err(|e| errors.set("password", parse_message(&ctx, &e)));
    f.password.clear();
    let role = f
        .role
        .parse::<Role>()
        .ok()
        .filter(|r| r.self_registrable())
        .ok_or_else(|| errors.set("role", ctx.t("signup-role-invalid")));
    let resident_id =
        ResidentId::parse(&f.resident_id).map_err(|e| errors.set("resident_id", parse_message(&ctx, &e)));
    let phone = if f.phone.trim().is_empty() {
        Ok(None)
    } else {
        Phone::parse(&f.phone)
            .map(Some)
            .map_err(|e| errors.set("phone", parse_message(&ctx, &e)))
    };
    let doctor = if role == Ok(Role::Doctor) {
        let licence =
            LicenceNumber::parse(&f.licence).map_err(|e| errors.set("licence", parse_message(&ctx, &e)));
        if f.institution.is_empty() {
            errors.set("institution", ctx.t("signup-institution-required"));
        }
        let specialty = f.specialty.trim().to_owned();
        if specialty.is_empty() || specialty.chars().count() > 40 {
            errors.set("specialty", ctx.t("signup-specialty-invalid"));
        }
        let years = f
            .practice_years
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|y| *y <= 70)
            .ok_or_else(|| errors.set("practice_years", ctx.t("signup-years-invalid")));
        match (licence, years) {
            (Ok(licence), Ok(practice_years)) => Some(DoctorApplication {
                licence,
                institution_id: f.institution.clone(),
                specialty,
                practice_years,
                evidence: vec![],
            }),
            _ => None,
        }
    } else {
        None
    };
    let (Ok(login), Ok(display_name), Ok(password), Ok(role), Ok(resident_id), Ok(phone)) =
        (login, name, password, role, resident_id, phone)
    else {
        return signup_view(&s, ctx, f, errors, String::new()).await;
    };
    if !errors.is_empty() {
        return signup_view(&s, ctx, f, errors, String::new()).await;
    }
    let result = s
        .identity
        .register(SignUp {
            login,
            display_name,
            password,
            role,
            resident_id: Some(resident_id),
            phone,
            doctor,
            orgs: vec![],
        })
        .await;
    let id = match result {
        Ok(id) => id,
        Err(e) => {
            let key = match e {
                IdentityError::LoginTaken => {
                    errors.set("login", ctx.t("signup-login-taken"));
                    return signup_view(&s, ctx, f, errors, String::new()).await;
                }
                IdentityError::IdentityTaken => "signup-identity-taken",
                IdentityError::LicenceTaken => "signup-licence-taken",
                IdentityError::Blacklisted => "signup-blacklisted",
                IdentityError::BadRequest(_) => "form-invalid",
                other => {
                    tracing::error!(error = %other, "sign-up failed");
                    "error-internal-body"
                }
            };
            let msg = t(ctx.locale, key);
            return signup_view(&s, ctx, f, errors, msg).await;
        }
    };
    start(&s, &ext, &headers, &id, !role.is_staff(), role.as_str()).await
}

/// Start a session for `account` (ending the one presented) and go on: home when signed in,
/// else to the second factor (or its enrolment).
async fn start(
    s: &AppState,
    ext: &Extensions,
    headers: &HeaderMap,
    account: &str,
    mfa_ok: bool,
    role: &str,
) -> Response {
    let next = if mfa_ok {
        home_of(role).to_owned()
    } else {
        match s.identity.account(account).await {
            Ok(a) if a.totp_enabled => TOTP.to_owned(),
            _ => TOTP_ENROL.to_owned(),
        }
    };
    with_new_session(s, ext, headers, account, mfa_ok, |_| see_other(&next)).await
}

// ---- login

#[derive(Deserialize, Default, Debug)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    ctx: PageCtx,
    login: String,
    form_error: String,
}

async fn login_page(ctx: PageCtx) -> Response {
    render(&LoginPage {
        ctx,
        login: String::new(),
        form_error: String::new(),
    })
}

async fn login(
    State(s): State<AppState>,
    ctx: PageCtx,
    ext: Extensions,
    headers: HeaderMap,
    Posted(f): Posted<LoginForm>,
) -> Response {
    if !s.login_throttle.allow(client_ip(&ext)) {
        return render_status(
            StatusCode::TOO_MANY_REQUESTS,
            &LoginPage {
                form_error: ctx.t("login-throttled"),
                ctx,
                login: f.login,
            },
        );
    }
    let (status, key) = match s.identity.login(&f.login, &f.password).await {
        Ok(LoginStep::Done(id)) => {
            let role = s.identity.account(&id).await.map(|a| a.role).unwrap_or_default();
            return start(&s, &ext, &headers, &id, true, &role).await;
        }
        Ok(LoginStep::SecondFactor { account, .. }) => {
            return start(&s, &ext, &headers, &account, false, "").await;
        }
        Err(IdentityError::BadCredentials) => (StatusCode::UNAUTHORIZED, "login-bad-credentials"),
        Err(IdentityError::Locked) => (StatusCode::TOO_MANY_REQUESTS, "login-locked"),
        Err(IdentityError::Suspended) => (StatusCode::FORBIDDEN, "login-suspended"),
        Err(e) => {
            tracing::error!(error = %e, "login failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "error-internal-body")
        }
    };
    render_status(
        status,
        &LoginPage {
            form_error: t(ctx.locale, key),
            ctx,
            login: f.login,
        },
    )
}

// ---- second factor

#[derive(Deserialize, Default, Debug)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

#[derive(Template)]
#[template(path = "totp_enrol.html")]
struct EnrolPage {
    ctx: PageCtx,
    secret: String,
    uri: String,
    form_error: String,
}

#[derive(Template)]
#[template(path = "totp.html")]
struct TotpPage {
    ctx: PageCtx,
    form_error: String,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryPage {
    ctx: PageCtx,
    codes: Vec<String>,
    next: String,
}

async fn enrol_page(
    State(s): State<AppState>,
    ctx: PageCtx,
    pending: Option<axum::Extension<Pending>>,
) -> Response {
    let Some(axum::Extension(Pending(info))) = pending else {
        return see_other(paths::LOGIN);
    };
    if info.account.totp_enabled {
        return see_other(TOTP);
    }
    match s.identity.begin_enrolment(&info.account.id).await {
        Ok(e) => render(&EnrolPage {
            ctx,
            secret: e.secret_base32.to_string(),
            uri: e.uri.to_string(),
            form_error: String::new(),
        }),
        Err(e) => {
            tracing::error!(error = %e, "TOTP enrolment failed");
            crate::ui::internal_error_page()
        }
    }
}

async fn enrol(
    state: State<AppState>,
    ctx: PageCtx,
    ext: Extensions,
    headers: HeaderMap,
    form: Posted<CodeForm>,
) -> Response {
    second_factor(state, ctx, ext, headers, form, true).await
}

async fn totp_page(ctx: PageCtx, pending: Option<axum::Extension<Pending>>) -> Response {
    if pending.is_none() {
        return see_other(paths::LOGIN);
    }
    render(&TotpPage {
        ctx,
        form_error: String::new(),
    })
}

async fn totp(
    state: State<AppState>,
    ctx: PageCtx,
    ext: Extensions,
    headers: HeaderMap,
    form: Posted<CodeForm>,
) -> Response {
    second_factor(state, ctx, ext, headers, form, false).await
}

async fn second_factor(
    State(s): State<AppState>,
    ctx: PageCtx,
    ext: Extensions,
    headers: HeaderMap,
    Posted(f): Posted<CodeForm>,
    enrolling: bool,
) -> Response {
    let Some(Pending(info)) = ext.get::<Pending>().cloned() else {
        return see_other(paths::LOGIN);
    };
    if !s.login_throttle.allow(client_ip(&ext)) {
        let form_error = ctx.t("login-throttled");
        return render_status(StatusCode::TOO_MANY_REQUESTS, &TotpPage { ctx, form_error });
    }
    let retry = async |ctx: PageCtx, status: StatusCode, key: &str| -> Response {
        let form_error = t(ctx.locale, key);
        if enrolling {
            // The same secret is shown again: the one already in the authenticator stays valid.
            match s.identity.begin_enrolment(&info.account.id).await {
                Ok(e) => render_status(
                    status,
                    &EnrolPage {
                        ctx,
                        secret: e.secret_base32.to_string(),
                        uri: e.uri.to_string(),
                        form_error,
                    },
                ),
                Err(_) => see_other(TOTP),
            }
        } else {
            render_status(status, &TotpPage { ctx, form_error })
        }
    };
    match s.identity.second_factor(&info.account.id, &f.code).await {
        Ok(codes) => {
            let next = home_of(&info.account.role).to_owned();
            with_new_session(&s, &ext, &headers, &info.account.id, true, |csrf| match codes {
                Some(codes) => {
                    // The page is rendered for the new session: its forms carry the new CSRF token.
                    let mut ctx = ctx;
                    ctx.csrf = csrf.to_owned();
                    ctx.user = Some(UserNav::new(
                        info.account.display_name.clone(),
                        info.account.role.clone(),
                    ));
                    render(&RecoveryPage { ctx, codes, next })
                }
                None => see_other(&next),
            })
            .await
        }
        Err(IdentityError::Locked) => retry(ctx, StatusCode::TOO_MANY_REQUESTS, "login-locked").await,
        Err(IdentityError::Suspended) => retry(ctx, StatusCode::FORBIDDEN, "login-suspended").await,
        Err(IdentityError::BadSecondFactor) => retry(ctx, StatusCode::UNAUTHORIZED, "totp-bad-code").await,
        Err(e) => {
            tracing::error!(error = %e, "second factor failed");
            crate::ui::internal_error_page()
        }
    }
}

// ---- sign-out

/// A form with nothing but its CSRF token (a button).
#[derive(Deserialize, Default)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(s): State<AppState>,
    ext: Extensions,
    headers: HeaderMap,
    Posted(_): Posted<CsrfOnly>,
) -> Response {
    if let Some(cookie) = csrf::cookie_value(&headers, SESSION_COOKIE)
        && let Err(e) = s.identity.end_session(&cookie).await
    {
        tracing::error!(error = %e, "sign-out failed");
    }
    let mut resp = see_other(paths::HOME);
    resp.headers_mut().append(
        SET_COOKIE,
        csrf::set_cookie(SESSION_COOKIE, "", Some(0), csrf::CookieSecurity::of(&ext)),
    );
    resp
}
