//! The vocabulary of the gateway: events and their targets (configuration), messages,
//! deliveries and attempts (what happened). Everything here is plain serde data; the
//! store persists it as JSON and the admin API shows it as is.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// RFC 3339 UTC time with milliseconds, as shown in the delivery log.
pub fn rfc3339_now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// A new time-ordered message id (`msg_` + UUIDv7), so that ids sort by arrival.
pub fn new_message_id() -> String {
    format!("msg_{}", uuid::Uuid::now_v7().simple())
}

/// When a message id was created (Unix ms), read back from its UUIDv7.
pub fn message_id_time_ms(id: &str) -> Option<u64> {
    u64::from_str_radix(id.strip_prefix("msg_")?.get(..12)?, 16).ok()
}

/// The smallest message id that can be created at `ms` (UUIDv7 starts with 48 bits of
/// Unix milliseconds): ids of earlier messages sort below it.
pub fn message_id_floor(ms: u64) -> String {
    format!("msg_{:012x}", ms & 0xffff_ffff_ffff)
}

fn yes() -> bool {
    true
}

/// The configuration of one event type: who may fire it and where it goes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// A built-in check of the caller, run before the authenticator component if both are set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingest_auth: Option<IngestAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticator: Option<Binding>,
    /// Per-subshop switches; a subshop not listed follows `enabled`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub subshops: BTreeMap<String, bool>,
    #[serde(default)]
    pub targets: Vec<TargetConfig>,
    /// A JSON Schema (2020-12) every fired payload must match (for `POST /v1/ingest`, the
    /// envelope's `value`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
    #[serde(skip)]
    pub compiled_schema: crate::schema::CompiledSchema,
}

/// Built-in ways to authenticate who fires an event (without writing a component).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum IngestAuth {
    /// `Authorization: Bearer <token>`, compared in constant time.
    Bearer { token: String },
    /// A Standard Webhooks signature by the source (`webhook-id`, `webhook-timestamp`,
    /// `webhook-signature`), with the timestamp at most `tolerance_seconds` away from now.
    StandardWebhooks {
        secret: String,
        #[serde(default = "default_tolerance_seconds")]
        tolerance_seconds: u64,
    },
}

fn default_tolerance_seconds() -> u64 {
    300
}

impl EventConfig {
    pub fn target(&self, id: &str) -> Option<&TargetConfig> {
        self.targets.iter().find(|t| t.id == id)
    }

    /// Whether a fire (for `subshop`, when the caller names one) is accepted.
    pub fn enabled_for(&self, subshop: Option<&str>) -> bool {
        self.enabled && subshop.and_then(|s| self.subshops.get(s)).copied().unwrap_or(true)
    }
}

/// A component used in a role, with the settings it reads through the `config` import.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    /// `name` (latest version) or `name@N` (pinned version).
    pub component: String,
    #[serde(default)]
    pub config: BTreeMap<String, serde_json::Value>,
}

impl Binding {
    /// The value of a config key as the guest sees it: strings as they are, anything else
    /// as its JSON text.
    pub fn config_value(&self, key: &str) -> Option<String> {
        self.config.get(key).map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }
}

/// One destination of an event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub id: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<HttpMethod>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body template with `#path#` variables; without it the message data is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Values for `#config.key#` in the URL, headers and body; masked in the delivery log.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transformer: Option<Binding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Binding>,
    #[serde(default)]
    pub success: SuccessCriteria,
    #[serde(default)]
    pub retry: RetryPolicy,
    #[serde(default)]
    pub signing: Signing,
    /// Attempts to this target in flight at once.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: u32,
    #[serde(default)]
    pub circuit_breaker: BreakerPolicy,
    /// At most `per_second` attempts a second on average, `burst` at once (per node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Deliveries with the same key go one at a time, in order of acceptance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering: Option<OrderingPolicy>,
    /// Disable the target once every attempt to it has failed for this long (off when
    /// unset); measured by each node from its own attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_after_failing_ms: Option<u64>,
    /// Why and when the gateway disabled the target; cleared when it is enabled again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<Disabled>,
    /// A client certificate to present (mTLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_tls: Option<ClientTls>,
    /// Follow redirects (up to 5, each hop checked like the target URL); off by default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub follow_redirects: bool,
}

