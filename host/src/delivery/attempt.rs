//! One attempt of one delivery: build the draft request from the target config, let the
//! transformer shape it, send it, and judge the response (success criteria, then the
//! condition component).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tracing::Instrument;

use crate::egress::{EgressPolicy, Forbidden};
use super::client::RefusedHop;
use super::{request, retry, success, HttpClients};
use crate::signing;
use crate::model::{
    rfc3339_now, Attempt, DeliveryRecord, ErrorInfo, FailureCode, GuestLog, MessageRecord, RetryPolicy, SentRequest,
    TargetConfig,
};
use crate::runtime::{GuestCall, GuestResponse, OutgoingRequest, TransformResult, Verdict};
use crate::App;

/// How much of a response the gateway reads: enough for the criteria, the condition
/// component and the log, never an unbounded body.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// What an attempt decided.
#[derive(Debug)]
pub enum Outcome {
    Delivered,
    Skipped(String),
    Retry { error: ErrorInfo, after: Option<Duration> },
    Failed(ErrorInfo),
}

/// The attempt's record, its outcome, and the retry policy in force for the target.
pub struct Tried {
    pub attempt: Attempt,
    pub outcome: Outcome,
    pub policy: RetryPolicy,
    /// No attempt may start after this (Unix ms), when the policy sets a deadline.
    pub deadline_at_ms: Option<u64>,
}

/// What an attempt works from: the stored message and the target's current config.
pub struct Context {
    pub message: MessageRecord,
    body: bytes::Bytes,
    pub target: TargetConfig,
}

/// Everything an attempt learns while it runs; becomes the [`Attempt`] record.
struct Trace {
    started: Instant,
    at: String,
    status_code: Option<u16>,
    response_excerpt: Option<String>,
    request: Option<SentRequest>,
    guest_logs: Vec<GuestLog>,
}

impl Trace {
    fn absorb<T>(&mut self, role: &str, call: &GuestCall<T>) {
        self.guest_logs.extend(call.report.logs.iter().map(|l| GuestLog {
            level: l.level.clone(),
            message: format!("{role}: {}", l.message),
        }));
    }

    fn finish(self, error: Option<ErrorInfo>) -> Attempt {
        Attempt {
            at: self.at,
            duration_ms: self.started.elapsed().as_millis() as u64,
            status_code: self.status_code,
            error,
            response_excerpt: self.response_excerpt,
            request: self.request,
            guest_logs: self.guest_logs,
            node: None,
        }
    }
}

pub async fn run(
    app: &Arc<App>,
    clients: &HttpClients,
    delivery: &DeliveryRecord,
    context: Result<Context, ErrorInfo>,
) -> Tried {
    let mut trace = Trace {
        started: Instant::now(),
        at: rfc3339_now(),
        status_code: None,
        response_excerpt: None,
        request: None,
        guest_logs: Vec::new(),
    };
    let context = match context {
        Ok(context) => context,
        Err(error) => {
            return Tried {
                attempt: trace.finish(Some(error.clone())),
                outcome: Outcome::Failed(error),
                policy: RetryPolicy::default(),
                deadline_at_ms: None,
            }
        }
    };
    let attempt_number = delivery.attempts.len() as u32 + 1;
    let outcome = match clients.for_target(&context.target) {
        Ok(client) => deliver(app, &client, &context, attempt_number, &mut trace).await,
        Err(error) => Outcome::Failed(error),
    };
    let error = match &outcome {
        Outcome::Retry { error, .. } | Outcome::Failed(error) => Some(error.clone()),
        Outcome::Delivered | Outcome::Skipped(_) => None,
    };
    let deadline_at_ms = context.target.retry.deadline_for(context.message.received_at_ms);
    Tried { attempt: trace.finish(error), outcome, policy: context.target.retry, deadline_at_ms }
}

pub async fn load(app: &App, delivery: &DeliveryRecord) -> Result<Context, ErrorInfo> {
    let storage = |e: crate::store::StoreError| ErrorInfo::new(FailureCode::StorageError, e.to_string());
    let (message, body) = app
        .store
        .message_with_body(&delivery.message_id)
        .await
        .map_err(storage)?
        .ok_or_else(|| ErrorInfo::new(FailureCode::MessageMissing, "the message is no longer stored"))?;
    let target = app
        .store
        .event(&message.event_id)
        .and_then(|event| event.target(&delivery.target).cloned())
        .ok_or_else(|| {
            ErrorInfo::new(
                FailureCode::TargetRemoved,
                format!("event `{}` no longer has a target `{}`", message.event_id, delivery.target),
            )
        })?;
    Ok(Context { message, body, target })
}

