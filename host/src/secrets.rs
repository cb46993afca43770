//! Secrets inside event configs (signing secrets, ingest tokens, client keys, the user info
//! of target URLs): shown in full only in the answer to the PUT that set or generated them,
//! masked whenever a config is read back, and kept when a config read back (masked) is sent
//! again.

use std::ops::Range;

use crate::signing::generate_secret;
use crate::model::{EventConfig, IngestAuth, TargetConfig};

const MASKED_SIGNING_SECRET: &str = "whsec_***";
const MASKED: &str = "***";

/// Replaces `value` by `kept` when it is the mask (and there is something to keep).
fn unmask(value: &mut String, mask: &str, kept: Option<&String>) {
    if value == mask {
        if let Some(kept) = kept {
            value.clone_from(kept);
        }
    }
}

/// Before a config is stored: masked values take the stored ones back, and every signing
/// target without a secret keeps the one it had or gets a new one.
pub fn fill(config: &mut EventConfig, stored: Option<&EventConfig>) {
    match (&mut config.ingest_auth, stored.and_then(|s| s.ingest_auth.as_ref())) {
        (Some(IngestAuth::Bearer { token }), Some(IngestAuth::Bearer { token: kept })) => unmask(token, MASKED, Some(kept)),
        (Some(IngestAuth::StandardWebhooks { secret, .. }), Some(IngestAuth::StandardWebhooks { secret: kept, .. })) => {
            unmask(secret, MASKED_SIGNING_SECRET, Some(kept))
        }
        _ => {}
    }
    for target in &mut config.targets {
        let kept: Option<&TargetConfig> = stored.and_then(|s| s.target(&target.id));
        if let Some(url) = kept.and_then(|k| unmask_userinfo(&target.url, &k.url)) {
            target.url = url;
        }
        if let Some(tls) = &mut target.client_tls {
            unmask(&mut tls.private_key, MASKED, kept.and_then(|k| k.client_tls.as_ref()).map(|t| &t.private_key));
        }
        let signing = &mut target.signing;
        let kept = kept.map(|k| &k.signing);
        if let Some(previous) = &mut signing.previous_secret {
            unmask(previous, MASKED_SIGNING_SECRET, kept.and_then(|k| k.previous_secret.as_ref()));
        }
        if signing.enabled && signing.secret.as_deref().is_none_or(|s| s == MASKED_SIGNING_SECRET) {
            signing.secret = kept.and_then(|k| k.secret.clone()).or_else(|| Some(generate_secret()));
        }
    }
}

/// The first secret of a filled config that is still the mask (nothing was stored to take
/// back), as a field path. The signing secret is not one: a masked one is generated anew.
pub fn still_masked(config: &EventConfig) -> Option<String> {
    match &config.ingest_auth {
        Some(IngestAuth::Bearer { token }) if token == MASKED => return Some("ingest_auth.token".into()),
        Some(IngestAuth::StandardWebhooks { secret, .. }) if secret == MASKED_SIGNING_SECRET => {
            return Some("ingest_auth.secret".into());
        }
        _ => {}
    }
    config.targets.iter().enumerate().find_map(|(i, target)| {
        let at = format!("targets[{i}]");
        let masked_info = |info: &str| info == MASKED || info.split_once(':').is_some_and(|(_, password)| password == MASKED);
        if userinfo_span(&target.url).is_some_and(|(info, _)| masked_info(&target.url[info])) {
            return Some(format!("{at}.url"));
        }
        if target.client_tls.as_ref().is_some_and(|tls| tls.private_key == MASKED) {
            return Some(format!("{at}.client_tls.private_key"));
        }
        if target.signing.previous_secret.as_deref() == Some(MASKED_SIGNING_SECRET) {
            return Some(format!("{at}.signing.previous_secret"));
        }
        None
    })
}

/// The config as reads show it.
pub fn mask(config: &mut EventConfig) {
    match &mut config.ingest_auth {
        Some(IngestAuth::Bearer { token }) => *token = MASKED.to_string(),
        Some(IngestAuth::StandardWebhooks { secret, .. }) => *secret = MASKED_SIGNING_SECRET.to_string(),
        None => {}
    }
    for target in &mut config.targets {
        target.url = mask_userinfo(&target.url);
        if let Some(tls) = &mut target.client_tls {
            tls.private_key = MASKED.to_string();
        }
        for secret in [&mut target.signing.secret, &mut target.signing.previous_secret].into_iter().flatten() {
            *secret = MASKED_SIGNING_SECRET.to_string();
        }
    }
}

