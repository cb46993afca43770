//! `/v1/admin/...`: components, events and the delivery log, behind a bearer token.

mod cluster;
mod components;
mod events;
mod messages;
mod stats;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use super::ApiError;
use crate::{AdminScope, AdminToken, App};

pub fn routes(app: Arc<App>) -> Router<Arc<App>> {
    Router::new()
        .merge(cluster::routes())
        .merge(components::routes())
        .merge(events::routes())
        .merge(messages::routes())
        .merge(stats::routes())
        .route("/whoami", get(whoami))
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
            "forbidden",
            format!("token `{}` is read-only", known.name),
        ));
    }
    tracing::debug!(token = %known.name, method = %request.method(), path = %request.uri().path(), "admin request");
    request.extensions_mut().insert(known.clone());
    Ok(next.run(request).await)
}

/// The token in use: its name and scope (what a read-only console greys out).
async fn whoami(Extension(token): Extension<AdminToken>) -> Json<Value> {
    Json(json!({ "name": token.name, "scope": token.scope }))
}
