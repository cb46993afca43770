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
pub mod client;
pub mod delivery;
pub mod dry_run;
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
pub mod store;
pub mod telemetry;
pub mod template;
pub mod validate;

#[cfg(test)]
mod fuzz;

use std::sync::Arc;

use tokio::sync::Notify;

pub use settings::Settings;

use runtime::{Registry, Runtime};
use store::Store;

/// Everything the handlers and the delivery workers share.
pub struct App {
    pub settings: Settings,
    pub store: Arc<dyn Store>,
    pub components: Registry,
    /// Wakes the delivery dispatcher when new deliveries are queued.
    pub queue_changed: Notify,
    pub admin_tokens: Vec<AdminToken>,
    pub metrics: metrics::Metrics,
    /// Free places in the runtime's instance pool for hot-path guest calls.
    pub guest_slots: Arc<tokio::sync::Semaphore>,
    /// Each target's admission on this node (in-flight cap, rate limit, circuit breaker):
    /// the dispatcher's, read by the admin API.
    pub gates: Arc<delivery::gate::Gates>,
}

/// Who may use the admin API, and how.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminToken {
    /// Shown in the gateway's log instead of the token.
    pub name: String,
    pub token: String,
    #[serde(default)]
    pub scope: AdminScope,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminScope {
    #[default]
    Admin,
    /// GET only: the delivery log, configs (secrets masked), components.
    Read,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Runtime(#[from] runtime::RuntimeError),
    #[error("{0}")]
    Delivery(String),
}

impl App {
    /// Opens the store and the runtime. The admin tokens come from the caller (the binary
    /// reads them from the environment, the data directory and `--admin-tokens-file`).
    pub async fn open(settings: Settings, admin_tokens: Vec<AdminToken>) -> Result<Arc<App>, StartError> {
        let store = store::open(&settings.store, &settings.store_options()).await?;
        let runtime = Runtime::new(settings.guest_limits.clone())?;
        Ok(Arc::new(App {
            components: Registry::new(runtime, store.clone(), settings.compile_cache.clone()),
            store,
            settings,
            queue_changed: Notify::new(),
            admin_tokens,
            metrics: metrics::Metrics::default(),
            guest_slots: Arc::new(tokio::sync::Semaphore::new(runtime::MAX_CONCURRENT_CALLS)),
            gates: Arc::default(),
        }))
    }
}

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
    api::listen::serve(listener, router, app.settings.header_timeout, shutdown).await;
    retention.abort();
    heartbeat.abort();
    dispatcher.stop(app.settings.shutdown_grace).await;
    if let Err(e) = app.store.close().await {
        tracing::error!("closing the store failed: {e}");
    }
    Ok(())
}
