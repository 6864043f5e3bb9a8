//! Extractors that turn every malformed request into a problem+json answer.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use tianping_identity::role::Role;
use tianping_service::identity::SessionInfo;
use tianping_service::identity::access::Principal;
use tianping_service::tokens::{self, ApiClient, Scope};

use crate::{ApiError, AppState};

/// JSON body.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::UnsupportedMediaType),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::InvalidJson(e.body_text())),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::InvalidBody(e.body_text())),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::PayloadTooLarge(state.max_body))
            }
            Err(e) => Err(ApiError::InvalidBody(e.body_text())),
        }
    }
}

/// Query string.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e: QueryRejection| ApiError::InvalidQuery(e.body_text()))
    }
}

/// Path parameters.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|e: PathRejection| ApiError::InvalidPath(e.body_text()))
    }
}

/// The API client named by a valid `Authorization: Bearer` token.
pub struct Client(pub ApiClient);

impl FromRequestParts<AppState> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let bearer = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(ApiError::Unauthorized)?;
        match tokens::authenticate(&state.db, bearer).await {
            Ok(Some(client)) => Ok(Client(client)),
            Ok(None) => Err(ApiError::Unauthorized),
            Err(e) => {
                tracing::error!(error = %e, "token lookup failed");
                Err(ApiError::Internal)
            }
        }
    }
}

/// Name of the session cookie (its value is shown to the browser only; the server keeps a hash).
pub const SESSION_COOKIE: &str = "tp_session";

/// Header carrying the CSRF token on state-changing API calls made with a session cookie.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Whoever calls the API: an integration's bearer token, or a person signed in with a session
/// cookie (second factor given where the role needs it). Extracting it applies the route's [`Gate`]
/// (from [`gate_for`]), so a handler that takes a `Caller` — even as `_caller`, only for the gate —
/// runs only for callers the gate admits; reads of protected data then still pass the access
/// decision point with [`Caller::principal`].
pub enum Caller {
    Token(ApiClient, Principal),
    Person(Box<SessionInfo>, Principal),
}

impl Caller {
    pub fn principal(&self) -> &Principal {
        match self {
            Caller::Token(_, p) | Caller::Person(_, p) => p,
        }
    }

    /// The token's client when the caller is an integration holding `scope`; people are refused.
    pub fn integration(&self, scope: Scope) -> Result<&ApiClient, ApiError> {
        match self {
            Caller::Token(c, _) if c.allows(scope) => Ok(c),
            Caller::Token(..) => Err(ApiError::MissingScope(scope.as_str())),
            Caller::Person(..) => Err(ApiError::Forbidden("this route is for integrations".into())),
        }
    }

    /// The signed-in person when their role is one of `roles` (empty: any role); tokens are refused.
    pub fn person(&self, roles: &[Role]) -> Result<&SessionInfo, ApiError> {
        match self {
            Caller::Person(s, p) if roles.is_empty() || roles.contains(&p.role) => Ok(s),
            Caller::Person(..) => Err(ApiError::Forbidden("your role may not do this".into())),
            Caller::Token(..) => Err(ApiError::Forbidden("this route is for people signed in".into())),
        }
    }

    /// An integration holding `scope`, or a person with one of `roles`.
    pub fn either(&self, scope: Scope, roles: &[Role]) -> Result<(), ApiError> {
        match self {
            Caller::Token(..) => self.integration(scope).map(|_| ()),
            Caller::Person(..) => self.person(roles).map(|_| ()),
        }
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "authentication lookup failed");
    ApiError::Internal
}

