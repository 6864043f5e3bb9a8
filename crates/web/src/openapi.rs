//! The OpenAPI 3.1 document, generated from the handlers' annotations. A copy is committed at
//! `docs/openapi.json`; a test fails when it is stale.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Tianping 天平", description = "Evidence log and encrypted vault, and later the risk-sharing services, of the Tianping platform."),
    paths(
        crate::api::append,
        crate::api::inclusion,
        crate::api::consistency,
        crate::api::entry_proof,
        crate::vault::read_record,
        crate::vault::read_content,
        crate::vault::begin_upload,
        crate::vault::upload_status,
        crate::vault::append_upload,
        crate::vault::complete_upload,
        crate::vault::export_subject,
        crate::vault::request_erasure,
        crate::vault::place_hold,
        crate::vault::list_holds,
        crate::vault::release_hold,
        crate::vault::close_consultation,
        crate::vault::run_retention,
        crate::vault::shred,
        crate::identity::me,
        crate::identity::access_log,
        crate::identity::access_log_fhir,
        crate::identity::my_consents,
        crate::identity::notices,
        crate::identity::publish_notice,
        crate::identity::grant,
        crate::identity::withdraw,
        crate::identity::consent_fhir,
        crate::identity::list_orgs,
        crate::identity::create_org,
        crate::identity::link_guardian,
        crate::identity::verification_queue,
        crate::identity::decide_doctor,
        crate::identity::list_sanctions,
        crate::identity::sanction,
        crate::identity::lift_sanction,
        crate::care::ingest_one,
        crate::care::ingest_batch,
        crate::care::consultation,
        crate::care::findings,
        crate::care::alerts,
        crate::care::alert,
        crate::care::act,
        crate::care::escalate,
        crate::care::set_duty,
        crate::care::refund,
        crate::care::my_consultations,
        crate::care::rate,
        crate::care::supervision,
        crate::tiles::checkpoint,
        crate::tiles::vkey,
        crate::tiles::tile,
        crate::healthz,
        crate::readyz,
    ),
    components(schemas(crate::Problem)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as pretty JSON with a trailing newline (the committed form).
pub fn document() -> String {
    let mut s = ApiDoc::openapi().to_pretty_json().expect("OpenAPI serialises");
    s.push('\n');
    s
}

pub async fn serve() -> Json<serde_json::Value> {
    Json(serde_json::to_value(ApiDoc::openapi()).expect("OpenAPI serialises"))
}
