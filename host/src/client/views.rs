//! The admin API's answers laid out for people. Fields a gateway does not send show as `-`,
//! so a newer or older gateway still gives a readable view.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

use super::table;
use crate::model::TargetConfig;

/// A value as one table cell: strings as they are, nothing as `-`, line breaks as spaces.
fn cell(value: &Value) -> String {
    let text = match value {
        Value::Null => "-".to_string(),
        Value::String(s) if s.is_empty() => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    text.replace(['\n', '\r'], " ")
}

fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn yes_no(value: &Value) -> String {
    match value.as_bool() {
        Some(true) => "yes".into(),
        Some(false) => "no".into(),
        None => "-".into(),
    }
}

/// `1 attempt`, `2 attempts`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Unix milliseconds as an RFC 3339 time, as the log shows its other times.
fn time_ms(value: &Value) -> String {
    value.as_u64().map_or_else(
        || "-".to_string(),
        |ms| humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string(),
    )
}

/// Who may fire an event: the built-in check and the authenticator component, if any.
fn authentication(event: &Value) -> String {
    let built_in = event.pointer("/ingest_auth/type").and_then(Value::as_str);
    let component = event.pointer("/authenticator/component").and_then(Value::as_str).map(|c| format!("component {c}"));
    let parts: Vec<String> = built_in.map(str::to_string).into_iter().chain(component).collect();
    if parts.is_empty() { "anyone".into() } else { parts.join(" + ") }
}

/// A target's method as the gateway applies it (its own rule when none is given).
fn method(target: &Value) -> String {
    serde_json::from_value::<TargetConfig>(target.clone())
        .map_or_else(|_| cell(&target["method"]), |config| config.method().as_str().to_string())
}

pub fn events(answer: &Value) -> String {
    let events = list(answer, "events");
    if events.is_empty() {
        return "no events configured\n".into();
    }
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|event| {
            let targets: Vec<String> =
                list(event, "targets").iter().map(|t| format!("{} {}", cell(&t["id"]), cell(&t["url"]))).collect();
            vec![cell(&event["id"]), yes_no(&event["enabled"]), authentication(event), if targets.is_empty() { "-".into() } else { targets.join(", ") }]
        })
        .collect();
    table::render(&["ID", "ENABLED", "AUTHENTICATION", "TARGETS"], &rows)
}

pub fn event(event: &Value) -> String {
    let facts = [("event", cell(&event["id"])), ("enabled", yes_no(&event["enabled"])), ("authentication", authentication(event))];
    let targets: Vec<Vec<String>> = list(event, "targets")
        .iter()
        .map(|t| {
            vec![
                cell(&t["id"]),
                yes_no(&t["enabled"]),
                method(t),
                cell(&t["url"]),
                cell(&t["transformer"]["component"]),
                cell(&t["condition"]["component"]),
            ]
        })
        .collect();
    format!("{}\n{}", table::facts(&facts), table::render(&["TARGET", "ENABLED", "METHOD", "URL", "TRANSFORMER", "CONDITION"], &targets))
}

/// Each delivery of a message in a few words: `t1 delivered (1 attempt)`.
fn deliveries_summary(message: &Value) -> String {
    let deliveries = list(message, "deliveries");
    if deliveries.is_empty() {
        return "no targets".into();
    }
    let each: Vec<String> = deliveries
        .iter()
        .map(|d| format!("{} {} ({})", cell(&d["target"]), cell(&d["status"]), count(list(d, "attempts").len(), "attempt", "attempts")))
        .collect();
    each.join(", ")
}

pub fn messages(answer: &Value) -> String {
    let messages = list(answer, "messages");
    let mut out = if messages.is_empty() {
        "no messages\n".to_string()
    } else {
        let rows: Vec<Vec<String>> = messages
            .iter()
            .map(|m| {
                vec![cell(&m["message_id"]), cell(&m["event_id"]), cell(&m["received_at"]), cell(&m["status"]), deliveries_summary(m)]
            })
            .collect();
        table::render(&["ID", "EVENT", "RECEIVED", "STATUS", "DELIVERIES"], &rows)
    };
    if let Some(cursor) = answer["next_cursor"].as_str() {
        out.push_str(&format!("more: add --cursor {cursor}\n"));
    }
    out
}

/// What an attempt came to: its error, else the response's status.
fn attempt_result(attempt: &Value) -> String {
    match (&attempt["error"], &attempt["status_code"]) {
        (error @ Value::Object(_), _) => format!("{}: {}", cell(&error["code"]), cell(&error["message"])),
        (_, Value::Null) => "-".into(),
        (_, status) => format!("answered {status}"),
    }
}

pub fn message(message: &Value) -> String {
    let body = format!("{}, {}", cell(&message["content_type"]), count(message["body_size"].as_u64().unwrap_or(0) as usize, "byte", "bytes"));
    let facts = [
        ("message", cell(&message["message_id"])),
        ("event", cell(&message["event_id"])),
        ("received", cell(&message["received_at"])),
        ("status", cell(&message["status"])),
        ("body", body),
    ];
    let deliveries = list(message, "deliveries");
    let delivery_rows: Vec<Vec<String>> = deliveries
        .iter()
        .map(|d| {
            vec![
                cell(&d["target"]),
                cell(&d["status"]),
                list(d, "attempts").len().to_string(),
                time_ms(&d["next_attempt_at_ms"]),
                cell(&d["reason"]),
            ]
        })
        .collect();
    let attempt_rows: Vec<Vec<String>> = deliveries
        .iter()
        .flat_map(|d| {
            list(d, "attempts").iter().enumerate().map(|(i, a)| {
                vec![
                    cell(&d["target"]),
                    (i + 1).to_string(),
                    cell(&a["at"]),
                    format!("{} ms", cell(&a["duration_ms"])),
                    cell(&a["request"]["method"]),
                    cell(&a["request"]["url"]),
                    attempt_result(a),
                ]
            })
        })
        .collect();
    let mut out = format!(
        "{}\n{}",
        table::facts(&facts),
        table::render(&["TARGET", "STATUS", "ATTEMPTS", "NEXT ATTEMPT", "REASON"], &delivery_rows)
    );
    if !attempt_rows.is_empty() {
        out.push('\n');
        out.push_str(&table::render(&["TARGET", "#", "AT", "TOOK", "METHOD", "URL", "RESULT"], &attempt_rows));
    }
    out
}

pub fn retried(answer: &Value) -> String {
    let id = cell(&answer["message_id"]);
    match answer["retried"].as_u64() {
        Some(0) => format!("message {id} has no failed deliveries to retry\n"),
        Some(n) => format!("message {id}: {} queued again\n", count(n as usize, "failed delivery", "failed deliveries")),
        None => format!("message {id}: retry requested\n"),
    }
}
