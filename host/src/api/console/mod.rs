//! The console at `/console`: a page over the admin API, its three files compiled into the
//! binary, so there is nothing to install, build or fetch. It signs in with an admin token
//! and calls the same API as everyone else; the server side adds nothing but these files.

use std::sync::Arc;

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::App;

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("console.js");
const STYLE: &str = include_str!("console.css");

/// Only the console's own files may load, it may talk only to this gateway, and no other
/// site may frame it.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; \
                      form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn file(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, content_type),
            (CONTENT_SECURITY_POLICY, POLICY),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(index))
        .routes(routes!(index_slash))
        .routes(routes!(script))
        .routes(routes!(style))
}

/// The console
///
/// The operator's page over this API; it signs in with an admin token.
#[utoipa::path(get, path = "/console", tag = "operations",
    responses((status = 200, description = "The page.", content_type = "text/html", body = String)))]
async fn index() -> impl IntoResponse {
    file("text/html; charset=utf-8", INDEX)
}

/// The console (with a trailing slash)
#[utoipa::path(get, path = "/console/", tag = "operations",
    responses((status = 200, description = "The page.", content_type = "text/html", body = String)))]
async fn index_slash() -> impl IntoResponse {
    file("text/html; charset=utf-8", INDEX)
}

/// The console's script
#[utoipa::path(get, path = "/console/console.js", tag = "operations",
    responses((status = 200, description = "The script.", content_type = "text/javascript", body = String)))]
async fn script() -> impl IntoResponse {
    file("text/javascript; charset=utf-8", SCRIPT)
}

/// The console's style sheet
#[utoipa::path(get, path = "/console/console.css", tag = "operations",
    responses((status = 200, description = "The style sheet.", content_type = "text/css", body = String)))]
async fn style() -> impl IntoResponse {
    file("text/css; charset=utf-8", STYLE)
}