async fn deliver(app: &Arc<App>, client: &reqwest::Client, ctx: &Context, attempt: u32, trace: &mut Trace) -> Outcome {
    let max_request_bytes = app.settings.max_request_bytes;
    let mut request = match request::draft(&ctx.target, &ctx.message, &ctx.body, max_request_bytes) {
        Ok(request) => request,
        Err(error) => return Outcome::Failed(error),
    };
    if let Some(binding) = &ctx.target.transformer {
        let message = request::guest_message(&ctx.message, &ctx.body);
        let call = app.call_guest(binding, "transformer", move |app, prepared, config| {
            app.components.runtime().transform(prepared, config, &message, &request)
        })
        .instrument(tracing::info_span!("transform"))
        .await;
        let call = match call {
            Ok(call) => call,
            Err(failed) => return Outcome::Failed(ErrorInfo::new(failed.code, failed.message)),
        };
        trace.absorb("transformer", &call);
        request = match call.result {
            Ok(TransformResult::Send(request)) => request,
            Ok(TransformResult::Skip(reason)) => return Outcome::Skipped(reason),
            Ok(TransformResult::Error(reason)) => return Outcome::Failed(ErrorInfo::new(FailureCode::TransformError, reason)),
            Err(e) => return Outcome::Failed(ErrorInfo::new(e.code(), e.to_string())),
        };
    }
    let signature = signing::headers(&ctx.target.signing, &ctx.message.message_id, SystemTime::now(), &request.body);
    if !signature.is_empty() {
        request.headers.retain(|(name, _)| !signature.iter().any(|(signed, _)| name.eq_ignore_ascii_case(signed)));
        request.headers.extend(signature);
    }
    let span = tracing::info_span!(
        "send",
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty
    );
    // The receiver's spans become children of this one (a traceparent the config or the
    // transformer set is replaced: it names no span of this trace).
    let propagated = crate::telemetry::headers(&span);
    if !propagated.is_empty() {
        request.headers.retain(|(name, _)| !propagated.iter().any(|(ours, _)| name.eq_ignore_ascii_case(ours)));
        request.headers.extend(propagated);
    }
    trace.request = Some(request::for_log(&request, &ctx.target));
    let checked = request::check(&request, max_request_bytes)
        .and_then(|()| check_url(&request.url, app.settings.allow_http, &app.settings.egress));
    if let Err(error) = checked {
        span.record("otel.status_code", "ERROR");
        return Outcome::Failed(error);
    }

    let timeout = Duration::from_millis(ctx.target.retry.timeout_ms);
    let sent = send(client, &request, timeout).instrument(span.clone()).await;
    match &sent {
        Ok(response) => span.record("http.response.status_code", response.status),
        Err(_) => span.record("otel.status_code", "ERROR"),
    };
    let response = match sent {
        Ok(response) => response,
        // Where the rules refuse to send (a redirect hop included), trying again changes nothing.
        Err(error) if error.code.is_refusal() => return Outcome::Failed(error),
        Err(error) => return Outcome::Retry { error, after: None },
    };
    trace.status_code = Some(response.status);
    trace.response_excerpt = Some(request::excerpt(&response.body));
    evaluate(app, ctx, request, response, attempt, trace).instrument(tracing::info_span!("evaluate")).await
}

/// The scheme rule (HTTPS unless `--allow-http`) and, for a URL whose host is an IP
/// address (which skips the resolver), the egress policy.
pub(super) fn check_url(url: &str, allow_http: bool, egress: &EgressPolicy) -> Result<(), ErrorInfo> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| ErrorInfo::new(FailureCode::InvalidUrl, format!("`{}`: {e}", crate::secrets::mask_userinfo(url))))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_http => {}
        scheme => {
            return Err(ErrorInfo::new(
                FailureCode::InsecureUrl,
                format!("refusing to send to a {scheme}:// URL; only https is allowed (see --allow-http)"),
            ))
        }
    }
    let ip = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
        _ => None,
    };
    match ip {
        Some(ip) => egress.check(&ip.to_string(), ip).map_err(|e| ErrorInfo::new(FailureCode::ForbiddenTarget, e.to_string())),
        None => Ok(()),
    }
}

