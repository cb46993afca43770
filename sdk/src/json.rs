//! JSON bodies, with [`serde`] and [`serde_json`] (both
//! re-exported, along with [`json!`](crate::json!) and [`Value`](crate::Value)).
//!
//! Every record with a body has `json::<T>()` (parse) and `text()` (UTF-8 view);
//! [`OutgoingRequest::set_json`] and [`Response::set_json`] replace the body and set
//! `content-type: application/json`. [`parse_json`] and [`to_json_body`] work on raw bytes.
//!
//! To derive `Deserialize`/`Serialize` without adding `serde` to your own dependencies, point
//! the derive at the re-export:
//!
//! ```
//! use hookgate_sdk::serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! #[serde(crate = "hookgate_sdk::serde")]
//! struct Order {
//!     id: u64,
//!     #[serde(default)]
//!     items: Vec<String>,
//! }
//!
//! let order: Order = hookgate_sdk::parse_json(br#"{"id": 7}"#).unwrap();
//! assert_eq!(order.id, 7);
//! assert!(order.items.is_empty());
//! ```

use crate::{IncomingRequest, Message, OutgoingRequest, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The error of parsing or serializing JSON (`serde_json::Error`); it displays as a short
/// description with line and column.
pub type JsonError = serde_json::Error;

/// Parses raw bytes (a body) as JSON into any deserializable type, e.g.
/// [`Value`](crate::Value) or your own `#[derive(Deserialize)]` struct.
///
/// ```
/// use hookgate_sdk::{parse_json, Value};
/// let v: Value = parse_json(br#"{"ok": true}"#).unwrap();
/// assert_eq!(v["ok"], Value::Bool(true));
/// assert!(parse_json::<Value>(b"not json").is_err());
/// ```
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    serde_json::from_slice(bytes)
}

/// Serializes a value as a compact JSON body.
///
/// ```
/// use hookgate_sdk::{json, to_json_body};
/// let body = to_json_body(&json!({"uid": "u1", "n": 2})).unwrap();
/// assert_eq!(body, br#"{"n":2,"uid":"u1"}"#);
/// ```
pub fn to_json_body<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, JsonError> {
    serde_json::to_vec(value)
}

macro_rules! read_methods {
    ($($ty:ident),*) => {$(
        impl $ty {
            /// Parses the body as JSON into any deserializable type.
            /// See [`parse_json`](crate::parse_json()).
            pub fn json<T: DeserializeOwned>(&self) -> Result<T, JsonError> {
                parse_json(&self.body)
            }

            /// The body as UTF-8 text.
            pub fn text(&self) -> Result<&str, std::str::Utf8Error> {
                std::str::from_utf8(&self.body)
            }
        }
    )*};
}
read_methods!(IncomingRequest, Message, OutgoingRequest, Response);

macro_rules! write_methods {
    ($($ty:ident),*) => {$(
        impl $ty {
            /// Replaces the body with `value` serialized as JSON and sets the header
            /// `content-type: application/json`. On error nothing is changed.
            pub fn set_json<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JsonError> {
                self.body = to_json_body(value)?;
                self.set_header("content-type", "application/json");
                Ok(())
            }
        }
    )*};
}
write_methods!(OutgoingRequest, Response);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{json, Value};

    #[test]
    fn message_json_and_set_json() {
        let msg = Message {
            event_id: "e".into(),
            message_id: "m".into(),
            received_at: 0,
            headers: vec![],
            content_type: Some("application/json".into()),
            body: br#"{"a":[1,2]}"#.to_vec(),
        };
        let v: Value = msg.json().unwrap();
        assert_eq!(v, json!({"a": [1, 2]}));
        assert_eq!(msg.text().unwrap(), r#"{"a":[1,2]}"#);

        let mut draft = OutgoingRequest {
            method: "POST".into(),
            url: "http://x".into(),
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: vec![],
        };
        draft.set_json(&v).unwrap();
        assert_eq!(draft.body, br#"{"a":[1,2]}"#);
        assert_eq!(draft.headers, vec![("content-type".to_string(), "application/json".to_string())]);
    }
}
