//! Checks on admin input that serde alone cannot make: names, URLs, limits, and that every
//! component a config names exists and plays the right role.

use std::collections::HashSet;

use crate::model::{Binding, EventConfig, World};
use crate::runtime::Registry;
use crate::template::{Place, Template};

/// A refused configuration; the message names the offending field.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn fail<T>(message: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(message.into()))
}

/// Headers that decide how a request is framed or routed between hops (RFC 9110 7.6.1,
/// 9112 6): set by a target or a transformer they could cut a body short, smuggle a second
/// request or reach another virtual host, so only the HTTP client sets them.
pub fn is_framing_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "content-length" | "transfer-encoding" | "host" | "connection" | "upgrade" | "te" | "trailer" | "keep-alive"
    ) || name.starts_with("proxy-")
}

/// Names of events, targets and components: letters, digits and `._-:`, up to 200 chars.
pub fn name(kind: &str, value: &str) -> Result<(), ConfigError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':');
    if value.is_empty() || value.len() > 200 || !value.chars().all(ok_char) {
        return fail(format!(
            "{kind} `{value}` is not a valid name: use 1-200 letters, digits, `.`, `_`, `-` or `:`"
        ));
    }
    Ok(())
}

const MAX_URL_LEN: usize = 8 * 1024;

pub fn event_config(config: &EventConfig, components: &Registry, allow_http: bool) -> Result<(), ConfigError> {
    if let Some(binding) = &config.authenticator {
        component(binding, World::Authenticator, "authenticator", components)?;
    }
    match &config.ingest_auth {
        Some(crate::model::IngestAuth::Bearer { token }) if token.len() < 16 => {
            return fail("ingest_auth.token must be at least 16 characters");
        }
        Some(crate::model::IngestAuth::StandardWebhooks { secret, tolerance_seconds }) => {
            crate::signing::parse_secret(secret).map_err(|e| ConfigError(format!("ingest_auth.secret: {e}")))?;
            if !(1..=86_400).contains(tolerance_seconds) {
                return fail("ingest_auth.tolerance_seconds must be between 1 and 86400");
            }
        }
        _ => {}
    }
    if let Some(schema) = &config.schema {
        crate::schema::compile(schema).map_err(|e| ConfigError(format!("schema: not a usable JSON Schema (2020-12): {e}")))?;
    }
    for subshop in config.subshops.keys() {
        name("subshops key", subshop)?;
    }
    let mut ids = HashSet::new();
    for (i, target) in config.targets.iter().enumerate() {
        let at = format!("targets[{i}]");
        name(&format!("{at}.id"), &target.id)?;
        if target.id.contains(':') {
            return fail(format!("{at}.id `{}` must not contain `:`", target.id));
        }
        if !ids.insert(target.id.as_str()) {
            return fail(format!("{at}.id `{}` is used by two targets", target.id));
        }
        if target.url.len() > MAX_URL_LEN {
            return fail(format!("{at}.url is longer than {MAX_URL_LEN} bytes"));
        }
        let url_template = template(&format!("{at}.url"), &target.url, Place::Url)?;
        url(&format!("{at}.url"), &url_template.sample(), allow_http)?;
        for (header, value) in &target.headers {
            if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
                return fail(format!("{at}.headers: `{header}` is not a valid header name"));
            }
            if is_framing_header(header) {
                return fail(format!(
                    "{at}.headers: `{header}` is a framing or hop-by-hop header; the gateway sets it itself"
                ));
            }
            let sample = template(&format!("{at}.headers.{header}"), value, Place::Header)?.sample();
            if reqwest::header::HeaderValue::from_str(&sample).is_err() {
                return fail(format!("{at}.headers.{header}: the value is not a valid header value"));
            }
        }
        if let Some(body) = &target.body {
            template(&format!("{at}.body"), body, Place::JsonBody)?
                .check_json()
                .map_err(|e| ConfigError(format!("{at}.body: {e}")))?;
        }
        if let Some(expected) = &target.success.body_json {
            if !(expected.pointer.is_empty() || expected.pointer.starts_with('/')) {
                return fail(format!("{at}.success.body_json.pointer `{}` is not a JSON pointer (it starts with `/`)", expected.pointer));
            }
        }
        if let Some(binding) = &target.transformer {
            component(binding, World::Transformer, &format!("{at}.transformer"), components)?;
        }
        if let Some(binding) = &target.condition {
            component(binding, World::Condition, &format!("{at}.condition"), components)?;
        }
        let signing = &target.signing;
        for (field, secret) in [("secret", &signing.secret), ("previous_secret", &signing.previous_secret)] {
            if let Some(secret) = secret {
                crate::signing::parse_secret(secret).map_err(|e| ConfigError(format!("{at}.signing.{field}: {e}")))?;
            }
        }
        if let Some(expires) = &signing.previous_expires_at {
            humantime::parse_rfc3339_weak(expires).map_err(|e| {
                ConfigError(format!("{at}.signing.previous_expires_at `{expires}` is not an RFC 3339 time: {e}"))
            })?;
        }
        if let Some(tls) = &target.client_tls {
            reqwest::Identity::from_pem(format!("{}\n{}", tls.certificate, tls.private_key).as_bytes())
                .map_err(|e| ConfigError(format!("{at}.client_tls: not a PEM certificate and private key: {e}")))?;
        }
        let retry = &target.retry;
        if !(1..=100).contains(&retry.max_attempts) {
            return fail(format!("{at}.retry.max_attempts must be between 1 and 100"));
        }
        if !(1..=300_000).contains(&retry.timeout_ms) {
            return fail(format!("{at}.retry.timeout_ms must be between 1 and 300000 (5 minutes)"));
        }
        if retry.max_delay_ms > 7 * 24 * 3_600_000 {
            return fail(format!("{at}.retry.max_delay_ms must be at most 7 days"));
        }
        if retry.initial_delay_ms > retry.max_delay_ms {
            return fail(format!("{at}.retry.initial_delay_ms must not exceed max_delay_ms"));
        }
        if !(1..=1000).contains(&target.max_in_flight) {
            return fail(format!("{at}.max_in_flight must be between 1 and 1000"));
        }
        if let Some(rate) = &target.rate_limit {
            if !(1..=100_000).contains(&rate.per_second) || !(1..=100_000).contains(&rate.burst) {
                return fail(format!("{at}.rate_limit: per_second and burst must be between 1 and 100000"));
            }
        }
        if target.disable_after_failing_ms.is_some_and(|ms| !(1_000..=30 * 24 * 3_600_000).contains(&ms)) {
            return fail(format!("{at}.disable_after_failing_ms must be between 1000 (1 s) and 30 days"));
        }
        if let Some(ordering) = &target.ordering {
            template(&format!("{at}.ordering.key"), &ordering.key, Place::Header)?;
            if ordering.key.is_empty() {
                return fail(format!("{at}.ordering.key must not be empty (a fixed key orders every delivery of the target)"));
            }
        }
        let breaker = &target.circuit_breaker;
        if breaker.pause_ms > breaker.max_pause_ms || breaker.max_pause_ms > 24 * 3_600_000 {
            return fail(format!("{at}.circuit_breaker: pause_ms must not exceed max_pause_ms, which must be at most a day"));
        }
        if retry.deadline_ms.is_some_and(|d| !(1..=30 * 24 * 3_600_000).contains(&d)) {
            return fail(format!("{at}.retry.deadline_ms must be between 1 and 30 days"));
        }
    }
    Ok(())
}

fn template(field: &str, text: &str, place: Place) -> Result<Template, ConfigError> {
    Template::parse(text, place).map_err(|e| ConfigError(format!("{field}: {e}")))
}

fn url(field: &str, value: &str, allow_http: bool) -> Result<(), ConfigError> {
    let parsed = reqwest::Url::parse(value).map_err(|e| ConfigError(format!("{field} `{value}` is not a URL: {e}")))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => return fail(format!("{field}: plain http:// targets are refused (HTTPS only); start the gateway with --allow-http to permit them")),
        other => return fail(format!("{field}: scheme `{other}` is not supported, use https")),
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return fail(format!("{field} `{value}` has no host"));
    }
    Ok(())
}

fn component(binding: &Binding, world: World, field: &str, components: &Registry) -> Result<(), ConfigError> {
    let version = components
        .resolve(&binding.component)
        .map_err(|e| ConfigError(format!("{field}.component: {e}")))?;
    if version.world != world {
        return fail(format!(
            "{field}.component: `{}` is a {} component, a {world} is needed here",
            binding.component, version.world
        ));
    }
    Ok(())
}