struct Received {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

async fn send(client: &reqwest::Client, request: &OutgoingRequest, timeout: Duration) -> Result<Received, ErrorInfo> {
    let method = reqwest::Method::from_bytes(request.method.as_bytes())
        .map_err(|_| ErrorInfo::new(FailureCode::InvalidRequest, format!("`{}` is not an HTTP method", request.method)))?;
    let mut builder = client.request(method, &request.url).timeout(timeout);
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let started = tokio::time::Instant::now();
    let mut response = builder.body(request.body.clone()).send().await.map_err(network_error)?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let mut body = Vec::new();
    while body.len() < MAX_RESPONSE_BYTES {
        let remaining = timeout.saturating_sub(started.elapsed());
        match tokio::time::timeout(remaining, response.chunk()).await {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk[..chunk.len().min(MAX_RESPONSE_BYTES - body.len())]),
            Ok(Ok(None)) => break,
            Ok(Err(e)) => return Err(network_error(e)),
            Err(_) => return Err(ErrorInfo::new(FailureCode::Timeout, format!("no complete response within {timeout:?}"))),
        }
    }
    Ok(Received { status, headers, body })
}

/// rustls errors reach us wrapped in io::Errors (twice, today), whose `source` skips the
/// wrapped error: look inside them.
fn is_tls_failure(mut error: &(dyn std::error::Error + 'static)) -> bool {
    loop {
        if error.is::<rustls::Error>() {
            return true;
        }
        match error.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => error = inner,
            None => return false,
        }
    }
}

fn network_error(e: reqwest::Error) -> ErrorInfo {
    use std::error::Error;
    // The URL may hold credentials; the attempt's request shows it, masked.
    let e = e.without_url();
    let mut message = e.to_string();
    let (mut refused_hop, mut forbidden, mut tls) = (None, false, false);
    let mut source = e.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        refused_hop = refused_hop.or(cause.downcast_ref::<RefusedHop>().map(|hop| hop.0.code));
        forbidden |= cause.is::<Forbidden>();
        tls |= is_tls_failure(cause);
        source = cause.source();
    }
    if let Some(code) = refused_hop {
        return ErrorInfo { code, message };
    }
    let code = if forbidden {
        FailureCode::ForbiddenTarget
    } else if tls {
        FailureCode::TlsError
    } else if e.is_timeout() {
        FailureCode::Timeout
    } else if e.is_connect() {
        FailureCode::ConnectError
    } else {
        FailureCode::NetworkError
    };
    ErrorInfo::new(code, message)
}

async fn evaluate(
    app: &Arc<App>,
    ctx: &Context,
    request: OutgoingRequest,
    response: Received,
    attempt: u32,
    trace: &mut Trace,
) -> Outcome {
    if let Err(why) = success::check(&ctx.target.success, response.status, response.header("content-type"), &response.body)
    {
        let error = ErrorInfo::new(FailureCode::HttpStatus, why);
        if success::is_permanent(response.status) {
            return Outcome::Failed(error);
        }
        let after = response.header("retry-after").and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
        return Outcome::Retry { error, after };
    }
    let Some(binding) = &ctx.target.condition else { return Outcome::Delivered };
    let guest_response = GuestResponse { status: response.status, headers: response.headers, body: response.body };
    let call = app.call_guest(binding, "condition", move |app, prepared, config| {
        app.components.runtime().evaluate(prepared, config, &request, &guest_response, attempt)
    })
    .await;
    let call = match call {
        Ok(call) => call,
        Err(failed) => return Outcome::Failed(ErrorInfo::new(failed.code, failed.message)),
    };
    trace.absorb("condition", &call);
    match call.result {
        Ok(Verdict::Success) => Outcome::Delivered,
        Ok(Verdict::Retry(after_ms)) => Outcome::Retry {
            error: ErrorInfo::new(FailureCode::ConditionRetry, "the condition component asked to retry"),
            after: after_ms.map(Duration::from_millis),
        },
        Ok(Verdict::Fail(reason)) => Outcome::Failed(ErrorInfo::new(FailureCode::ConditionFailed, reason)),
        Err(e) => Outcome::Failed(ErrorInfo::new(e.code(), e.to_string())),
    }
}
