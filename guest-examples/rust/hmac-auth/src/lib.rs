//! `hmac-auth`: an authenticator that admits a request only when it carries a valid
//! HMAC-SHA256 signature of its raw body.
//!
//! Config keys:
//! - `secret` (required): the shared HMAC key;
//! - `header` (optional, default `x-signature`): the request header holding the signature,
//!   64 hex digits, with or without a `sha256=` prefix.

use hookgate_sdk::{
    config, config_or, export_authenticator, verify_hmac_sha256_hex, AuthDecision, Authenticator,
    IncomingRequest,
};

struct HmacAuth;

impl Authenticator for HmacAuth {
    fn check(request: IncomingRequest) -> AuthDecision {
        let secret = match config("secret") {
            Some(secret) if !secret.is_empty() => secret,
            _ => return AuthDecision::deny("hmac-auth: no secret configured"),
        };
        let header_name = config_or("header", "x-signature");
        let Some(signature) = request.header(&header_name) else {
            return AuthDecision::deny(format!("missing signature header {header_name}"));
        };
        // Compares in constant time; accepts upper/lower-case hex and a `sha256=` prefix.
        if verify_hmac_sha256_hex(secret.as_bytes(), &request.body, signature) {
            AuthDecision::Allow
        } else {
            AuthDecision::deny("bad signature")
        }
    }
}

export_authenticator!(HmacAuth);

#[cfg(test)]
mod tests {
    use super::*;
    use hookgate_sdk::{hmac_sha256_hex, testing};

    fn request(headers: &[(&str, &str)], body: &[u8]) -> IncomingRequest {
        IncomingRequest {
            method: "POST".into(),
            path: "/v1/ingest/orders".into(),
            query: String::new(),
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            body: body.to_vec(),
        }
    }

    #[test]
    fn decisions() {
        testing::reset();
        let body = br#"{"id":1}"#;
        let sig = hmac_sha256_hex(b"s3cr3t", body);
        assert_eq!(
            HmacAuth::check(request(&[("X-Signature", &sig)], body)),
            AuthDecision::deny("hmac-auth: no secret configured")
        );
        testing::set_config("secret", "s3cr3t");
        assert_eq!(HmacAuth::check(request(&[("X-Signature", &sig)], body)), AuthDecision::Allow);
        let prefixed = format!("sha256={sig}");
        assert_eq!(HmacAuth::check(request(&[("x-signature", &prefixed)], body)), AuthDecision::Allow);
        assert_eq!(
            HmacAuth::check(request(&[], body)),
            AuthDecision::deny("missing signature header x-signature")
        );
        assert_eq!(
            HmacAuth::check(request(&[("x-signature", &sig)], b"tampered")),
            AuthDecision::deny("bad signature")
        );
        testing::set_config("header", "X-Hub-Signature-256");
        assert_eq!(
            HmacAuth::check(request(&[("x-hub-signature-256", &prefixed)], body)),
            AuthDecision::Allow
        );
    }
}
