//! The state every part of a running gateway shares, and who may use its admin API.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::guests::GuestThreads;
use crate::runtime::{self, Registry, Runtime};
use crate::settings::Settings;
use crate::store::{self, Store};
use crate::{delivery, metrics};

/// Everything the handlers and the delivery workers share.
pub struct App {
    pub settings: Settings,
    pub store: Arc<dyn Store>,
    pub components: Registry,
    /// Wakes the delivery dispatcher when new deliveries are queued.
    pub queue_changed: Notify,
    pub admin_tokens: Vec<AdminToken>,
    pub metrics: metrics::Metrics,
    /// Places for guest calls, running or queued: callers beyond them wait.
    pub guest_slots: Arc<tokio::sync::Semaphore>,
    pub guest_threads: GuestThreads,
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
    #[error("cannot start the guest threads: {0}")]
    GuestThreads(std::io::Error),
}

impl App {
    /// Opens the store and the runtime. The admin tokens come from the caller (the binary
    /// reads them from the environment, the data directory and `--admin-tokens-file`).
    pub async fn open(settings: Settings, admin_tokens: Vec<AdminToken>) -> Result<Arc<App>, StartError> {
        let store = store::open(&settings.store, &settings.store_options()).await?;
        let runtime = Runtime::new(settings.guest_limits.clone())?;
        let guest_threads = GuestThreads::start(settings.guest_concurrency.clamp(1, runtime::MAX_CONCURRENT_CALLS))
            .map_err(StartError::GuestThreads)?;
        Ok(Arc::new(App {
            components: Registry::new(runtime, store.clone(), settings.compile_cache.clone()),
            store,
            settings,
            queue_changed: Notify::new(),
            admin_tokens,
            metrics: metrics::Metrics::default(),
            guest_slots: Arc::new(tokio::sync::Semaphore::new(runtime::MAX_CONCURRENT_CALLS)),
            guest_threads,
            gates: Arc::default(),
        }))
    }
}

