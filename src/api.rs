//! The JSON API v1 and its OpenAPI document, generated from the handlers.

use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::router::OpenApiRouter;

use crate::web::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "gridcrm API", description = "Customer archive of a power supply company. Authenticate with a per-tenant API key: `Authorization: Bearer gck_…`. Errors are application/problem+json; validation errors list each field."),
    modifiers(&BearerKey)
)]
struct ApiDoc;

struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("gck_…").build()),
        );
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::customers::api::router())
        .merge(crate::complaints::api::router())
        .merge(crate::work_orders::api::router())
        .merge(crate::readings::api::router())
        .merge(crate::billing::api::router())
        .merge(crate::payments::api::router())
        .merge(crate::cost_control::api::router())
        .merge(crate::interval::api::router())
}
