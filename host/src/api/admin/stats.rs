//! `GET /v1/admin/stats`: how big the store is and how much is waiting.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::openapi::{StorageError, Unauthorized};
use crate::api::ApiError;
use crate::App;

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(stats))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    /// Bytes the store takes on disk.
    pub store_bytes: u64,
    /// Messages stored.
    pub messages: usize,
    /// Deliveries waiting (claimed ones included).
    pub pending_deliveries: usize,
    /// Settled messages older than this are pruned.
    pub retention_seconds: u64,
}

/// Store and queue figures
#[utoipa::path(
    get,
    path = "/stats",
    tag = "operations",
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The figures.", body = Stats),
        (status = 401, response = Unauthorized),
        (status = 500, response = StorageError),
    ),
)]
async fn stats(State(app): State<Arc<App>>) -> Result<Json<Stats>, ApiError> {
    Ok(Json(Stats {
        store_bytes: app.store.size_bytes().await?,
        messages: app.store.message_count().await?,
        pending_deliveries: app.store.pending_count().await?,
        retention_seconds: app.settings.retention.as_secs(),
    }))
}
