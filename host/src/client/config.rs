//! Configuration as code: `hookgate config export` writes a gateway's events, targets and
//! component bindings to a file; `hookgate config apply` makes a gateway match such a file.
//!
//! Apply checks the whole file before it changes anything: its shape here, the component
//! versions it binds against the gateway's (by sha256), and every event config through the
//! gateway's own validation (`POST /v1/admin/events/{id}/validate`), which also says whether
//! the event would be created, changed or left as it is (secrets included, though the file
//! only holds them masked). Only a file that passes all of it is written, event by event.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AdminClient, AdminRequest, ClientError};
use crate::model::EventConfig;

/// A gateway's configuration as a file.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Every component reference the events bind (`name` for the latest version, `name@N`
    /// pinned), with the sha256 of the version it names: apply refuses a gateway whose
    /// version differs, so a file always means the same code.
    #[serde(default)]
    pub components: BTreeMap<String, ComponentRef>,
    /// Every event's configuration by id, as the API shows it (secrets masked). A masked
    /// secret keeps the secret the gateway has stored.
    #[serde(default)]
    pub events: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentRef {
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigCodeError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("the file is not a hookgate configuration: {0}")]
    NotAConfig(String),
    /// Every part of the file that is wrong; nothing was changed.
    #[error("the file is refused and nothing was changed:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Refused(Vec<String>),
    #[error("{error}\n(already done before it failed: {})", if .done.is_empty() { "nothing".to_string() } else { .done.join(", ") })]
    Interrupted { done: Vec<String>, error: ClientError },
    #[error("the gateway answered something unexpected: {0}")]
    Unexpected(String),
}

/// Reads a configuration file's text.
pub fn parse(text: &str) -> Result<ConfigFile, ConfigCodeError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let at = e.path().to_string();
        let at = if at == "." { String::new() } else { format!("{at}: ") };
        ConfigCodeError::NotAConfig(format!("{at}{}", e.inner()))
    })
}

/// The component references an event binds, each with where: `authenticator`,
/// `targets[0].transformer`, ...
fn bindings(config: &EventConfig) -> Vec<(String, String)> {
    let authenticator = config.authenticator.iter().map(|b| ("authenticator".to_string(), b.component.clone()));
    let targets = config.targets.iter().enumerate().flat_map(|(i, t)| {
        let transformer = t.transformer.iter().map(move |b| (format!("targets[{i}].transformer"), b.component.clone()));
        let condition = t.condition.iter().map(move |b| (format!("targets[{i}].condition"), b.component.clone()));
        transformer.chain(condition)
    });
    authenticator.chain(targets).collect()
}

/// An event's config as the file holds it, read as the gateway would (naming the field
/// that does not fit).
fn event_config(value: &Value) -> Result<EventConfig, String> {
    serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let at = e.path().to_string();
        if at == "." { e.inner().to_string() } else { format!("{at}: {}", e.inner()) }
    })
}

/// The sha256 of the version `reference` (`name` or `name@N`) names, among the gateway's
/// components (the answer of `GET /v1/admin/components`).
fn resolve(components: &Value, reference: &str) -> Option<String> {
    let (name, version) = match reference.split_once('@') {
        Some((name, n)) => (name, Some(n.parse::<u64>().ok()?)),
        None => (reference, None),
    };
    let entry = components["components"].as_array()?.iter().find(|c| c["name"] == name)?;
    let versions = entry["versions"].as_array()?;
    let chosen = match version {
        Some(n) => versions.iter().find(|v| v["version"] == n)?,
        None => versions.last()?,
    };
    chosen["sha256"].as_str().map(str::to_string)
}

/// The gateway's configuration as a file.
pub async fn export(client: &AdminClient) -> Result<ConfigFile, ConfigCodeError> {
    let events = client.send(&AdminRequest::Events).await?.json;
    let components = client.send(&AdminRequest::Components).await?.json;
    let mut file = ConfigFile::default();
    let listed = events["events"].as_array().ok_or_else(|| ConfigCodeError::Unexpected("no `events` list".into()))?;
    for event in listed {
        let mut event = event.clone();
        let id = event
            .as_object_mut()
            .and_then(|fields| fields.remove("id"))
            .and_then(|id| id.as_str().map(str::to_string))
            .ok_or_else(|| ConfigCodeError::Unexpected(format!("an event without an id: {event}")))?;
        let config = event_config(&event).map_err(|e| ConfigCodeError::Unexpected(format!("event `{id}`: {e}")))?;
        for (place, reference) in bindings(&config) {
            let sha256 = resolve(&components, &reference).ok_or_else(|| {
                ConfigCodeError::Unexpected(format!("event `{id}` binds `{reference}` at {place}, which the gateway does not list"))
            })?;
            file.components.insert(reference, ComponentRef { sha256 });
        }
        file.events.insert(id, event);
    }
    Ok(file)
}

/// What apply did, or would do, to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Created,
    Changed,
    Unchanged,
    Deleted,
}

impl Action {
    fn words(self, dry_run: bool) -> &'static str {
        match (self, dry_run) {
            (Action::Created, false) => "created",
            (Action::Changed, false) => "changed",
            (Action::Unchanged, _) => "unchanged",
            (Action::Deleted, false) => "deleted",
            (Action::Created, true) => "would create",
            (Action::Changed, true) => "would change",
            (Action::Deleted, true) => "would delete",
        }
    }
}

/// What apply did (or, in a dry run, would do), event by event.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub events: BTreeMap<String, Action>,
}

impl Report {
    /// Whether the gateway already matched the file.
    pub fn no_change(&self) -> bool {
        self.events.values().all(|a| *a == Action::Unchanged)
    }