/// A client certificate chain and its private key, both PEM.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientTls {
    pub certificate: String,
    pub private_key: String,
}

/// Attempts in flight to one target unless its config says otherwise: half of the default
/// `--delivery-concurrency`, so one slow target holds at most half the delivery workers,
/// and a fast one is not held back (8 delivered 75-93% of what 64 in flight did,
/// BENCHMARKS.md 2026-12-07).
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 32;

fn default_max_in_flight() -> u32 {
    DEFAULT_MAX_IN_FLIGHT
}

/// A token bucket: `burst` attempts may start at once, and it refills at `per_second`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub per_second: u32,
    #[serde(default = "one")]
    pub burst: u32,
}

fn one() -> u32 {
    1
}

/// A target the gateway switched off: every attempt to it failed for its
/// `disable_after_failing_ms`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Disabled {
    /// RFC 3339.
    pub at: String,
    pub reason: String,
}

/// Deliveries of a target that share a key go one at a time, in the order the gateway
/// accepted their messages.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderingPolicy {
    /// A template over the message data, like a header's (`#value.order_id#`, `#subshop#`);
    /// rendered when the message is accepted. An empty key leaves the delivery unordered.
    pub key: String,
    #[serde(default)]
    pub on_failure: OnFailure,
}

/// What a key does when its head fails for good.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// The next delivery of the key goes.
    #[default]
    Next,
    /// The key waits until an operator retries or skips the failed delivery.
    Block,
}

/// When a target is paused: after `failure_threshold` consecutive failed attempts (network
/// errors, timeouts, 5xx, 429) it gets no attempts for `pause_ms`, then one probe; a failed
/// probe doubles the pause up to `max_pause_ms`. `failure_threshold: 0` turns it off.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerPolicy {
    pub failure_threshold: u32,
    pub pause_ms: u64,
    pub max_pause_ms: u64,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy { failure_threshold: 5, pause_ms: 30_000, max_pause_ms: 600_000 }
    }
}

/// Standard Webhooks signing of a target's deliveries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Signing {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `whsec_` + base64 of 24-64 random bytes; generated when the target is configured
    /// without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// During a rotation: the old secret, also used to sign until `previous_expires_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<String>,
    /// RFC 3339 time after which the previous secret no longer signs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_expires_at: Option<String>,
}

impl Default for Signing {
    fn default() -> Self {
        Signing { enabled: true, secret: None, previous_secret: None, previous_expires_at: None }
    }
}

impl TargetConfig {
    /// The explicit method, else POST when the delivery has a body and GET without (the
    /// Ellity rule). A body template makes a body, and so does a transformer: it is there to
    /// shape what is sent, so its draft is a POST carrying the data.
    pub fn method(&self) -> HttpMethod {
        let has_body = self.body.is_some() || self.transformer.is_some();
        self.method.unwrap_or(if has_body { HttpMethod::Post } else { HttpMethod::Get })
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    /// GET and DELETE carry the data in the query string, the others in the body.
    pub fn data_in_query(self) -> bool {
        matches!(self, HttpMethod::Get | HttpMethod::Delete)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}

/// What makes a response a success, without writing a component.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuccessCriteria {
    #[serde(default = "StatusPattern::default_list")]
    pub status: Vec<StatusPattern>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// The response must be JSON with the value at `pointer` equal to `equals`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_json: Option<JsonExpectation>,
}

impl Default for SuccessCriteria {
    fn default() -> Self {
        SuccessCriteria {
            status: StatusPattern::default_list(),
            content_type: None,
            body_contains: None,
            body_json: None,
        }
    }
}

/// `{"pointer": "/status", "equals": "ok"}`: a JSON pointer (RFC 6901) and the value expected there.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonExpectation {
    pub pointer: String,
    pub equals: serde_json::Value,
}

