//! `GET /v1/admin/cluster`: the gateway nodes that share the store, and which stopped
//! heartbeating (shown, not dropped: an operator wants to know a node died).

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::openapi::{StorageError, Unauthorized};
use crate::api::ApiError;
use crate::model::now_ms;
use crate::node::NodeView;
use crate::App;

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(cluster))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Cluster {
    /// Every node that ever heartbeated to the store, by id.
    pub nodes: Vec<NodeView>,
}

/// The nodes sharing the store
#[utoipa::path(
    get,
    path = "/cluster",
    tag = "operations",
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The nodes; one on the embedded store.", body = Cluster),
        (status = 401, response = Unauthorized),
        (status = 500, response = StorageError),
    ),
)]
async fn cluster(State(app): State<Arc<App>>) -> Result<Json<Cluster>, ApiError> {
    let now = now_ms();
    let nodes = app.store.nodes().await?.into_iter().map(|seen| NodeView::of(seen, &app.settings.node_id, now)).collect();
    Ok(Json(Cluster { nodes }))
}
