//! `/v1/admin/...`: components, events and the delivery log, behind a bearer token.

mod components;
mod events;
mod messages;
mod stats;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use subtle::ConstantTimeEq;

use super::ApiError;
use crate::App;

pub fn routes(app: Arc<App>) -> Router<Arc<App>> {
    Router::new()
        .merge(components::routes())
        .merge(events::routes())
        .merge(messages::routes())
        .merge(stats::routes())
        .layer(middleware::from_fn_with_state(app, require_admin))
}

/// Admits requests carrying `Authorization: Bearer <admin token>`, compared in constant time.
async fn require_admin(State(app): State<Arc<App>>, request: Request, next: Next) -> Result<Response, ApiError> {
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(token) if bool::from(token.as_bytes().ct_eq(app.admin_token.as_bytes())) => Ok(next.run(request).await),
        Some(_) => Err(ApiError::unauthorized("the admin token is not valid")),
        None => Err(ApiError::unauthorized("the admin API needs `Authorization: Bearer <admin token>`")),
    }
}