/// A status code, a class (`2xx`) or an inclusive range (`200-204`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Value", into = "String")]
pub struct StatusPattern {
    pub low: u16,
    pub high: u16,
}

impl StatusPattern {
    fn default_list() -> Vec<StatusPattern> {
        vec![StatusPattern { low: 200, high: 299 }]
    }

    pub fn matches(&self, status: u16) -> bool {
        (self.low..=self.high).contains(&status)
    }
}

/// Sent as `204`, `"204"`, `"2xx"` or `"200-204"`, read back as a string.
impl utoipa::PartialSchema for StatusPattern {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        let text = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^\s*([1-5][xX][xX]|[1-5][0-9][0-9](\s*-\s*[1-5][0-9][0-9])?)\s*$"));
        let code = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(100)).maximum(Some(599));
        OneOfBuilder::new()
            .item(text)
            .item(code)
            .description(Some("a status code (`204`), a class (`2xx`) or an inclusive range (`200-204`)"))
            .into()
    }
}

impl ToSchema for StatusPattern {}

impl TryFrom<serde_json::Value> for StatusPattern {
    type Error = String;

    fn try_from(value: serde_json::Value) -> Result<Self, String> {
        let given = match &value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            other => return Err(format!("status pattern must be a string or number, got {other}")),
        };
        let text = given.trim().to_ascii_lowercase();
        let code = |s: &str| s.parse::<u16>().ok().filter(|c| (100..=599).contains(c));
        let pattern = if let Some(class) = text.strip_suffix("xx") {
            class.parse::<u16>().ok().filter(|d| (1..=5).contains(d)).map(|d| StatusPattern { low: d * 100, high: d * 100 + 99 })
        } else if let Some((low, high)) = text.split_once('-') {
            code(low.trim()).zip(code(high.trim())).map(|(low, high)| StatusPattern { low, high })
        } else {
            code(&text).map(|c| StatusPattern { low: c, high: c })
        };
        match pattern {
            Some(p) if p.low > p.high => Err(format!("status range `{given}` is empty")),
            Some(p) => Ok(p),
            None => Err(format!(
                "`{given}` is not a status code (100-599), a class such as `2xx` or a range such as `200-204`"
            )),
        }
    }
}

impl From<StatusPattern> for String {
    fn from(p: StatusPattern) -> String {
        p.to_string()
    }
}

impl fmt::Display for StatusPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.low == self.high {
            write!(f, "{}", self.low)
        } else if self.low % 100 == 0 && self.high == self.low + 99 {
            write!(f, "{}xx", self.low / 100)
        } else {
            write!(f, "{}-{}", self.low, self.high)
        }
    }
}

/// How often and how patiently a delivery is attempted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_delay_ms: u64,
    pub max_delay_ms: u64,
    /// Per-attempt timeout of the HTTP request.
    pub timeout_ms: u64,
    /// Overall limit from the message's arrival: no attempt starts after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
}

impl RetryPolicy {
    /// The time (Unix ms) after which no attempt of a message received at `received_at_ms`
    /// may start, when the policy has a deadline.
    pub fn deadline_for(&self, received_at_ms: u64) -> Option<u64> {
        self.deadline_ms.map(|d| received_at_ms.saturating_add(d))
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            initial_delay_ms: 1_000,
            max_delay_ms: 3_600_000,
            timeout_ms: 10_000,
            deadline_ms: None,
        }
    }
}

