//! Secrets inside event configs (signing secrets, ingest tokens, client keys): shown in
//! full only in the answer to the PUT that set or generated them, masked whenever a config
//! is read back, and kept when a config read back (masked) is sent again.

use crate::delivery::signing::generate_secret;
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
        let kept: Option<&TargetConfig> = stored.and_then(|s| s.targets.iter().find(|t| t.id == target.id));
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

/// The config as reads show it.
pub fn mask(config: &mut EventConfig) {
    match &mut config.ingest_auth {
        Some(IngestAuth::Bearer { token }) => *token = MASKED.to_string(),
        Some(IngestAuth::StandardWebhooks { secret, .. }) => *secret = MASKED_SIGNING_SECRET.to_string(),
        None => {}
    }
    for target in &mut config.targets {
        if let Some(tls) = &mut target.client_tls {
            tls.private_key = MASKED.to_string();
        }
        for secret in [&mut target.signing.secret, &mut target.signing.previous_secret].into_iter().flatten() {
            *secret = MASKED_SIGNING_SECRET.to_string();
        }
    }
}
