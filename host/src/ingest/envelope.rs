//! The Adobe Commerce ingestion envelope: `{"data": {"uid", "event", "value"}}`.

use serde_json::Value;

/// A parsed envelope: `event` routes the message, `uid` deduplicates it.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub uid: String,
    pub event: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("missing field `{0}`")]
    Missing(&'static str),
    #[error("field `{0}` must be a non-empty string")]
    NotAString(&'static str),
}

/// Reads the routing fields of an envelope; `value` must be present (any JSON).
pub fn parse(body: &[u8]) -> Result<Envelope, EnvelopeError> {
    let json: Value = serde_json::from_slice(body).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
    let data = json.get("data").filter(|d| d.is_object()).ok_or(EnvelopeError::Missing("data"))?;
    let text = |field: &'static str| match data.get(field) {
        None | Some(Value::Null) => Err(EnvelopeError::Missing(field)),
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(EnvelopeError::NotAString(field)),
    };
    let uid = text("uid")?;
    let event = text("event")?;
    if data.get("value").is_none_or(Value::is_null) {
        return Err(EnvelopeError::Missing("value"));
    }
    Ok(Envelope { uid, event })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_uid_and_event() {
        let body = br#"{"data":{"uid":"u1","event":"be-observer.catalog_product_create","value":{"sku":"S"}}}"#;
        assert_eq!(parse(body), Ok(Envelope { uid: "u1".into(), event: "be-observer.catalog_product_create".into() }));
    }

    #[test]
    fn names_what_is_missing_or_wrong() {
        assert!(matches!(parse(b"{"), Err(EnvelopeError::NotJson(_))));
        assert_eq!(parse(br#"{"uid":"x"}"#), Err(EnvelopeError::Missing("data")));
        assert_eq!(parse(br#"{"data":{"event":"e","value":1}}"#), Err(EnvelopeError::Missing("uid")));
        assert_eq!(parse(br#"{"data":{"uid":"u","value":1}}"#), Err(EnvelopeError::Missing("event")));
        assert_eq!(parse(br#"{"data":{"uid":"u","event":"e"}}"#), Err(EnvelopeError::Missing("value")));
        assert_eq!(parse(br#"{"data":{"uid":5,"event":"e","value":1}}"#), Err(EnvelopeError::NotAString("uid")));
    }
}
