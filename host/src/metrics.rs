//! Prometheus metrics (`GET /metrics`): what came in, what went out, what the guests did,
//! and how much is waiting. Labels are event ids, target ids, component names and error
//! codes, all bounded by the configuration (an unknown event id is counted as `unknown`).

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::model::{message_id_time_ms, now_ms, DeliveryStatus};
use crate::store::Store;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IngestLabels {
    event: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    event: String,
    target: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetKey {
    event: String,
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GuestLabels {
    component: String,
    role: String,
    outcome: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// 0.1 ms to ~6.5 s.
fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

pub struct Metrics {
    registry: Registry,
    ingest: Family<IngestLabels, Counter>,
    ingest_seconds: Histograms<IngestLabels>,
    deliveries: Family<TargetLabels, Counter>,
    attempts: Family<TargetLabels, Counter>,
    attempt_seconds: Histograms<TargetLabels>,
    guest_calls: Family<GuestLabels, Counter>,
    guest_seconds: Histograms<GuestLabels>,
    queue_depth: Gauge,
    oldest_pending_seconds: Gauge<f64, AtomicU64>,
    store_bytes: Gauge,
    targets_disabled: Family<TargetKey, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let metrics = Metrics {
            ingest: Family::default(),
            ingest_seconds: Family::new_with_constructor(latency_buckets),
            deliveries: Family::default(),
            attempts: Family::default(),
            attempt_seconds: Family::new_with_constructor(latency_buckets),
            guest_calls: Family::default(),
            guest_seconds: Family::new_with_constructor(latency_buckets),
            queue_depth: Gauge::default(),
            oldest_pending_seconds: Gauge::default(),
            store_bytes: Gauge::default(),
            targets_disabled: Family::default(),
            registry: Registry::default(),
        };
        registry.register("hookgate_ingest_requests", "Ingest requests by event and outcome", metrics.ingest.clone());
        registry.register("hookgate_ingest_duration_seconds", "Ingest latency, until the answer", metrics.ingest_seconds.clone());
        registry.register("hookgate_deliveries", "Deliveries settled, by target and outcome", metrics.deliveries.clone());
        registry.register("hookgate_attempts", "Delivery attempts by target and outcome", metrics.attempts.clone());
        registry.register("hookgate_attempt_duration_seconds", "Delivery attempt latency", metrics.attempt_seconds.clone());
        registry.register("hookgate_guest_calls", "Component calls by component, role and outcome", metrics.guest_calls.clone());
        registry.register("hookgate_guest_call_duration_seconds", "Component call latency", metrics.guest_seconds.clone());
        registry.register("hookgate_queue_depth", "Pending deliveries", metrics.queue_depth.clone());
        registry.register(
            "hookgate_oldest_pending_age_seconds",
            "Age of the oldest message with a pending delivery",
            metrics.oldest_pending_seconds.clone(),
        );
        registry.register("hookgate_store_size_bytes", "Size of the store on disk", metrics.store_bytes.clone());
        registry.register(
            "hookgate_target_disabled",
            "1 for each target the gateway disabled after failing for its disable_after_failing_ms",
            metrics.targets_disabled.clone(),
        );
        Metrics { registry, ..metrics }
    }
}

impl Metrics {
    pub fn ingest(&self, event: &str, outcome: &str, took: Duration) {
        let labels = IngestLabels { event: event.to_string(), outcome: outcome.to_string() };
        self.ingest.get_or_create(&labels).inc();
        self.ingest_seconds.get_or_create(&labels).observe(took.as_secs_f64());
    }

    /// One attempt; `outcome` is `ok` or the attempt's error code.
    pub fn attempt(&self, event: &str, target: &str, outcome: &str, took: Duration) {
        let labels = TargetLabels { event: event.to_string(), target: target.to_string(), outcome: outcome.to_string() };
        self.attempts.get_or_create(&labels).inc();
        self.attempt_seconds.get_or_create(&labels).observe(took.as_secs_f64());
    }

    /// A delivery that reached a final status.
    pub fn settled(&self, event: &str, target: &str, status: DeliveryStatus) {
        let outcome = format!("{status:?}").to_lowercase();
        self.deliveries.get_or_create(&TargetLabels { event: event.to_string(), target: target.to_string(), outcome }).inc();
    }

    /// One component call; `component` is the binding's reference without its version.
    pub fn guest_call(&self, component: &str, role: &str, outcome: &str, took: Duration) {
        let name = component.split_once('@').map_or(component, |(name, _)| name);
        let labels = GuestLabels { component: name.to_string(), role: role.to_string(), outcome: outcome.to_string() };
        self.guest_calls.get_or_create(&labels).inc();
        self.guest_seconds.get_or_create(&labels).observe(took.as_secs_f64());
    }

    /// The exposition, with the store gauges read now.
    pub async fn render(&self, store: &dyn Store) -> String {
        self.queue_depth.set(store.pending_count().await.unwrap_or(0) as i64);
        let oldest = store.oldest_pending_message().await.ok().flatten().and_then(|id| message_id_time_ms(&id));
        self.oldest_pending_seconds.set(oldest.map_or(0.0, |t| now_ms().saturating_sub(t) as f64 / 1000.0));
        self.store_bytes.set(store.size_bytes().await.unwrap_or(0) as i64);
        self.targets_disabled.clear();
        for (event, config) in store.events() {
            for target in config.targets.iter().filter(|t| t.disabled.is_some()) {
                self.targets_disabled.get_or_create(&TargetKey { event: event.clone(), target: target.id.clone() }).set(1);
            }
        }
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!("cannot encode metrics: {e}");
        }
        out
    }
}
