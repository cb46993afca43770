//! Property tests over the parsers that read untrusted input: templates, event configs and
//! the ingestion envelope. They run with the unit tests (256 cases each by default; set
//! `PROPTEST_CASES` for a longer run).

use proptest::prelude::*;
use serde_json::{json, Value};

use crate::ingest::envelope;
use crate::model::EventConfig;
use crate::template::{Place, Template, Variables};

/// Arbitrary JSON values, a few levels deep, with hostile strings.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        ".*".prop_map(Value::from),
        "[\"\\\\#{}\\n\\u{0}-\\u{1f}]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,3}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Body templates built from JSON pieces and variables, inside and outside strings.
fn body_template() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("{\"a\":#a#}".to_string()),
        Just("{\"s\":\"x #a.b# y\"}".to_string()),
        Just("[#a.0#, \"#b#\", ##]".to_string()),
        Just("\"##\"".to_string()),
        "[a-z#.\"{}\\[\\],: ]{0,12}",
    ];
    prop::collection::vec(piece, 1..4).prop_map(|parts| parts.concat())
}

fn rendered(text: &str, place: Place, vars: &Variables<'_>) -> Result<String, TestCaseError> {
    let template = Template::parse(text, place).map_err(|e| TestCaseError::fail(e.to_string()))?;
    template.render(vars, usize::MAX).map_err(|e| TestCaseError::fail(e.to_string()))
}

proptest! {
    #[test]
    fn template_parsing_never_panics(text in ".*", place in prop_oneof![Just(Place::Url), Just(Place::Header), Just(Place::JsonBody)]) {
        let _ = Template::parse(&text, place);
    }

    #[test]
    fn a_checked_body_template_renders_valid_json_for_any_data(text in body_template(), data in json_value()) {
        let Ok(template) = Template::parse(&text, Place::JsonBody) else { return Ok(()) };
        if template.check_json().is_err() {
            return Ok(());
        }
        let config = Default::default();
        let vars = Variables { data: Some(&data), message_id: "m", event_id: "e", subshop: "", config: &config };
        let rendered = template.render(&vars, usize::MAX).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(serde_json::from_str::<Value>(&rendered).is_ok(), "{text} with {data} gave {rendered}");
    }

    #[test]
    fn url_and_header_values_cannot_change_the_shape(data in json_value()) {
        let config = Default::default();
        let vars = Variables { data: Some(&data), message_id: "m", event_id: "e", subshop: "", config: &config };
        let url = rendered("https://h/p/#a#?q=#b.c#", Place::Url, &vars)?;
        prop_assert!(reqwest::Url::parse(&url).is_ok_and(|u| u.host_str() == Some("h") && u.path().starts_with("/p/")), "{url}");
        let header = rendered("v=#a#", Place::Header, &vars)?;
        prop_assert!(!header.chars().any(char::is_control), "{header:?}");
    }

    #[test]
    fn envelope_parsing_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256), data in json_value()) {
        let _ = envelope::parse(&bytes);
        let _ = envelope::parse(json!({"data": data}).to_string().as_bytes());
    }

    #[test]
    fn event_config_parsing_never_panics(config in json_value(), target in json_value()) {
        let _ = serde_json::from_value::<EventConfig>(config);
        let _ = serde_json::from_value::<EventConfig>(json!({"targets": [target]}));
    }
}
