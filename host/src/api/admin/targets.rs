//! `GET /v1/admin/targets`: every configured target with its circuit breaker as the node
//! that answers sees it (breakers are per node: each learns a target's health from its own
//! attempts).

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::openapi::Unauthorized;
use crate::delivery::gate::BreakerState;
use crate::model::now_ms;
use crate::store::Lane;
use crate::App;

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(targets))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Targets {
    /// The node that answered, whose breakers these are.
    pub node: String,
    /// By event, then in the event's order.
    pub targets: Vec<TargetHealth>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TargetHealth {
    pub event_id: String,
    pub target_id: String,
    /// Whether the event and the target are both on.
    pub enabled: bool,
    /// `closed`: attempts go; `open`: paused until `probe_at`; `half_open`: the next attempt
    /// is a probe, or one is in flight.
    pub breaker: BreakerState,
    /// Attempts in a row that found the target down (network errors, timeouts, 5xx, 429).
    pub consecutive_failures: u32,
    /// When an open breaker lets its probe through (RFC 3339); null unless open.
    pub probe_at: Option<String>,
}

/// The targets and their circuit breakers
///
/// Every configured target with its circuit breaker on the node that answers: breakers are
/// per node, so ask each node of a cluster.
#[utoipa::path(
    get,
    path = "/targets",
    tag = "operations",
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The targets.", body = Targets),
        (status = 401, response = Unauthorized),
    ),
)]
async fn targets(State(app): State<Arc<App>>) -> Json<Targets> {
    let now = now_ms();
    let rfc3339 = |ms: u64| humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string();
    let mut targets = Vec::new();
    let mut events = app.store.events();
    events.sort_by(|a, b| a.0.cmp(&b.0));
    for (event_id, event) in events {
        for target in &event.targets {
            let lane = Lane { event_id: event_id.clone(), target_id: target.id.clone(), key: String::new() };
            let breaker = app.gates.breaker(&lane.target(), now);
            targets.push(TargetHealth {
                enabled: event.enabled && target.enabled,
                breaker: breaker.state,
                consecutive_failures: breaker.consecutive_failures,
                probe_at: breaker.probe_at_ms.map(rfc3339),
                event_id: lane.event_id,
                target_id: lane.target_id,
            });
        }
    }
    Json(Targets { node: app.settings.node_id.clone(), targets })
}
