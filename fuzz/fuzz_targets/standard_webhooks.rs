//! Standard Webhooks verification of ingest (`ingest_auth: standard_webhooks`):
//! - a request signed with the event's secret verifies, whatever the case of the header
//!   names and whatever other signatures share the header, within the time tolerance;
//! - a changed body, id or timestamp, another key, or a time outside the tolerance does not;
//! - arbitrary header values never panic and never verify.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use arbitrary::Arbitrary;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hookgate::signing::sign;
use hookgate::ingest::auth::check;
use hookgate::ingest::FireRequest;
use hookgate::model::IngestAuth;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    /// Keys of 24 to 64 bytes, the lengths a `whsec_` secret may have.
    key: [u8; 64],
    key_len: u8,
    other_key: [u8; 32],
    id: String,
    /// Seconds since the epoch, as a sender's clock reads (kept within what SystemTime holds).
    timestamp: u32,
    body: Vec<u8>,
    tolerance: u16,
    skew: i16,
    /// Signatures of other keys (rotation) beside the valid one.
    others: Vec<String>,
    upper_case_names: bool,
    /// Arbitrary header values, for a request nobody signed.
    forged_timestamp: String,
    forged_signature: String,
    changed_body: Vec<u8>,
}

fn request(names_upper: bool, id: &str, timestamp: &str, signature: &str, body: &[u8]) -> FireRequest {
    let name = |n: &str| if names_upper { n.to_ascii_uppercase() } else { n.to_string() };
    FireRequest {
        method: "POST".into(),
        path: "/v1/events/e".into(),
        query: String::new(),
        headers: vec![
            (name("webhook-id"), id.to_string()),
            (name("webhook-timestamp"), timestamp.to_string()),
            (name("webhook-signature"), signature.to_string()),
        ],
        body: bytes::Bytes::copy_from_slice(body),
        idempotency_key: None,
        payload_at: "",
    }
}

fuzz_target!(|input: Input| {
    let key = &input.key[..24 + usize::from(input.key_len) % 41];
    let tolerance = u64::from(input.tolerance.max(1));
    let auth = IngestAuth::StandardWebhooks { secret: format!("whsec_{}", BASE64.encode(key)), tolerance_seconds: tolerance };
    let sent = u64::from(input.timestamp);
    let now = sent.saturating_add_signed(i64::from(input.skew));
    let at = UNIX_EPOCH + Duration::from_secs(now);
    let in_time = now.abs_diff(sent) <= tolerance;

    let valid = sign(key, &input.id, sent, &input.body);
    let mut signatures: Vec<&str> = input.others.iter().map(String::as_str).filter(|s| !s.contains(char::is_whitespace)).collect();
    let place = input.id.len() % (signatures.len() + 1);
    signatures.insert(place, &valid);
    let header = signatures.join(" ");
    let ts = sent.to_string();
    let verified = check(&auth, &request(input.upper_case_names, &input.id, &ts, &header, &input.body), at);
    assert_eq!(verified.is_ok(), in_time, "{verified:?}");
    if !in_time {
        return;
    }
    let forged = |id: &str, timestamp: &str, signature: &str, body: &[u8]| {
        check(&auth, &request(input.upper_case_names, id, timestamp, signature, body), at).is_err()
    };
    if input.changed_body != input.body {
        assert!(forged(&input.id, &ts, &header, &input.changed_body), "another body verified");
    }
    assert!(forged(&format!("{}x", input.id), &ts, &header, &input.body), "another id verified");
    if sent > 0 {
        assert!(forged(&input.id, &(sent - 1).to_string(), &header, &input.body), "another timestamp verified");
    }
    let other = sign(&input.other_key, &input.id, sent, &input.body);
    // HMAC pads keys with zeros to its block: keys that differ only in trailing zeros are one key.
    let padded = |k: &[u8]| k.iter().copied().chain(std::iter::repeat(0)).take(64).collect::<Vec<u8>>();
    if padded(&input.other_key) != padded(key) {
        assert!(forged(&input.id, &ts, &other, &input.body), "another key verified");
    }
    assert!(forged(&input.id, &input.forged_timestamp, &input.forged_signature, &input.body) || input.forged_signature.contains(&valid));
});