/// Where the user info of `url` is (`user:pass` in `https://user:pass@host/`), and where
/// the host and port after it are. Works on templates too, which do not parse as URLs yet.
fn userinfo_span(url: &str) -> Option<(Range<usize>, Range<usize>)> {
    let start = url.find("://")? + 3;
    let end = url[start..].find(['/', '?']).map_or(url.len(), |i| start + i);
    let at = start + url[start..end].rfind('@')?;
    Some((start..at, at + 1..end))
}

fn masked_info(info: &str) -> String {
    match info.split_once(':') {
        Some((user, _)) => format!("{user}:{MASKED}"),
        None => MASKED.to_string(),
    }
}

/// `url` with its password masked (`user:***@`), or its whole user info when there is no
/// password (`***@`: a lone user name is often a token).
pub fn mask_userinfo(url: &str) -> String {
    match userinfo_span(url) {
        Some((info, _)) => format!("{}{}{}", &url[..info.start], masked_info(&url[info.clone()]), &url[info.end..]),
        None => url.to_string(),
    }
}

/// `url` with the user info of `stored` back in place, when `url` carries it masked and
/// names the same host: a masked password never moves to another user or host.
fn unmask_userinfo(url: &str, stored: &str) -> Option<String> {
    let ((info, host), (kept, kept_host)) = (userinfo_span(url)?, userinfo_span(stored)?);
    let unchanged = url[info.clone()] == masked_info(&stored[kept.clone()]) && url[host] == stored[kept_host];
    unchanged.then(|| format!("{}{}{}", &url[..info.start], &stored[kept], &url[info.end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_in_urls_is_masked_and_kept_for_the_same_user_and_host() {
        assert_eq!(mask_userinfo("https://user:s3cret@h:8443/p?q=a@b"), "https://user:***@h:8443/p?q=a@b");
        assert_eq!(mask_userinfo("https://tok3n@h/"), "https://***@h/");
        assert_eq!(mask_userinfo("https://h/p?to=a@b"), "https://h/p?to=a@b");
        assert_eq!(mask_userinfo("https://u:#config.pw#@h/#x#"), "https://u:***@h/#x#");
        let stored = "https://user:s3cret@h/old";
        assert_eq!(unmask_userinfo("https://user:***@h/new", stored).as_deref(), Some("https://user:s3cret@h/new"));
        assert_eq!(unmask_userinfo("https://other:***@h/", stored), None);
        assert_eq!(unmask_userinfo("https://user:***@evil.example/", stored), None);
        assert_eq!(unmask_userinfo("https://user:n3w@h/", stored), None);
    }

    #[test]
    fn a_mask_with_nothing_stored_to_take_back_is_found() {
        let config = |target: serde_json::Value| -> EventConfig {
            serde_json::from_value(serde_json::json!({"targets": [target]})).unwrap()
        };
        let mut masked = config(serde_json::json!({"id": "t", "url": "https://user:***@h/"}));
        fill(&mut masked, None);
        assert_eq!(still_masked(&masked).as_deref(), Some("targets[0].url"));
        let mut kept = config(serde_json::json!({"id": "t", "url": "https://user:***@h/"}));
        fill(&mut kept, Some(&config(serde_json::json!({"id": "t", "url": "https://user:pw@h/"}))));
        assert_eq!(still_masked(&kept), None);
        let mut generated = config(serde_json::json!({"id": "t", "url": "https://h/", "signing": {"secret": "whsec_***"}}));
        fill(&mut generated, None);
        assert_eq!(still_masked(&generated), None, "a masked signing secret is generated anew");
        let token: EventConfig = serde_json::from_value(serde_json::json!({"ingest_auth": {"type": "bearer", "token": "***"}})).unwrap();
        assert_eq!(still_masked(&token).as_deref(), Some("ingest_auth.token"));
    }
}
