//! Payload schemas: an event may carry a JSON Schema (2020-12) that every fired payload must
//! match, so a malformed payload is refused at the door (`400 invalid_payload`, nothing
//! stored) instead of failing at a target days later. The schema is checked when the event
//! is configured and compiled once per stored config, on first use.

use std::sync::{Arc, OnceLock};

use serde_json::Value;

/// The compiled form of an event config's schema; it travels with the config (which the
/// store caches decoded) and is never serialized.
#[derive(Default)]
pub struct CompiledSchema(OnceLock<Result<Arc<jsonschema::Validator>, String>>);

impl CompiledSchema {
    fn get(&self, schema: &Value) -> Result<&jsonschema::Validator, String> {
        self.0.get_or_init(|| compile(schema).map(Arc::new)).as_ref().map(|v| &**v).map_err(Clone::clone)
    }
}

/// A copy of a config compiles its schema again when it needs it.
impl Clone for CompiledSchema {
    fn clone(&self) -> Self {
        CompiledSchema::default()
    }
}

impl std::fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() { "CompiledSchema(compiled)" } else { "CompiledSchema(not yet)" })
    }
}

/// Not part of what a config says: two configs are equal whatever is compiled.
impl PartialEq for CompiledSchema {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Compiles `schema` as JSON Schema 2020-12; the error says what is wrong with it. Remote
/// `$ref`s are not fetched (the gateway reaches no URL an admin names outside deliveries).
pub fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::draft202012::new(schema).map_err(|e| e.to_string())
}

/// Why a payload does not match: where (a JSON pointer into the payload), which rule (a
/// pointer into the schema) and what.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the payload does not match the event's schema at `{pointer}`: {message} (rule `{rule}`)")]
pub struct Mismatch {
    pub pointer: String,
    pub rule: String,
    pub message: String,
}

/// Checks the part of `body` at `at` (a JSON pointer, `""` for the whole body) against
/// `schema`.
pub fn check(schema: &Value, compiled: &CompiledSchema, body: &[u8], at: &str) -> Result<(), Mismatch> {
    let mismatch = |pointer: &str, rule: &str, message: String| Mismatch { pointer: pointer.into(), rule: rule.into(), message };
    let validator = compiled.get(schema).map_err(|e| mismatch("", "", format!("the event's schema is unusable: {e}")))?;
    let json: Value =
        serde_json::from_slice(body).map_err(|e| mismatch("", "", format!("the payload is not JSON: {e}")))?;
    let payload = json.pointer(at).ok_or_else(|| mismatch(at, "", "the payload has nothing there".into()))?;
    let first = validator.iter_errors(payload).next().map(|error| {
        let pointer = format!("{at}{}", error.instance_path().as_str());
        mismatch(&pointer, error.schema_path().as_str(), error.to_string())
    });
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order_schema() -> Value {
        json!({"type": "object", "required": ["order_id"],
               "properties": {"order_id": {"type": "integer"}, "items": {"type": "array", "items": {"type": "string"}}}})
    }

    #[test]
    fn a_mismatch_names_the_pointer_and_the_rule() {
        let (schema, compiled) = (order_schema(), CompiledSchema::default());
        assert_eq!(check(&schema, &compiled, br#"{"order_id": 7, "items": ["a"]}"#, ""), Ok(()));
        let err = check(&schema, &compiled, br#"{"order_id": 7, "items": ["a", 2]}"#, "").unwrap_err();
        assert_eq!((err.pointer.as_str(), err.rule.as_str()), ("/items/1", "/properties/items/items/type"));
        let err = check(&schema, &compiled, br#"{"data": {"value": {"order_id": "x"}}}"#, "/data/value").unwrap_err();
        assert_eq!(err.pointer, "/data/value/order_id");
        assert!(err.to_string().contains("is not of type \"integer\""), "{err}");
        let err = check(&schema, &compiled, b"not json", "").unwrap_err();
        assert!(err.message.contains("not JSON"), "{err}");
    }

    #[test]
    fn invalid_schemas_are_refused() {
        assert!(compile(&order_schema()).is_ok());
        assert!(compile(&json!({"type": "no-such-type"})).is_err());
        assert!(compile(&json!({"$ref": "https://example.com/remote.json"})).is_err(), "nothing is fetched");
    }
}
