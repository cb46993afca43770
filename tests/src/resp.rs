//! [`Resp`]: a fully read HTTP response and the assertions the tests make on it.

use bytes::Bytes;
use serde_json::Value;

/// A fully read HTTP response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Resp {
    pub(crate) async fn read(r: reqwest::Response) -> Resp {
        let status = r.status().as_u16();
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = r.bytes().await.expect("read response body");
        Resp {
            status,
            headers,
            body,
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics (showing the body) if it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response (status {}) is not JSON ({e}): {:?}",
                self.status,
                self.text()
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the status, showing the body on mismatch.
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "expected HTTP {status}, got {} with body {}",
            self.status,
            self.text()
        );
        self
    }

    /// Asserts a 2xx status, showing the body on mismatch.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(
            (200..300).contains(&self.status),
            "expected a 2xx, got {} with body {}",
            self.status,
            self.text()
        );
        self
    }

    /// Asserts the error shape `{"error":{"code":"<code>","message":"..."}}` and the status;
    /// returns the message.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) -> String {
        self.assert_status(status);
        let (got_code, message) = self.error();
        assert_eq!(
            got_code,
            code,
            "expected error code {code:?}, got body {}",
            self.text()
        );
        message
    }

    /// Asserts the body has the error shape `{"error":{"code":string,"message":string}}` and
    /// returns `(code, message)`.
    #[track_caller]
    pub fn error(&self) -> (String, String) {
        let v = self.json();
        let code = v
            .pointer("/error/code")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no string error.code in {v}"));
        let message = v
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no string error.message in {v}"));
        assert!(!code.is_empty(), "empty error.code in {v}");
        assert!(
            code.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "error.code is not snake_case: {v}"
        );
        (code.to_string(), message.to_string())
    }
}

