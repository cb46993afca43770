//! The built-in caller checks of ingest: a shared bearer token, or a Standard Webhooks
//! signature made by the source with a secret it shares with the gateway.

use std::time::SystemTime;

use subtle::ConstantTimeEq;

use super::FireRequest;
use crate::signing;
use crate::model::IngestAuth;

/// The token of an `Authorization: Bearer <token>` value; the scheme is case-insensitive
/// (RFC 9110 11.1).
pub fn bearer(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// `Ok` when the request passes `auth`, else the reason it does not (sent back with a 401).
pub fn check(auth: &IngestAuth, request: &FireRequest, now: SystemTime) -> Result<(), String> {
    match auth {
        IngestAuth::Bearer { token } => {
            let presented = request.header("authorization").and_then(bearer);
            match presented {
                Some(given) if bool::from(given.as_bytes().ct_eq(token.as_bytes())) => Ok(()),
                Some(_) => Err("the bearer token is not valid".into()),
                None => Err("this event needs `Authorization: Bearer <token>`".into()),
            }
        }
        IngestAuth::StandardWebhooks { secret, tolerance_seconds } => {
            let key = signing::parse_secret(secret).map_err(|e| format!("the event's source secret is unusable: {e}"))?;
            let header = |name: &str| request.header(name).ok_or_else(|| format!("missing header {name}"));
            let id = header("webhook-id")?;
            let timestamp: u64 =
                header("webhook-timestamp")?.trim().parse().map_err(|_| "webhook-timestamp is not Unix seconds".to_string())?;
            let now = now.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            if now.abs_diff(timestamp) > *tolerance_seconds {
                return Err(format!("webhook-timestamp is more than {tolerance_seconds} s away from now"));
            }
            let expected = signing::sign(&key, id, timestamp, &request.body);
            let matches = header("webhook-signature")?
                .split_whitespace()
                .any(|given| bool::from(given.as_bytes().ct_eq(expected.as_bytes())));
            if matches {
                Ok(())
            } else {
                Err("no valid webhook-signature".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn request(headers: &[(&str, &str)], body: &str) -> FireRequest {
        FireRequest {
            method: "POST".into(),
            path: "/v1/events/e".into(),
            query: String::new(),
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec().into(),
            idempotency_key: None,
            payload_at: "",
        }
    }

    #[test]
    fn bearer_tokens_must_match() {
        let auth = IngestAuth::Bearer { token: "t0ken".into() };
        assert!(check(&auth, &request(&[("Authorization", "Bearer t0ken")], ""), SystemTime::now()).is_ok());
        assert!(check(&auth, &request(&[("Authorization", "bearer t0ken")], ""), SystemTime::now()).is_ok());
        assert!(check(&auth, &request(&[("Authorization", "BEARER  t0ken ")], ""), SystemTime::now()).is_ok());
        assert!(check(&auth, &request(&[("Authorization", "Basic t0ken")], ""), SystemTime::now()).is_err());
        assert!(check(&auth, &request(&[("authorization", "Bearer nope")], ""), SystemTime::now()).is_err());
        assert!(check(&auth, &request(&[], ""), SystemTime::now()).unwrap_err().contains("Bearer"));
    }

    #[test]
    fn standard_webhooks_signatures_are_checked_with_a_time_tolerance() {
        // The specification's example, 10 s after it was signed.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let auth = IngestAuth::StandardWebhooks { secret: secret.into(), tolerance_seconds: 300 };
        let signed = [
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            ("webhook-signature", "v1,bm9wZQ== v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
        ];
        let at = UNIX_EPOCH + Duration::from_secs(1614265340);
        assert!(check(&auth, &request(&signed, r#"{"test": 2432232314}"#), at).is_ok());
        assert!(check(&auth, &request(&signed, r#"{"test": 1}"#), at).unwrap_err().contains("signature"));
        let late = UNIX_EPOCH + Duration::from_secs(1614265330 + 301);
        assert!(check(&auth, &request(&signed, r#"{"test": 2432232314}"#), late).unwrap_err().contains("300 s"));
        assert!(check(&auth, &request(&signed[..2], ""), at).unwrap_err().contains("missing header webhook-signature"));
    }
}