/// One firing of an event, as stored (the raw body is stored beside it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageRecord {
    pub message_id: String,
    pub event_id: String,
    pub received_at: String,
    pub received_at_ms: u64,
    pub headers: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub body_size: usize,
    /// The subshop the caller fired for, if it named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subshop: Option<String>,
    /// The key that deduplicates repeats of this message, kept until the message is pruned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The W3C `traceparent` of the span that accepted the message, when traces are
    /// exported: each attempt, on whichever node, joins that trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
    Skipped,
}

impl DeliveryStatus {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            "skipped" => Some(Self::Skipped),
            _ => None,
        }
    }

    /// The status of a message from the statuses of its deliveries: pending while any is,
    /// failed when any failed, skipped when all were skipped, delivered otherwise.
    pub fn of_message(deliveries: impl IntoIterator<Item = DeliveryStatus>) -> DeliveryStatus {
        let (mut any, mut pending, mut failed, mut all_skipped) = (false, false, false, true);
        for status in deliveries {
            any = true;
            pending |= status == Self::Pending;
            failed |= status == Self::Failed;
            all_skipped &= status == Self::Skipped;
        }
        match () {
            _ if pending => Self::Pending,
            _ if failed => Self::Failed,
            _ if any && all_skipped => Self::Skipped,
            _ => Self::Delivered,
        }
    }
}

/// One message to one target.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryRecord {
    pub message_id: String,
    pub target: String,
    pub status: DeliveryStatus,
    /// Why the delivery was skipped or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the next attempt is due (Unix ms), while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at_ms: Option<u64>,
    pub attempts: Vec<Attempt>,
    /// The target's ordering key, rendered when the message was accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
    /// This failed delivery holds its ordering key (`"on_failure": "block"`): the key's
    /// later deliveries wait until an operator retries or skips it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub holds_key: bool,
}

impl DeliveryRecord {
    /// Stops holding the ordering key (an operator skipped the delivery), saying so in the
    /// reason.
    pub fn let_key_go(&mut self, note: &str) {
        self.holds_key = false;
        self.reason = Some(match self.reason.take() {
            Some(reason) => format!("{reason}; {note}"),
            None => note.to_string(),
        });
    }
}

/// A stable, machine-readable error with a human explanation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ErrorInfo {
    pub code: FailureCode,
    pub message: String,
}

impl ErrorInfo {
    pub fn new(code: FailureCode, message: impl Into<String>) -> Self {
        ErrorInfo { code, message: message.into() }
    }
}

/// Why an attempt or a guest call did not succeed. Stored in the delivery log and used as
/// the `outcome` label of the metrics, so a name, once shipped, stays.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, strum::IntoStaticStr, strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum FailureCode {
    // The target's answer and the network on the way to it.
    HttpStatus,
    Timeout,
    ConnectError,
    TlsError,
    NetworkError,
    // The gateway's rules refused to send.
    ForbiddenTarget,
    InsecureUrl,
    InvalidUrl,
    InvalidRequest,
    InvalidTemplate,
    ForbiddenHeader,
    RequestTooLarge,
    InvalidClientCertificate,
    // The event's components.
    TransformError,
    ConditionRetry,
    ConditionFailed,
    ComponentUnavailable,
    GuestTrap,
    GuestTimeout,
    GuestMemoryLimit,
    GuestOutputTooLarge,
    GuestInstantiate,
    // The gateway itself, or what it stored.
    MessageMissing,
    TargetRemoved,
    StorageError,
    InternalError,
}

impl FailureCode {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The sending rules refused the request: trying again changes nothing.
    pub fn is_refusal(self) -> bool {
        matches!(self, FailureCode::ForbiddenTarget | FailureCode::InsecureUrl | FailureCode::InvalidUrl)
    }

    /// No answer came from the target.
    pub fn is_unreachable(self) -> bool {
        matches!(self, FailureCode::ConnectError | FailureCode::Timeout | FailureCode::NetworkError | FailureCode::TlsError)
    }
}

impl std::fmt::Display for FailureCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A line a guest wrote through the `log` import, or to stdout/stderr.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct GuestLog {
    pub level: String,
    pub message: String,
}

