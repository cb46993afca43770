//! This gateway as a node of a cluster: it says it is alive every second, so that
//! `GET /v1/admin/cluster` shows every node sharing the store and which ones stopped.

use std::sync::Arc;
use std::time::Duration;

use crate::model::now_ms;
use crate::store::{NodeInfo, NodeSeen};
use crate::App;

/// How often a node heartbeats.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// A node not seen for this long has stopped (crashed, killed, or cut off from the store).
pub const SILENT_AFTER: Duration = Duration::from_secs(5);

/// Heartbeats until the task is aborted.
pub async fn heartbeat(app: Arc<App>) {
    let node = NodeInfo { id: app.settings.node_id.clone(), started_at_ms: now_ms(), version: env!("CARGO_PKG_VERSION").to_string() };
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        match app.store.heartbeat(&node).await {
            Ok(()) => failing = false,
            Err(e) if !failing => {
                tracing::error!("cannot heartbeat to the store: {e}");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

/// A node as `GET /v1/admin/cluster` shows it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct NodeView {
    pub id: String,
    pub started_at: String,
    pub last_seen_at: String,
    pub version: String,
    /// `alive`, or `silent` when it has not heartbeated for 5 s.
    #[schema(value_type = String, example = "alive")]
    pub state: &'static str,
    /// Whether this is the node that answered.
    pub this_node: bool,
}

impl NodeView {
    pub fn of(seen: NodeSeen, this_node: &str, now_ms: u64) -> NodeView {
        let rfc3339 = |ms: u64| humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_millis(ms)).to_string();
        let silent = now_ms.saturating_sub(seen.last_seen_at_ms) > SILENT_AFTER.as_millis() as u64;
        NodeView {
            this_node: seen.node.id == this_node,
            id: seen.node.id,
            started_at: rfc3339(seen.node.started_at_ms),
            last_seen_at: rfc3339(seen.last_seen_at_ms),
            version: seen.node.version,
            state: if silent { "silent" } else { "alive" },
        }
    }
}
