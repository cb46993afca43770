//! hookgate: a webhook gateway whose authentication, transformation and success checks are
//! WebAssembly components.
//!
//! The pipeline is the architecture, and data flows one way through these modules:
//!
//! ```text
//! api ──> ingest ──> (runtime: authenticate) ──> store (message + deliveries, durable)
//!                                                  │
//!          delivery (worker) <──── queue ──────────┘
//!              └─> runtime: transform ─> HTTP send ─> success criteria + runtime: evaluate ─> store (attempt)
//! ```

pub mod api;
mod app;
pub mod client;
pub mod delivery;
pub mod dry_run;
pub mod egress;
pub mod guests;
pub mod ingest;
pub mod metrics;
pub mod model;
pub mod node;
pub mod retention;
pub mod runner;
pub mod scaffold;
pub mod schema;
pub mod secrets;
pub mod runtime;
pub mod settings;
pub mod signing;
pub mod store;
pub mod telemetry;
pub mod template;
pub mod validate;

#[cfg(test)]
mod fuzz;

use std::sync::Arc;

pub use app::{AdminScope, AdminToken, App, StartError};
pub use settings::Settings;

/// Serves the API on `listener` and runs the delivery workers until `shutdown` resolves;
/// then stops accepting, lets attempts in flight finish (up to the grace period) and
/// closes the store.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let clients = delivery::HttpClients::new(&app.settings).map_err(StartError::Delivery)?;
    let dispatcher = delivery::Dispatcher::start(app.clone(), clients);
    let retention = tokio::spawn(retention::run(app.clone()));
    let heartbeat = tokio::spawn(node::heartbeat(app.clone()));
    let router = api::router(app.clone());
    let limits = api::listen::Limits {
        header: app.settings.header_timeout,
        idle: app.settings.idle_timeout,
        max_connections: app.settings.max_connections,
    };
    api::listen::serve(listener, router, limits, shutdown).await;
    retention.abort();
    heartbeat.abort();
    dispatcher.stop(app.settings.shutdown_grace).await;
    if let Err(e) = app.store.close().await {
        tracing::error!("closing the store failed: {e}");
    }
    Ok(())
}
