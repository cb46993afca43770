//! The Adobe Commerce envelope `{"data": {"uid", "event", "value"}}` of an ingested body:
//! parsing never panics, and an accepted envelope has exactly the body's non-empty `uid` and
//! `event` strings and a non-null `value`; a refused one says why truthfully.
#![no_main]

use hookgate::ingest::envelope::{parse, EnvelopeError};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|body: &[u8]| {
    let parsed = parse(body);
    let json = serde_json::from_slice::<Value>(body);
    match (parsed, json) {
        (Err(EnvelopeError::NotJson(_)), json) => assert!(json.is_err()),
        (_, Err(e)) => panic!("a body that is not JSON ({e}) was read as an envelope"),
        (Ok(envelope), Ok(json)) => {
            let data = &json["data"];
            assert!(!envelope.uid.is_empty() && !envelope.event.is_empty());
            assert_eq!(data["uid"].as_str(), Some(envelope.uid.as_str()));
            assert_eq!(data["event"].as_str(), Some(envelope.event.as_str()));
            assert!(!data["value"].is_null());
        }
        (Err(EnvelopeError::Missing(field) | EnvelopeError::NotAString(field)), Ok(json)) => {
            let data = &json["data"];
            let wrong = match field {
                "data" => !data.is_object(),
                "value" => data["value"].is_null(),
                _ => !data[field].as_str().is_some_and(|s| !s.is_empty()),
            };
            assert!(wrong, "refused for `{field}`: {json}");
        }
    }
});
