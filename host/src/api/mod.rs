//! The HTTP API: ingest for shops, admin for operators. Handlers are thin: they parse,
//! call one pipeline function, and map its error through [`ApiError`].

mod admin;
mod console;
mod error;
mod extract;
mod ingest;
pub mod listen;
mod openapi;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::{ApiError, ErrorBody, ErrorCode};
pub use extract::Api;

use crate::App;

/// Largest component upload accepted by the admin API.
const MAX_COMPONENT_BYTES: usize = 64 << 20;

/// A shop that cannot send its event within the ingest timeout gets a 408 and its
/// connection back, rather than holding a worker with a trickle of bytes.
async fn ingest_deadline(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let limit = app.settings.ingest_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::RequestTimeout,
            format!("the request was not received within {} ms", limit.as_millis()),
        )
        .into_response(),
    }
}

/// Prometheus metrics
///
/// OpenMetrics text: ingests, deliveries, attempts and guest calls by outcome, queue depth,
/// the oldest pending delivery's age, the store's size. Any admin token may read it.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The metrics.", content_type = "application/openmetrics-text", body = String),
        (status = 401, response = openapi::Unauthorized),
    ),
)]
async fn metrics(State(app): State<Arc<App>>) -> Response {
    let body = app.metrics.render(app.store.as_ref()).await;
    ([(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response()
}

/// Liveness
///
/// `ok` while the gateway serves requests.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "`ok`", content_type = "text/plain", body = String)),
)]
async fn healthz() -> &'static str {
    "ok"
}

/// Every route with its description; the document is published for `/v1/openapi.json`.
pub fn router(app: Arc<App>) -> Router {
    let ingest = ingest::routes()
        .layer(DefaultBodyLimit::max(app.settings.max_body_bytes))
        .layer(middleware::from_fn_with_state(app.clone(), ingest_deadline));
    let admin = admin::routes(app.clone()).layer(DefaultBodyLimit::max(MAX_COMPONENT_BYTES));
    let metrics = OpenApiRouter::new()
        .routes(routes!(metrics))
        .layer(middleware::from_fn_with_state(app.clone(), admin::require_admin));
    let (router, mut document) = OpenApiRouter::with_openapi(openapi::Document::openapi())
        .routes(routes!(healthz))
        .routes(routes!(openapi::openapi_json))
        .merge(metrics)
        .merge(ingest)
        .merge(console::routes())
        .nest("/v1/admin", admin)
        .split_for_parts();
    openapi::body_optional(&mut document, "/v1/events/{event_id}");
    openapi::publish(&document);
    router
        .fallback(|| async { ApiError::not_found(ErrorCode::NotFound, "no such route; see the README for the API") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed, "this route does not take that method")
        })
        .with_state(app)
}
