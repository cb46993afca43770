//! Traces over OpenTelemetry (`serve --otlp-endpoint`). The pipeline's `tracing` spans
//! (ingest, authenticate, persist, deliver, transform, send, evaluate and the guest calls in
//! them) become OpenTelemetry spans, exported in batches over OTLP/HTTP; a W3C
//! `traceparent` carries a trace in from the shop, across the store to the node that
//! delivers, and out to the target.
//!
//! Off (the default), no layer is installed and no header is read or written: the spans are
//! the ones the process log had before, and nothing else runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter};
use opentelemetry_sdk::Resource;
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Whether spans are exported: set once, when the exporter starts.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// One export may take this long; then its batch is dropped.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// A stop waits this long for the last spans to leave.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("--otlp-endpoint `{0}` is not an http:// or https:// URL")]
    Endpoint(String),
    #[error("cannot set up the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// The span exporter of a running gateway.
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Starts exporting to the collector at `endpoint` (a base URL, to which `/v1/traces` is
    /// added, or a URL with a path, used as it is). Returns the layer that turns the
    /// gateway's own spans into OpenTelemetry spans.
    pub fn start<S>(endpoint: &str, node_id: &str) -> Result<(Traces, impl Layer<S> + Send + Sync), TelemetryError>
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let url = traces_url(endpoint)?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url.clone())
            .with_timeout(EXPORT_TIMEOUT)
            .build()?;
        let resource = Resource::builder()
            .with_service_name("hookgate")
            .with_attributes([
                KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
                KeyValue::new("service.instance.id", node_id.to_string()),
            ])
            .build();
        // The batch processor exports on a thread of its own and drops spans when its queue
        // is full: a slow or absent collector never holds up ingest or delivery.
        let provider = SdkTracerProvider::builder()
            .with_span_processor(BatchSpanProcessor::builder(Reporting::new(exporter, url)).build())
            .with_resource(resource)
            .build();
        let layer = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("hookgate"))
            // Only the gateway's spans: not those of the libraries it uses.
            .with_filter(Targets::new().with_target("hookgate", tracing::Level::INFO));
        ENABLED.store(true, Ordering::Relaxed);
        Ok((Traces { provider }, layer))
    }

    /// Exports the spans still queued (waiting up to 5 s); called once the gateway stopped.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT) {
            tracing::warn!("traces: the last spans may not have been exported: {e}");
        }
    }
}

/// Whether spans are exported.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Makes `span`, not yet entered, a child of the span a W3C `traceparent` names (with its
/// `tracestate`); without a valid one, `span` starts a trace of its own.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>, tracestate: Option<&str>) {
    if !enabled() || traceparent.is_none() {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&Incoming { traceparent, tracestate });
    // Fails only for a span that is filtered out or already entered: it then keeps its place.
    let _ = span.set_parent(parent);
}

/// The W3C headers (`traceparent`, and `tracestate` when there is one) that make the
/// receiver of a request a child of `span`; none while traces are not exported.
pub fn headers(span: &tracing::Span) -> Vec<(String, String)> {
    let mut outgoing = Outgoing(Vec::new());
    if enabled() {
        TraceContextPropagator::new().inject_context(&span.context(), &mut outgoing);
    }
    outgoing.0
}

/// The W3C `traceparent` of `span`, while traces are exported.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    headers(span).into_iter().find(|(name, _)| name == TRACEPARENT).map(|(_, value)| value)
}

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

struct Incoming<'a> {
    traceparent: Option<&'a str>,
    tracestate: Option<&'a str>,
}

impl Extractor for Incoming<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            TRACEPARENT => self.traceparent,
            TRACESTATE => self.tracestate,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT, TRACESTATE]
    }
}

struct Outgoing(Vec<(String, String)>);

impl Injector for Outgoing {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_string(), value));
    }
}

/// `endpoint` with `/v1/traces` when it names no path (the OTLP/HTTP convention).
fn traces_url(endpoint: &str) -> Result<String, TelemetryError> {
    let invalid = || TelemetryError::Endpoint(endpoint.to_string());
    let url = url::Url::parse(endpoint).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid());
    }
    let url = if url.path() == "/" { url.join("v1/traces").map_err(|_| invalid())? } else { url };
    Ok(url.to_string())
}

/// The OTLP exporter, saying in the gateway's log when the collector stops taking spans and
/// when it takes them again: once each, not once a batch.
#[derive(Debug)]
struct Reporting<E> {
    inner: E,
    url: String,
    failing: AtomicBool,
}

impl<E> Reporting<E> {
    fn new(inner: E, url: String) -> Self {
        Reporting { inner, url, failing: AtomicBool::new(false) }
    }
}

impl<E: SpanExporter> SpanExporter for Reporting<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let exported = self.inner.export(batch).await;
        match &exported {
            Err(e) if !self.failing.swap(true, Ordering::Relaxed) => {
                tracing::warn!("traces: cannot export spans to {} ({e}); dropping them until it takes them", self.url)
            }
            Ok(()) if self.failing.swap(false, Ordering::Relaxed) => tracing::info!("traces: exporting to {} again", self.url),
            _ => {}
        }
        exported
    }

    fn shutdown_with_timeout(&mut self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&mut self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::traces_url;

    #[test]
    fn the_endpoint_is_a_base_url_or_the_whole_url() {
        assert_eq!(traces_url("http://collector:4318").unwrap(), "http://collector:4318/v1/traces");
        assert_eq!(traces_url("https://collector/").unwrap(), "https://collector/v1/traces");
        assert_eq!(traces_url("http://collector:4318/otlp/v1/traces").unwrap(), "http://collector:4318/otlp/v1/traces");
        for wrong in ["collector:4318", "grpc://collector:4317", "http://", ""] {
            assert!(traces_url(wrong).is_err(), "{wrong} is refused");
        }
    }
}
