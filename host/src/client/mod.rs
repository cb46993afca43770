//! The command line's view of a running gateway: `hookgate events ...` and `hookgate
//! messages ...` ask the admin API and show its answers as tables for people, or as the
//! API's JSON unchanged for scripts.

pub mod config;
mod table;
mod views;

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("`{0}` is not a gateway address: give its base URL, e.g. http://127.0.0.1:8080")]
    BadUrl(String),
    #[error("cannot reach the gateway at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// An error the API answered with, as it named it.
    #[error("{code}: {message}")]
    Api { code: String, message: String },
    #[error("the gateway at {url} answered HTTP {status}: {body}")]
    Unexpected { url: String, status: u16, body: String },
}

/// The messages the delivery log shows, as `GET /v1/admin/messages` filters them.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MessageFilter {
    /// Only messages of this event.
    #[arg(long, value_name = "EVENT_ID")]
    pub event: Option<String>,
    /// Only messages in this state (with --target: whose delivery to that target is in it).
    #[arg(long, value_parser = ["pending", "delivered", "failed", "skipped"])]
    pub status: Option<String>,
    /// Only messages with a delivery to this target.
    #[arg(long, value_name = "TARGET_ID")]
    pub target: Option<String>,
    /// Only messages received at or after this time: RFC 3339 (2026-11-23T10:00:00Z) or Unix
    /// milliseconds.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only messages received at or before this time (RFC 3339 or Unix milliseconds).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// At most this many messages, newest first (1-500; the gateway's default is 50).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Go on from where the previous page ended (its next cursor).
    #[arg(long)]
    pub cursor: Option<String>,
}

/// One question to the admin API.
pub enum AdminRequest {
    Events,
    Event(String),
    Messages(MessageFilter),
    Message(String),
    Retry(String),
    Components,
    /// Check an event config without storing it (`POST .../validate`).
    ValidateEvent(String, Value),
    PutEvent(String, Value),
    DeleteEvent(String),
}

impl AdminRequest {
    fn method(&self) -> Method {
        match self {
            AdminRequest::Retry(_) | AdminRequest::ValidateEvent(..) => Method::POST,
            AdminRequest::PutEvent(..) => Method::PUT,
            AdminRequest::DeleteEvent(_) => Method::DELETE,
            _ => Method::GET,
        }
    }

    /// The path below `/v1/admin/`, segment by segment.
    fn path(&self) -> Vec<&str> {
        match self {
            AdminRequest::Events => vec!["events"],
            AdminRequest::Event(id) => vec!["events", id],
            AdminRequest::Messages(_) => vec!["messages"],
            AdminRequest::Message(id) => vec!["messages", id],
            AdminRequest::Retry(id) => vec!["messages", id, "retry"],
            AdminRequest::Components => vec!["components"],
            AdminRequest::ValidateEvent(id, _) => vec!["events", id, "validate"],
            AdminRequest::PutEvent(id, _) | AdminRequest::DeleteEvent(id) => vec!["events", id],
        }
    }

    fn body(&self) -> Option<&Value> {
        match self {
            AdminRequest::ValidateEvent(_, body) | AdminRequest::PutEvent(_, body) => Some(body),
            _ => None,
        }
    }

    fn query(&self) -> Vec<(&'static str, String)> {
        let AdminRequest::Messages(filter) = self else { return Vec::new() };
        let given = [
            ("event_id", filter.event.clone()),
            ("status", filter.status.clone()),
            ("target", filter.target.clone()),
            ("since", filter.since.clone()),
            ("until", filter.until.clone()),
            ("limit", filter.limit.map(|n| n.to_string())),
            ("cursor", filter.cursor.clone()),
        ];
        given.into_iter().filter_map(|(name, value)| Some((name, value?))).collect()
    }

    /// The answer laid out for people.
    pub fn render(&self, answer: &Value) -> String {
        match self {
            AdminRequest::Events => views::events(answer),
            AdminRequest::Event(_) => views::event(answer),
            AdminRequest::Messages(_) => views::messages(answer),
            AdminRequest::Message(_) => views::message(answer),
            AdminRequest::Retry(_) => views::retried(answer),
            // Asked by `config` only, which shows its own summary.
            AdminRequest::Components
            | AdminRequest::ValidateEvent(..)
            | AdminRequest::PutEvent(..)
            | AdminRequest::DeleteEvent(_) => format!("{answer:#}\n"),
        }
    }
}

/// An answer of the API: its text as sent, and that text read as JSON.
pub struct Answer {
    pub text: String,
    pub json: Value,
}

/// How much of an answer that is not the API's is shown (it may be a whole HTML page).
const UNEXPECTED_BODY_CHARS: usize = 300;

/// A client of one gateway's admin API.
pub struct AdminClient {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
}

impl AdminClient {
    /// A client of the gateway at `base_url`, presenting `token` when given.
    pub fn new(base_url: &str, token: Option<String>) -> Result<AdminClient, ClientError> {
        let base = Url::parse(base_url)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https"))
            .ok_or_else(|| ClientError::BadUrl(base_url.to_string()))?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("hookgate/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ClientError::Unreachable { url: base_url.to_string(), reason: innermost(&e) })?;
        Ok(AdminClient { http, base, token })
    }

    fn url(&self, request: &AdminRequest) -> Result<Url, ClientError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| ClientError::BadUrl(self.base.to_string()))?
            .pop_if_empty()
            .extend(["v1", "admin"])
            .extend(request.path());
        let query = request.query();
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// Sends `request`; an error answer of the API becomes [`ClientError::Api`].
    pub async fn send(&self, request: &AdminRequest) -> Result<Answer, ClientError> {
        let url = self.url(request)?;
        let mut builder = self.http.request(request.method(), url.clone());
        if let Some(token) = &self.token {
            builder = builder.bearer_auth(token);
        }
        if let Some(body) = request.body() {
            builder = builder.json(body);
        }
        let unreachable = |e: reqwest::Error| ClientError::Unreachable { url: url.to_string(), reason: innermost(&e) };
        let response = builder.send().await.map_err(unreachable)?;
        let status = response.status();
        let text = response.text().await.map_err(unreachable)?;
        // A 204 has no body: its answer is `null`.
        let json = if text.is_empty() && status.is_success() { Some(Value::Null) } else { serde_json::from_str::<Value>(&text).ok() };
        let api_error = json.as_ref().and_then(|body| {
            let error = body.get("error")?;
            let field = |name: &str| error.get(name).and_then(Value::as_str).map(str::to_string);
            Some(ClientError::Api { code: field("code")?, message: field("message")? })
        });
        match (status.is_success(), json, api_error) {
            (true, Some(json), _) => Ok(Answer { text, json }),
            (false, _, Some(error)) => Err(error),
            _ => {
                let body = text.chars().take(UNEXPECTED_BODY_CHARS).collect();
                Err(ClientError::Unexpected { url: url.to_string(), status: status.as_u16(), body })
            }
        }
    }
}

/// The most specific cause of an HTTP client error, e.g. `Connection refused (os error 111)`.
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    std::iter::successors(Some(error), |e| e.source()).last().map_or_else(String::new, ToString::to_string)
}