    fn count(&self, action: Action) -> usize {
        self.events.values().filter(|a| **a == action).count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.events.values().map(|a| a.words(self.dry_run).len()).max().unwrap_or(0);
        for (id, action) in &self.events {
            writeln!(f, "{:<width$}  event {id}", action.words(self.dry_run))?;
        }
        let total = self.events.len();
        if self.no_change() {
            return writeln!(f, "no change: the gateway already matches the file ({total} event{})", if total == 1 { "" } else { "s" });
        }
        let counts: Vec<String> = [Action::Created, Action::Changed, Action::Unchanged, Action::Deleted]
            .into_iter()
            .map(|a| format!("{} {}", self.count(a), a.words(false)))
            .collect();
        let summary = counts.join(", ");
        if self.dry_run {
            writeln!(f, "dry run, nothing was changed; applying would leave: {summary}")
        } else {
            writeln!(f, "{summary}")
        }
    }
}

/// Checks `file` against the gateway behind `client` and, unless `dry_run`, makes the
/// gateway match it; with `prune`, events the file does not have are deleted.
pub async fn apply(client: &AdminClient, file: &ConfigFile, dry_run: bool, prune: bool) -> Result<Report, ConfigCodeError> {
    let mut problems = Vec::new();
    let components = client.send(&AdminRequest::Components).await?.json;
    for (reference, wanted) in &file.components {
        match resolve(&components, reference) {
            None => problems.push(format!(
                "components.{reference}: the gateway has no such component version (the file's has sha256 {}); upload it first",
                wanted.sha256
            )),
            Some(sha256) if sha256 != wanted.sha256 => problems.push(format!(
                "components.{reference}: the gateway's version has sha256 {sha256}, the file's {}; upload the file's version (or pin another) first",
                wanted.sha256
            )),
            Some(_) => {}
        }
    }
    let mut outcomes = BTreeMap::new();
    for (id, config) in &file.events {
        let parsed = match event_config(config) {
            Ok(parsed) => parsed,
            Err(e) => {
                problems.push(format!("events.{id}: {e}"));
                continue;
            }
        };
        let mut unlisted = false;
        for (place, reference) in bindings(&parsed) {
            if !file.components.contains_key(&reference) {
                problems.push(format!("events.{id}.{place}: component `{reference}` is not listed under `components` with its sha256"));
                unlisted = true;
            }
        }
        if unlisted {
            continue;
        }
        match client.send(&AdminRequest::ValidateEvent(id.clone(), config.clone())).await {
            Ok(answer) => {
                let action = match answer.json["outcome"].as_str() {
                    Some("created") => Action::Created,
                    Some("changed") => Action::Changed,
                    Some("unchanged") => Action::Unchanged,
                    _ => return Err(ConfigCodeError::Unexpected(format!("validating event `{id}`: {}", answer.text))),
                };
                outcomes.insert(id.clone(), action);
            }
            Err(ClientError::Api { code, message }) => problems.push(format!("events.{id}: {code}: {message}")),
            Err(other) => return Err(other.into()),
        }
    }
    if !problems.is_empty() {
        return Err(ConfigCodeError::Refused(problems));
    }
    if prune {
        let current = client.send(&AdminRequest::Events).await?.json;
        let ids = current["events"].as_array().into_iter().flatten().filter_map(|e| e["id"].as_str());
        for id in ids.filter(|id| !file.events.contains_key(*id)) {
            outcomes.insert(id.to_string(), Action::Deleted);
        }
    }
    let report = Report { dry_run, events: outcomes };
    if dry_run {
        return Ok(report);
    }
    let mut done = Vec::new();
    for (id, action) in &report.events {
        let request = match action {
            Action::Created | Action::Changed => AdminRequest::PutEvent(id.clone(), file.events[id].clone()),
            Action::Deleted => AdminRequest::DeleteEvent(id.clone()),
            Action::Unchanged => continue,
        };
        if let Err(error) = client.send(&request).await {
            return Err(ConfigCodeError::Interrupted { done, error });
        }
        done.push(format!("{} event {id}", action.words(false)));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_resolve_to_the_latest_or_the_pinned_version() {
        let components = json!({"components": [{"name": "t", "versions": [{"version": 1, "sha256": "aa"}, {"version": 2, "sha256": "bb"}]}]});
        assert_eq!(resolve(&components, "t").as_deref(), Some("bb"));
        assert_eq!(resolve(&components, "t@1").as_deref(), Some("aa"));
        assert_eq!(resolve(&components, "t@3"), None);
        assert_eq!(resolve(&components, "t@x"), None);
        assert_eq!(resolve(&components, "other"), None);
    }

    #[test]
    fn a_file_names_the_part_that_does_not_fit() {
        let err = parse(r#"{"events": {}, "components": {"t": {"sha": "aa"}}}"#).unwrap_err().to_string();
        assert!(err.contains("components.t.sha: unknown field `sha`, expected `sha256`"), "{err}");
        let err = parse(r#"{"event": {}}"#).unwrap_err().to_string();
        assert!(err.contains("unknown field `event`"), "{err}");
    }

    #[test]
    fn bindings_are_named_by_their_place() {
        let config: EventConfig = serde_json::from_value(json!({
            "authenticator": {"component": "auth"},
            "targets": [{"id": "a", "url": "https://h/", "transformer": {"component": "t@2"}, "condition": {"component": "c"}}]
        }))
        .unwrap();
        assert_eq!(
            bindings(&config),
            vec![
                ("authenticator".to_string(), "auth".to_string()),
                ("targets[0].transformer".into(), "t@2".into()),
                ("targets[0].condition".into(), "c".into())
            ]
        );
    }
}