/// Who may call a route at all, checked when the caller is extracted — before the request body is
/// read, so nobody learns how a route validates input that they may not send.
#[derive(Debug, Clone, Copy)]
pub enum Gate {
    /// Integrations holding the scope.
    Integration(Scope),
    /// Signed-in people with one of the roles (none listed: any role).
    People(&'static [Role]),
    /// Either of the two.
    Either(Scope, &'static [Role]),
}

const ANYONE: &[Role] = &[];
const OPERATOR: &[Role] = &[Role::Operator];
const HOLDERS: &[Role] = &[Role::Operator, Role::Regulator];
const ERASERS: &[Role] = &[Role::Patient, Role::Guardian, Role::Operator];
const CONSENTERS: &[Role] = &[Role::Patient, Role::Guardian, Role::Relative];
/// People who see an organisation's consultations and findings (the service narrows it to their own).
const CARE_VIEWERS: &[Role] = &[
    Role::InstitutionStaff,
    Role::Doctor,
    Role::Regulator,
    Role::Operator,
];
const SUPERVISORS: &[Role] = &[Role::Regulator, Role::Operator];
const PATIENT: &[Role] = &[Role::Patient];

/// The gate of every route that needs a caller, by method and route pattern. A route that is not
/// here admits nobody (fail closed); the authorisation-matrix test checks this table against the API.
pub fn gate_for(method: &axum::http::Method, route: &str) -> Option<Gate> {
    use Gate::*;
    use Scope::*;
    let m = method.as_str();
    Some(match (m, route) {
        ("POST", "/api/v1/log/entries" | "/api/v1/vault/records" | "/api/v1/vault/uploads") => {
            Integration(EventsWrite)
        }
        ("GET" | "PATCH", "/api/v1/vault/uploads/{id}") => Integration(EventsWrite),
        ("POST", "/api/v1/vault/uploads/{id}/complete") => Integration(EventsWrite),
        ("GET", "/api/v1/vault/records/{id}" | "/api/v1/vault/records/{id}/content") => {
            Either(RecordsRead, ANYONE)
        }
        ("GET", "/api/v1/vault/subjects/{subject}/export") => Either(RecordsRead, ANYONE),
        ("POST", "/api/v1/vault/subjects/{subject}/erasure") => Either(LifecycleManage, ERASERS),
        ("POST" | "GET", "/api/v1/vault/holds") | ("DELETE", "/api/v1/vault/holds/{id}") => {
            Either(HoldsManage, HOLDERS)
        }
        ("POST", "/api/v1/vault/consultations/{id}/close") => Integration(LifecycleManage),
        ("POST", "/api/v1/vault/retention/run" | "/api/v1/vault/shred") => Either(LifecycleManage, OPERATOR),
        (
            "GET",
            "/api/v1/identity/me" | "/api/v1/identity/me/access-log" | "/api/v1/identity/me/access-log/fhir",
        )
        | ("GET", "/api/v1/identity/me/consents" | "/api/v1/identity/organisations")
        | ("GET", "/api/v1/identity/consents/{id}/fhir")
        | ("POST", "/api/v1/identity/consents/{id}/withdraw") => People(ANYONE),
        ("POST", "/api/v1/identity/consents") => People(CONSENTERS),
        (
            "POST",
            "/api/v1/identity/organisations" | "/api/v1/identity/guardianships" | "/api/v1/identity/notices",
        )
        | ("GET", "/api/v1/identity/verifications" | "/api/v1/identity/sanctions")
        | ("POST", "/api/v1/identity/verifications/{account}/decision")
        | ("POST", "/api/v1/identity/sanctions" | "/api/v1/identity/sanctions/{id}/lift") => People(OPERATOR),
        ("POST", "/api/v1/care/events" | "/api/v1/care/events/batch") => Integration(EventsWrite),
        ("GET", "/api/v1/care/consultations/{org}/{consultation}" | "/api/v1/care/findings") => {
            Either(EventsWrite, CARE_VIEWERS)
        }
        ("GET", "/api/v1/care/alerts" | "/api/v1/care/alerts/{id}")
        | ("POST", "/api/v1/care/alerts/{id}/{action}") => People(CARE_VIEWERS),
        ("POST", "/api/v1/care/alerts/escalate" | "/api/v1/care/duty/{org}") => People(OPERATOR),
        ("GET", "/api/v1/care/refunds") => People(ANYONE),
        ("GET", "/api/v1/care/me/consultations") | ("POST", "/api/v1/care/ratings") => People(PATIENT),
        ("GET", "/api/v1/care/supervision") => People(SUPERVISORS),
        _ => return None,
    })
}

impl Gate {
    fn admits(self, caller: &Caller) -> Result<(), ApiError> {
        match self {
            Gate::Integration(scope) => caller.integration(scope).map(|_| ()),
            Gate::People(roles) => caller.person(roles).map(|_| ()),
            Gate::Either(scope, roles) => caller.either(scope, roles),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = Self::authenticate(parts, state).await?;
        let route = parts
            .extensions
            .get::<axum::extract::MatchedPath>()
            .map(|p| p.as_str().to_owned());
        match route.as_deref().and_then(|r| gate_for(&parts.method, r)) {
            Some(gate) => gate.admits(&caller)?,
            None => return Err(ApiError::Forbidden("this route admits nobody".into())),
        }
        Ok(caller)
    }
}

impl Caller {
    async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if parts.headers.contains_key(AUTHORIZATION) {
            let Client(client) = Client::from_request_parts(parts, state).await?;
            // A suspended or blacklisted partner organisation's tokens stop at once.
            if let Some(org) = &client.org_id
                && state
                    .identity
                    .org(org)
                    .await
                    .map_err(internal)?
                    .is_none_or(|o| o.status != "active")
            {
                return Err(ApiError::Suspended);
            }
            let p = state.identity.token_principal(&client);
            return Ok(Caller::Token(client, p));
        }
        let cookie =
            crate::ui::csrf::cookie_value(&parts.headers, SESSION_COOKIE).ok_or(ApiError::Unauthorized)?;
        let session = state
            .identity
            .session(&cookie)
            .await
            .map_err(internal)?
            .filter(|s| s.mfa_ok)
            .ok_or(ApiError::Unauthorized)?;
        if !parts.method.is_safe() {
            let given = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !crate::ui::csrf::tokens_match(&session.csrf, given) {
                return Err(ApiError::Csrf);
            }
        }
        let p = state
            .identity
            .principal(&session.account)
            .await
            .map_err(internal)?;
        Ok(Caller::Person(Box::new(session), p))
    }
}