/// One try of a delivery.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Attempt {
    pub at: String,
    pub duration_ms: u64,
    pub status_code: Option<u16>,
    pub error: Option<ErrorInfo>,
    pub response_excerpt: Option<String>,
    /// What was sent, with secrets masked; absent when the attempt stopped before sending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<SentRequest>,
    #[serde(default)]
    pub guest_logs: Vec<GuestLog>,
    /// The gateway node that made the attempt (`--node-id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// The request of an attempt as the log shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct SentRequest {
    pub method: String,
    pub url: String,
    /// `[name, value]` pairs, in the order sent.
    #[schema(value_type = Vec<Vec<String>>)]
    pub headers: Vec<(String, String)>,
    pub body_excerpt: String,
}

/// The role a component plays: one world of the WIT contract.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum World {
    Authenticator,
    Transformer,
    Condition,
}

impl World {
    pub const ALL: [World; 3] = [World::Authenticator, World::Transformer, World::Condition];

    pub fn as_str(self) -> &'static str {
        match self {
            World::Authenticator => "authenticator",
            World::Transformer => "transformer",
            World::Condition => "condition",
        }
    }

    /// The interface a component of this world exports (without the package version).
    pub fn export_interface(self) -> &'static str {
        match self {
            World::Authenticator => "authenticate",
            World::Transformer => "transform",
            World::Condition => "evaluate",
        }
    }
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One uploaded version of a named component.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ComponentVersion {
    pub version: u32,
    pub sha256: String,
    pub world: World,
    pub size: usize,
    pub uploaded_at: String,
}

/// A named component and all its versions, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ComponentEntry {
    pub name: String,
    pub versions: Vec<ComponentVersion>,
}

impl ComponentEntry {
    pub fn latest(&self) -> Option<&ComponentVersion> {
        self.versions.last()
    }

    pub fn version(&self, version: u32) -> Option<&ComponentVersion> {
        self.versions.iter().find(|v| v.version == version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_patterns_parse_and_errors_quote_the_value_as_given() {
        let parse = |v: serde_json::Value| StatusPattern::try_from(v);
        assert_eq!(parse("2xx".into()), Ok(StatusPattern { low: 200, high: 299 }));
        assert_eq!(parse(" 200 - 204 ".into()), Ok(StatusPattern { low: 200, high: 204 }));
        assert_eq!(parse(201.into()), Ok(StatusPattern { low: 201, high: 201 }));
        for given in ["2xxx", "200-1", "6xx", "abc", "200-"] {
            let err = parse(given.into()).unwrap_err();
            assert!(err.starts_with(&format!("`{given}` is not a status code")), "{given}: {err}");
        }
        assert_eq!(parse("204-200".into()).unwrap_err(), "status range `204-200` is empty");
    }

    #[test]
    fn message_ids_sort_after_the_floor_of_their_time() {
        let before = now_ms();
        let id = new_message_id();
        assert!(message_id_time_ms(&id).is_some_and(|t| t >= before && t <= now_ms()), "{id}");
        assert!(message_id_floor(before) <= id, "{id}");
        assert!(id < message_id_floor(now_ms() + 1), "{id}");
    }

    /// The stored name (serde) and the metrics' label (strum) are one name: records written
    /// by one and read by the other must agree, and a stored name never changes.
    #[test]
    fn failure_codes_have_one_name_stored_and_shown() {
        use strum::IntoEnumIterator;
        for code in FailureCode::iter() {
            let stored = serde_json::to_value(code).unwrap();
            assert_eq!(stored, serde_json::json!(code.as_str()));
            assert_eq!(serde_json::from_value::<FailureCode>(stored).unwrap(), code);
        }
        assert_eq!(FailureCode::HttpStatus.as_str(), "http_status");
        assert_eq!(FailureCode::GuestOutputTooLarge.as_str(), "guest_output_too_large");
    }
}
