//! `/v1/admin/...`: components, events and the delivery log, behind a bearer token.

mod backup;
mod cluster;
mod components;
mod events;
mod messages;
mod stats;
mod targets;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::{Extension, Json};
use serde::Serialize;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::Unauthorized;
use super::{ApiError, ErrorCode};
use crate::{AdminScope, AdminToken, App};

pub fn routes(app: Arc<App>) -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .merge(backup::routes())
        .merge(cluster::routes())
        .merge(components::routes())
        .merge(events::routes())
        .merge(messages::routes())
        .merge(stats::routes())
        .merge(targets::routes())
        .routes(routes!(whoami))
        .layer(middleware::from_fn_with_state(app, require_admin))
}

/// Admits requests carrying `Authorization: Bearer <token>` of a known admin token
/// (compared in constant time, each one); read-scoped tokens may only read.
pub(super) async fn require_admin(State(app): State<Arc<App>>, mut request: Request, next: Next) -> Result<Response, ApiError> {
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::ingest::auth::bearer)
        .ok_or_else(|| ApiError::unauthorized("the admin API needs `Authorization: Bearer <admin token>`"))?;
    let known = app
        .admin_tokens
        .iter()
        .fold(None, |found, t| if bool::from(presented.as_bytes().ct_eq(t.token.as_bytes())) { Some(t) } else { found })
        .ok_or_else(|| ApiError::unauthorized("the admin token is not valid"))?;
    let reads = matches!(*request.method(), Method::GET | Method::HEAD);
    if known.scope == AdminScope::Read && !reads {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            format!("token `{}` is read-only", known.name),
        ));
    }
    tracing::debug!(token = %known.name, method = %request.method(), path = %request.uri().path(), "admin request");
    request.extensions_mut().insert(known.clone());
    Ok(next.run(request).await)
}

/// The admin token in use.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhoAmI {
    /// The token's name (what the gateway logs instead of the token).
    pub name: String,
    pub scope: AdminScope,
}

/// `admin` or `read`: described with the API that shows it rather than where it is defined.
impl utoipa::PartialSchema for AdminScope {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(["admin", "read"]))
            .description(Some("`read` may only GET"))
            .into()
    }
}

impl ToSchema for AdminScope {}

/// Who is asking
///
/// The token in use: its name and scope (what a read-only console greys out).
#[utoipa::path(
    get,
    path = "/whoami",
    tag = "operations",
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The token's name and scope.", body = WhoAmI),
        (status = 401, response = Unauthorized),
    ),
)]
async fn whoami(Extension(token): Extension<AdminToken>) -> Json<WhoAmI> {
    Json(WhoAmI { name: token.name, scope: token.scope })
}
