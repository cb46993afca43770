//! `GET /v1/admin/cluster`: the gateway nodes that share the store, and which stopped
//! heartbeating (shown, not dropped: an operator wants to know a node died).

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::api::ApiError;
use crate::model::now_ms;
use crate::node::NodeView;
use crate::App;

pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/cluster", get(cluster))
}

async fn cluster(State(app): State<Arc<App>>) -> Result<Json<Value>, ApiError> {
    let now = now_ms();
    let nodes: Vec<NodeView> =
        app.store.nodes().await?.into_iter().map(|seen| NodeView::of(seen, &app.settings.node_id, now)).collect();
    Ok(Json(json!({ "nodes": nodes })))
}
