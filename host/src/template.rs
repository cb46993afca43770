//! `#path.to.value#` templates in target URLs, header values and body templates.
//!
//! Variables are dot paths into the message's JSON data (`#customer.group.name#`, numeric
//! segments index arrays: `#items.0.sku#`) or gateway values (`#message.id#`,
//! `#event.id#`, `#subshop#`, `#config.key#`). A missing value is empty. `##` is a literal
//! `#`. Each place encodes values so that data cannot change the shape of what it is put
//! into: percent-encoding in URLs, no line breaks in headers, JSON escaping in bodies
//! (as string content inside a JSON string, as a JSON value outside one).

use std::collections::BTreeMap;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

/// Where a template is used, which decides how values are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Url,
    Header,
    JsonBody,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Var { path: String, in_json_string: bool },
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    place: Place,
    parts: Vec<Part>,
}

/// A malformed template; `position` is the byte offset of the problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} at position {position}")]
pub struct TemplateError {
    pub position: usize,
    pub message: String,
}

/// A rendering that passed its size limit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the text grew past {max_bytes} bytes")]
pub struct TooLarge {
    pub max_bytes: usize,
}

fn is_var_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// What a URL value may leave unencoded: RFC 3986 unreserved characters.
const URL_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

impl Template {
    pub fn parse(text: &str, place: Place) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut in_json_string = false;
        let mut escaped = false;
        let mut rest = text.char_indices().peekable();
        while let Some((i, c)) = rest.next() {
            if c != '#' {
                if place == Place::JsonBody {
                    match c {
                        _ if escaped => escaped = false,
                        '\\' if in_json_string => escaped = true,
                        '"' => in_json_string = !in_json_string,
                        _ => {}
                    }
                }
                literal.push(c);
                continue;
            }
            if rest.peek().map(|(_, c)| *c) == Some('#') {
                rest.next();
                literal.push('#');
                continue;
            }
            let mut path = String::new();
            let mut closed = false;
            for (j, c) in rest.by_ref() {
                if c == '#' {
                    closed = true;
                    break;
                }
                if !is_var_char(c) {
                    return Err(TemplateError {
                        position: j,
                        message: format!("`{c}` cannot appear in a variable name (write `##` for a literal `#`)"),
                    });
                }
                path.push(c);
            }
            if !closed {
                return Err(TemplateError {
                    position: i,
                    message: "unterminated variable: `#` opens a variable that never closes (write `##` for a literal `#`)".into(),
                });
            }
            if path.is_empty() || path.starts_with('.') || path.ends_with('.') || path.contains("..") {
                return Err(TemplateError { position: i, message: format!("`#{path}#` is not a variable path") });
            }
            if !literal.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut literal)));
            }
            parts.push(Part::Var { path, in_json_string });
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { place, parts })
    }

    /// Whether the template has any variable (a plain string renders as itself).
    pub fn has_variables(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Var { .. }))
    }

    /// Renders the template, stopping as soon as the text passes `max_bytes`: a template
    /// that names one value many times must not turn a small message into gigabytes.
    pub fn render(&self, vars: &Variables<'_>, max_bytes: usize) -> Result<String, TooLarge> {
        self.render_by(|path| vars.lookup(path), max_bytes)
    }

    /// Renders with `x` for every variable: what config checks validate.
    pub fn sample(&self) -> String {
        // A placeholder per variable cannot make the text much longer than the template.
        self.render_by(|_| Some(Value::String("x".into())), usize::MAX).unwrap_or_default()
    }

    fn render_by(&self, lookup: impl Fn(&str) -> Option<Value>, max_bytes: usize) -> Result<String, TooLarge> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Var { path, in_json_string } => self.encode_into(&mut out, lookup(path).as_ref(), *in_json_string),
            }
            if out.len() > max_bytes {
                return Err(TooLarge { max_bytes });
            }
        }
        Ok(out)
    }

    fn encode_into(&self, out: &mut String, value: Option<&Value>, in_json_string: bool) {
        match self.place {
            Place::Url => out.extend(utf8_percent_encode(&plain_text(value), URL_VALUE)),
            Place::Header => out.extend(plain_text(value).chars().map(|c| if c.is_control() { ' ' } else { c })),
            Place::JsonBody if in_json_string => {
                let quoted = Value::String(plain_text(value)).to_string();
                out.push_str(&quoted[1..quoted.len() - 1]);
            }
            Place::JsonBody => match value {
                Some(v) => out.push_str(&v.to_string()),
                None => out.push_str("\"\""),
            },
        }
    }

    /// Renders with a placeholder for every variable and checks the result is valid JSON,
    /// so a broken body template is refused when it is configured, not when it is sent.
    /// Outside strings a variable becomes any JSON value, so it is tried as a string (refused
    /// where a string cannot stand, as after `-`) and as `null` (refused where only a string
    /// can, as an object key).
    pub fn check_json(&self) -> Result<(), TemplateError> {
        let with_nulls = self.render_by(|_| Some(Value::Null), usize::MAX).unwrap_or_default();
        for out in [self.sample(), with_nulls] {
            serde_json::from_str::<Value>(&out).map_err(|e| TemplateError {
                position: byte_offset(&out, e.line(), e.column()),
                message: format!("the body is not valid JSON once its variables are filled: {e}"),
            })?;
        }
        Ok(())
    }
}

fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
    line_start + column.saturating_sub(1)
}

/// A value as text: strings as they are, null as empty, anything else as JSON.
fn plain_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The values a template can refer to.
pub struct Variables<'a> {
    pub data: Option<&'a Value>,
    pub message_id: &'a str,
    pub event_id: &'a str,
    pub subshop: &'a str,
    pub config: &'a BTreeMap<String, Value>,
}

impl Variables<'_> {
    /// Gateway values first (`message.id`, `event.id`, `subshop`, `config.*`), then the
    /// message data.
    pub fn lookup(&self, path: &str) -> Option<Value> {
        match path {
            "message.id" => return Some(Value::String(self.message_id.into())),
            "event.id" => return Some(Value::String(self.event_id.into())),
            "subshop" => return Some(Value::String(self.subshop.into())),
            _ => {}
        }
        if let Some(key) = path.strip_prefix("config.") {
            return self.config.get(key).cloned();
        }
        let mut value = self.data?;
        for segment in path.split('.') {
            value = match value {
                Value::Object(map) => map.get(segment)?,
                Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(value.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(text: &str, place: Place, data: &Value) -> String {
        let config = BTreeMap::from([("api_key".to_string(), json!("k&y"))]);
        let vars = Variables { data: Some(data), message_id: "msg_1", event_id: "ev", subshop: "de", config: &config };
        Template::parse(text, place).unwrap().render(&vars, usize::MAX).unwrap()
    }

    fn customer() -> Value {
        json!({"customer": {"id": 7, "email": "a b@x.cz", "name": "Jo \"JJ\" \\ Doe\n", "group": {"name": "VIP"},
               "tags": ["a", "b"]}, "items": [{"sku": "S1"}, {"sku": "S2"}], "credit": 12.5, "ok": true})
    }

    #[test]
    fn nested_paths_and_array_indexes() {
        let out = render("#customer.group.name#/#items.1.sku#/#customer.id#/#credit#/#ok#", Place::Header, &customer());
        assert_eq!(out, "VIP/S2/7/12.5/true");
    }

    #[test]
    fn missing_values_are_empty() {
        let out = render("a=#customer.nope#&b=#items.9.sku#&c=#customer.id.deeper#", Place::Url, &customer());
        assert_eq!(out, "a=&b=&c=");
        assert_eq!(render(r##"{"x":#nope#}"##, Place::JsonBody, &customer()), r##"{"x":""}"##);
    }

    #[test]
    fn url_values_are_percent_encoded() {
        let out = render("https://h/p/#customer.id#?e=#customer.email#&k=#config.api_key#", Place::Url, &customer());
        assert_eq!(out, "https://h/p/7?e=a%20b%40x.cz&k=k%26y");
    }

    #[test]
    fn json_string_values_are_escaped_and_stay_valid() {
        let out = render(r##"{"name":"#customer.name#","id":"#customer.id#"}"##, Place::JsonBody, &customer());
        let parsed: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed["name"], json!("Jo \"JJ\" \\ Doe\n"));
        assert_eq!(parsed["id"], json!("7"));
    }

    #[test]
    fn json_values_outside_strings_keep_their_type() {
        let out = render(r##"{"c":#credit#,"tags":#customer.tags#,"n":"#customer.group.name#"}"##, Place::JsonBody, &customer());
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), json!({"c": 12.5, "tags": ["a", "b"], "n": "VIP"}));
    }

    #[test]
    fn a_quote_inside_a_json_string_does_not_confuse_the_tracker() {
        let out = render(r##"{"a":"say \"#customer.id#\"","b":#customer.id#}"##, Place::JsonBody, &customer());
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), json!({"a": "say \"7\"", "b": 7}));
    }

    #[test]
    fn double_hash_is_a_literal_hash() {
        assert_eq!(render("a##b#customer.id###", Place::Header, &customer()), "a#b7#");
    }

    #[test]
    fn headers_cannot_be_split() {
        assert_eq!(render("#customer.name#", Place::Header, &customer()), "Jo \"JJ\" \\ Doe ");
    }

    #[test]
    fn gateway_variables() {
        assert_eq!(render("#message.id#:#event.id#:#subshop#", Place::Header, &json!({})), "msg_1:ev:de");
    }

    #[test]
    fn malformed_templates_name_the_position() {
        let err = Template::parse("abc #customer.id", Place::Url).unwrap_err();
        assert_eq!(err.position, 4);
        let err = Template::parse("x #a b#", Place::Header).unwrap_err();
        assert_eq!(err.position, 4);
        assert!(Template::parse("#.a#", Place::Header).is_err());
        assert!(Template::parse("#a..b#", Place::Header).is_err());
    }

    #[test]
    fn body_templates_must_be_json_once_filled() {
        assert!(Template::parse(r##"{"a":"#x#","b":#y#}"##, Place::JsonBody).unwrap().check_json().is_ok());
        let err = Template::parse(r##"{"a":#x# "b":1}"##, Place::JsonBody).unwrap().check_json().unwrap_err();
        assert!(err.message.contains("not valid JSON"), "{err}");
        assert!(err.position > 0);
    }

    #[test]
    fn a_variable_outside_strings_may_be_any_json_value() {
        // Found by fuzz/ (target `template`): `{5:1}` is not JSON, whatever `{"x":1}` is.
        let err = Template::parse(r##"{#a#:1}"##, Place::JsonBody).unwrap().check_json().unwrap_err();
        assert!(err.message.contains("key must be a string"), "{err}");
        assert!(Template::parse(r##"{"a":-#x#}"##, Place::JsonBody).unwrap().check_json().is_err());
        assert!(Template::parse(r##"{"#k#":[#x#,{"b":#y#}]}"##, Place::JsonBody).unwrap().check_json().is_ok());
    }

    #[test]
    fn no_data_means_every_data_variable_is_empty() {
        let config = BTreeMap::new();
        let vars = Variables { data: None, message_id: "m", event_id: "e", subshop: "", config: &config };
        assert_eq!(Template::parse("[#a.b#]", Place::Header).unwrap().render(&vars, 2).unwrap(), "[]");
    }

    #[test]
    fn rendering_stops_once_past_the_limit() {
        let data = json!({"v": "x".repeat(1000)});
        let config = BTreeMap::new();
        let vars = Variables { data: Some(&data), message_id: "m", event_id: "e", subshop: "", config: &config };
        let template = Template::parse(&"#v#".repeat(10_000), Place::Header).unwrap();
        assert_eq!(template.render(&vars, 4096), Err(TooLarge { max_bytes: 4096 }));
        assert_eq!(template.render(&vars, 10_000_000).unwrap().len(), 10_000_000);
    }
}
