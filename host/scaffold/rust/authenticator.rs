//! `{{name}}`: a hookgate authenticator. Admits a request when its `x-api-key` header
//! equals the `api_key` value of the binding's config.

use hookgate_sdk::{constant_time_eq, export_authenticator, AuthDecision, Authenticator, IncomingRequest};

struct Component;

impl Authenticator for Component {
    fn check(request: IncomingRequest) -> AuthDecision {
        let Some(expected) = hookgate_sdk::config("api_key") else {
            return AuthDecision::Deny("the authenticator has no `api_key` in its config".into());
        };
        match request.header("x-api-key") {
            Some(given) if constant_time_eq(given.as_bytes(), expected.as_bytes()) => AuthDecision::Allow,
            _ => AuthDecision::Deny("missing or wrong x-api-key".into()),
        }
    }
}

export_authenticator!(Component);
