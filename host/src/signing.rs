//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>): every delivery
//! carries `webhook-id`, `webhook-timestamp` and `webhook-signature`, so that receivers can
//! check who sent it, reject replays, and deduplicate retries by id.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::model::Signing;

const PREFIX: &str = "whsec_";
const KEY_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// The key inside a `whsec_...` secret.
pub fn parse_secret(secret: &str) -> Result<Vec<u8>, String> {
    let encoded = secret.strip_prefix(PREFIX).ok_or_else(|| format!("a signing secret starts with `{PREFIX}`"))?;
    let key = BASE64.decode(encoded).map_err(|e| format!("the signing secret is not base64 after `{PREFIX}`: {e}"))?;
    if !KEY_BYTES.contains(&key.len()) {
        return Err(format!("the signing key is {} bytes; it must be 24 to 64", key.len()));
    }
    Ok(key)
}

/// A new `whsec_` secret of 32 random bytes.
pub fn generate_secret() -> String {
    format!("{PREFIX}{}", BASE64.encode(rand::random::<[u8; 32]>()))
}

/// `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
pub fn sign(key: &[u8], id: &str, timestamp: u64, body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// The three headers for one attempt; during a rotation the signature header holds both
/// signatures, space-separated. Nothing when signing is off or there is no usable secret.
pub fn headers(signing: &Signing, id: &str, now: std::time::SystemTime, body: &[u8]) -> Vec<(String, String)> {
    if !signing.enabled {
        return Vec::new();
    }
    let timestamp = now.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let previous_valid = signing
        .previous_expires_at
        .as_deref()
        .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
        .is_some_and(|expires| now < expires);
    let previous = signing.previous_secret.as_ref().filter(|_| previous_valid);
    let signatures: Vec<String> = signing
        .secret
        .iter()
        .chain(previous)
        .filter_map(|secret| parse_secret(secret).ok())
        .map(|key| sign(&key, id, timestamp, body))
        .collect();
    if signatures.is_empty() {
        return Vec::new();
    }
    vec![
        ("webhook-id".into(), id.to_string()),
        ("webhook-timestamp".into(), timestamp.to_string()),
        ("webhook-signature".into(), signatures.join(" ")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// The example of the Standard Webhooks specification.
    #[test]
    fn matches_the_specification_test_vector() {
        let key = parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_must_be_whsec_base64_of_24_to_64_bytes() {
        assert!(parse_secret(&generate_secret()).is_ok());
        assert!(parse_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(parse_secret("whsec_!!!").is_err());
        assert!(parse_secret(&format!("whsec_{}", BASE64.encode([1u8; 16]))).unwrap_err().contains("16 bytes"));
        assert!(parse_secret(&format!("whsec_{}", BASE64.encode([1u8; 65]))).is_err());
    }

    #[test]
    fn rotation_sends_both_signatures_until_the_old_secret_expires() {
        let (new, old) = (generate_secret(), generate_secret());
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let signing = Signing {
            enabled: true,
            secret: Some(new.clone()),
            previous_secret: Some(old.clone()),
            previous_expires_at: Some("2023-11-14T22:13:21Z".into()), // at + 1 s
        };
        let signature = |h: &[(String, String)]| h.iter().find(|(k, _)| k == "webhook-signature").unwrap().1.clone();
        let during = signature(&headers(&signing, "msg_1", at, b"x"));
        let expected_new = sign(&parse_secret(&new).unwrap(), "msg_1", 1_700_000_000, b"x");
        let expected_old = sign(&parse_secret(&old).unwrap(), "msg_1", 1_700_000_000, b"x");
        assert_eq!(during, format!("{expected_new} {expected_old}"));
        let after = signature(&headers(&signing, "msg_1", at + Duration::from_secs(2), b"x"));
        assert_eq!(after, sign(&parse_secret(&new).unwrap(), "msg_1", 1_700_000_002, b"x"));
    }

    #[test]
    fn disabled_signing_adds_nothing() {
        let signing = Signing { enabled: false, secret: Some(generate_secret()), ..Signing::default() };
        assert!(headers(&signing, "m", std::time::SystemTime::now(), b"").is_empty());
    }
}
