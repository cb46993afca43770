//! The built-in success criteria of a target: status codes, content type, body content.

use crate::model::SuccessCriteria;

/// `Ok` when the response meets every criterion, else why not.
pub fn check(criteria: &SuccessCriteria, status: u16, content_type: Option<&str>, body: &[u8]) -> Result<(), String> {
    if !criteria.status.iter().any(|p| p.matches(status)) {
        let expected: Vec<String> = criteria.status.iter().map(|p| p.to_string()).collect();
        return Err(format!("status {status} is not one of {}", expected.join(", ")));
    }
    if let Some(wanted) = &criteria.content_type {
        let got = content_type.unwrap_or("");
        if !media_type(got).eq_ignore_ascii_case(media_type(wanted)) {
            return Err(format!("content type `{got}` is not `{wanted}`"));
        }
    }
    if let Some(needle) = &criteria.body_contains {
        if !String::from_utf8_lossy(body).contains(needle.as_str()) {
            return Err(format!("the response body does not contain `{needle}`"));
        }
    }
    if let Some(expected) = &criteria.body_json {
        let json = serde_json::from_slice::<serde_json::Value>(body).ok();
        let found = json.as_ref().and_then(|v| v.pointer(&expected.pointer));
        if found != Some(&expected.equals) {
            let found = found.map_or_else(|| "missing".to_string(), |v| v.to_string());
            return Err(format!("the response JSON at `{}` is {found}, not {}", expected.pointer, expected.equals));
        }
    }
    Ok(())
}

/// `application/json; charset=utf-8` -> `application/json`.
fn media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// A refused response that retrying cannot fix: a 4xx other than 408 (timeout) and 429
/// (rate limited). Everything else (5xx, and 2xx/3xx that miss the criteria) is retried.
pub fn is_permanent(status: u16) -> bool {
    (400..500).contains(&status) && status != 408 && status != 429
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StatusPattern;

    fn criteria(status: &[&str]) -> SuccessCriteria {
        SuccessCriteria {
            status: status.iter().map(|s| StatusPattern::try_from(serde_json::json!(s)).unwrap()).collect(),
            ..SuccessCriteria::default()
        }
    }

    #[test]
    fn json_pointer_must_equal_the_expected_value() {
        let c: SuccessCriteria =
            serde_json::from_value(serde_json::json!({"body_json": {"pointer": "/result/ok", "equals": true}})).unwrap();
        assert!(check(&c, 200, None, br#"{"result":{"ok":true}}"#).is_ok());
        let why = check(&c, 200, None, br#"{"result":{"ok":false}}"#).unwrap_err();
        assert!(why.contains("/result/ok") && why.contains("false"), "{why}");
        assert!(check(&c, 200, None, b"not json").unwrap_err().contains("missing"));
    }

    #[test]
    fn status_classes_codes_and_ranges() {
        assert!(check(&SuccessCriteria::default(), 204, None, b"").is_ok());
        assert!(check(&SuccessCriteria::default(), 302, None, b"").is_err());
        let c = criteria(&["200-204", "302"]);
        assert!(check(&c, 204, None, b"").is_ok());
        assert!(check(&c, 302, None, b"").is_ok());
        assert!(check(&c, 205, None, b"").unwrap_err().contains("200-204, 302"));
    }

    #[test]
    fn content_type_compares_the_media_type_only() {
        let c = SuccessCriteria { content_type: Some("application/json".into()), ..SuccessCriteria::default() };
        assert!(check(&c, 200, Some("Application/JSON; charset=utf-8"), b"").is_ok());
        assert!(check(&c, 200, Some("text/html"), b"").is_err());
        assert!(check(&c, 200, None, b"").is_err());
    }

    #[test]
    fn body_must_contain_the_text() {
        let c = SuccessCriteria { body_contains: Some("\"ok\"".into()), ..SuccessCriteria::default() };
        assert!(check(&c, 200, None, br#"{"ok":1}"#).is_ok());
        assert!(check(&c, 200, None, b"nope").is_err());
    }

    #[test]
    fn which_refusals_are_permanent() {
        assert!(is_permanent(400) && is_permanent(404) && is_permanent(410));
        assert!(!is_permanent(408) && !is_permanent(429) && !is_permanent(500) && !is_permanent(503));
    }

    #[test]
    fn status_patterns_parse_and_refuse_nonsense() {
        let p = |v: serde_json::Value| StatusPattern::try_from(v);
        assert_eq!(p(serde_json::json!("2xx")).unwrap(), StatusPattern { low: 200, high: 299 });
        assert_eq!(p(serde_json::json!(201)).unwrap(), StatusPattern { low: 201, high: 201 });
        assert_eq!(p(serde_json::json!("200-204")).unwrap().to_string(), "200-204");
        for bad in ["9xx", "abc", "204-200", "1000", ""] {
            assert!(p(serde_json::json!(bad)).is_err(), "{bad}");
        }
    }
}
