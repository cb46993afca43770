//! The HTTP API: ingest for shops, admin for operators. Handlers are thin: they parse,
//! call one pipeline function, and map its error through [`ApiError`].

mod admin;
mod error;
mod ingest;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;

pub use error::ApiError;

use crate::App;

/// Largest component upload accepted by the admin API.
const MAX_COMPONENT_BYTES: usize = 64 << 20;

pub fn router(app: Arc<App>) -> Router {
    let ingest = ingest::routes().layer(DefaultBodyLimit::max(app.settings.max_body_bytes));
    let admin = admin::routes(app.clone()).layer(DefaultBodyLimit::max(MAX_COMPONENT_BYTES));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(ingest)
        .nest("/v1/admin", admin)
        .with_state(app)
}
