//! Process-wide settings, set from the command line.

use std::path::PathBuf;
use std::time::Duration;

use crate::egress::EgressPolicy;
use crate::runtime::GuestLimits;
use crate::store::{StoreLocation, StoreOptions};

#[derive(Debug, Clone)]
pub struct Settings {
    pub store: StoreLocation,
    /// Deliver to plain `http://` targets too (local setups and tests).
    pub allow_http: bool,
    pub guest_limits: GuestLimits,
    /// Largest ingest body accepted.
    pub max_body_bytes: usize,
    /// Largest request a delivery sends: URL, headers and body after templates and
    /// transformer.
    pub max_request_bytes: usize,
    /// The store's page cache size.
    pub cache_bytes: u64,
    /// Attempts in flight at once, all targets together.
    pub delivery_concurrency: usize,
    /// Threads that run guest calls; more calls wait their turn.
    pub guest_concurrency: usize,
    /// How long a shutdown waits for attempts in flight.
    pub shutdown_grace: Duration,
    /// A directory of compiled components shared between data directories.
    pub compile_cache: Option<PathBuf>,
    /// Non-public networks deliveries may reach.
    pub egress: EgressPolicy,
    /// PEM certificates trusted for deliveries on top of the system roots.
    pub extra_ca_file: Option<PathBuf>,
    /// Settled messages older than this are pruned.
    pub retention: Duration,
    /// A client must send its request headers within this.
    pub header_timeout: Duration,
    /// A kept-alive connection may wait this long for its next request.
    pub idle_timeout: Duration,
    /// Connections open at once (see `api::listen`).
    pub max_connections: usize,
    /// A client must send a whole ingest request within this.
    pub ingest_timeout: Duration,
    /// How long a claimed delivery stays this node's if it stops renewing the claim
    /// (a shared store only).
    pub lease_ms: u64,
    /// This node's name in attempts and in the cluster's list of nodes.
    pub node_id: String,
}

/// The largest request a delivery sends unless configured otherwise; `component run` builds
/// its drafts within it too.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 << 20;

/// The store's page cache, MiB. Ingest was as fast at 16 as at 64, with 300,000 messages
/// stored too, and the gateway's memory through a run of 100,000 messages stayed under
/// 100 MiB (BENCHMARKS.md).
pub const DEFAULT_CACHE_MB: u64 = 16;

impl Settings {
    /// The settings of a gateway whose store is in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Settings {
        Settings {
            store: StoreLocation::Sled(Settings::sled_dir(&data_dir.into())),
            allow_http: false,
            guest_limits: GuestLimits::default(),
            max_body_bytes: 1 << 20,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            cache_bytes: DEFAULT_CACHE_MB << 20,
            delivery_concurrency: 64,
            guest_concurrency: default_guest_concurrency(),
            shutdown_grace: Duration::from_secs(10),
            compile_cache: None,
            egress: EgressPolicy::default(),
            extra_ca_file: None,
            retention: Duration::from_secs(14 * 24 * 3600),
            header_timeout: Duration::from_secs(10),
            // Longer than the 90 s for which Go's and reqwest's pools keep a connection, and
            // than load balancers' 60 s: the client closes first, so no request races the close.
            idle_timeout: Duration::from_secs(120),
            max_connections: 4096,
            ingest_timeout: Duration::from_secs(30),
            lease_ms: StoreOptions::default().lease_ms,
            node_id: default_node_id(),
        }
    }

    /// Where the embedded store of a data directory is.
    pub fn sled_dir(data_dir: &std::path::Path) -> PathBuf {
        data_dir.join("db")
    }

    pub fn store_options(&self) -> StoreOptions {
        StoreOptions { cache_bytes: self.cache_bytes, lease_ms: self.lease_ms }
    }
}

/// Two guest threads per core: a guest only computes (it has no I/O), so many more only take
/// turns on the cores; two keep a core busy while the other thread hands a result back, and
/// leave room beside a guest that spends its whole time budget (measured in BENCHMARKS.md).
fn default_guest_concurrency() -> usize {
    2 * std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// The host's name and the process id: unique among the nodes running now, and telling
/// an operator where to look.
pub fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "hookgate".into());
    format!("{host}-{}", std::process::id())
}
