//! `GET /v1/admin/stats`: how big the store is and how much is waiting.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::api::ApiError;
use crate::App;

pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/stats", get(stats))
}

async fn stats(State(app): State<Arc<App>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({
        "store_bytes": app.store.size_bytes().await?,
        "messages": app.store.message_count().await?,
        "pending_deliveries": app.store.pending_count().await?,
        "retention_seconds": app.settings.retention.as_secs(),
    })))
}
