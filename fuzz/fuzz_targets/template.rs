//! Template parsing and rendering: data cannot change the shape of what a template fills.
//! - parsing never panics, and an error's position is a char boundary of the text;
//! - URL: values are percent-encoded (only unreserved characters and `%XX`, decoding back to
//!   the value), and a URL that is valid with placeholders keeps its origin (scheme, user,
//!   host, port) unless the template puts a variable there;
//! - header: a value valid with placeholders stays a valid header value, and no control
//!   character comes from the data;
//! - body: a body template that passes `check_json` renders valid JSON for any data.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::{Arbitrary, Result, Unstructured};
use hookgate::template::{Place, Template, Variables};
use hookgate_fuzz::{json, key, parses_as_json, text};
use libfuzzer_sys::fuzz_target;
use reqwest::header::HeaderValue;
use reqwest::Url;
use serde_json::Value;

/// The most a rendering may make here; the gateway caps a whole request at 4 MiB.
const RENDER_LIMIT: usize = 1 << 20;

/// Pieces that make templates more often valid and interesting than random text does.
const PIECES: &[&str] = &[
    "#a#", "#b#", "#a.b#", "#a.0#", "#0#", "#message.id#", "#event.id#", "#subshop#", "#config.k#", "##", "#", "\"", "\\",
    "{", "}", "[", "]", ":", ",", " ", "-", "1", ".5", "e", "null", "https://h.example/", "http://u@h:8080/", "/", "?q=", "&",
];

/// Variables, alone or with what may stand next to them outside a JSON string.
const BARE: &[&str] = &["#a#", "#b#", "#a.b#", "#a.0#", "#config.k#", "#message.id#", "-#a#", "#a##b#", "#a#1", "#a#.5", "[#a#]"];
/// JSON string content around a variable.
const IN_STRING: &[&str] = &["", "x", " ", "\\\"", "\\\\", "\\n", "\\u00e9", "##", "\\"];

/// JSON text some of whose tokens are variables, bare or inside strings, where any token
/// may stand: values, object keys, array items.
fn json_template(u: &mut Unstructured, depth: u32, out: &mut String) -> Result<()> {
    let string = |u: &mut Unstructured, out: &mut String| -> Result<()> {
        out.push('"');
        out.push_str(u.choose(IN_STRING)?);
        out.push_str(u.choose(&["#a#", "#b.0#", "#subshop#", ""])?);
        out.push_str(u.choose(IN_STRING)?);
        out.push('"');
        Ok(())
    };
    match u.choose_index(if depth == 0 { 3 } else { 5 })? {
        0 => out.push_str(u.choose(&["1", "-2.5e3", "true", "null", "\"s\""])?),
        1 => out.push_str(u.choose(BARE)?),
        2 => string(u, out)?,
        3 => {
            out.push('[');
            for i in 0..u.int_in_range(0..=3)? {
                out.push_str(if i > 0 { "," } else { "" });
                json_template(u, depth - 1, out)?;
            }
            out.push(']');
        }
        _ => {
            out.push('{');
            for i in 0..u.int_in_range(0..=3)? {
                out.push_str(if i > 0 { "," } else { "" });
                if u.arbitrary()? {
                    string(u, out)?;
                } else {
                    out.push_str(u.choose(BARE)?);
                }
                out.push(':');
                json_template(u, depth - 1, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

#[derive(Debug)]
struct Input {
    place: Place,
    text: String,
    /// `None`: the message body is not JSON.
    data: Option<Value>,
    config: BTreeMap<String, Value>,
    message_id: String,
    subshop: String,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let place = *u.choose(&[Place::Url, Place::Header, Place::JsonBody])?;
        let mut template = String::new();
        if place == Place::JsonBody && u.arbitrary()? {
            json_template(u, 3, &mut template)?;
        } else {
            for _ in 0..u.int_in_range(1..=12)? {
                if u.ratio(3, 4)? {
                    template.push_str(u.choose(PIECES)?);
                } else {
                    template.push_str(&u.arbitrary::<String>()?);
                }
            }
        }
        let data = if u.ratio(1, 8)? { None } else { Some(json(u, 4)?) };
        let mut config = BTreeMap::new();
        if u.arbitrary()? {
            config.insert("k".to_string(), json(u, 1)?);
        }
        Ok(Input { place, text: template, data, config, message_id: key(u)?, subshop: text(u)? })
    }
}

/// What a URL value must become: its text (JSON for non-strings, nothing for null) encoded.
fn plain_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Whether the literal text before the first variable already ends an http(s) URL's
/// authority (`https://host/`), so that the origin is configuration, not data. A template
/// may put a variable in the host (`https://#subshop#.shop.example/`).
fn origin_is_literal(template: &str) -> bool {
    let mut prefix = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '#' && chars.next_if_eq(&'#').is_none() {
            break;
        }
        prefix.push(c);
    }
    // URL parsers drop tabs and line breaks wherever they are.
    prefix.retain(|c| !matches!(c, '\t' | '\n' | '\r'));
    let prefix = prefix.trim_start_matches(|c: char| c <= ' ');
    let Some((scheme, rest)) = prefix.split_once(':') else { return false };
    matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https")
        && rest.trim_start_matches(['/', '\\']).contains(['/', '\\', '?', '#'])
}

fn origin(url: &Url) -> (String, Option<String>, Option<u16>, String, Option<String>) {
    let host = url.host_str().map(str::to_string);
    (url.scheme().to_string(), host, url.port_or_known_default(), url.username().to_string(), url.password().map(str::to_string))
}

fuzz_target!(|input: Input| {
    let template = match Template::parse(&input.text, input.place) {
        Ok(template) => template,
        Err(e) => {
            assert!(input.text.is_char_boundary(e.position), "{e} in {:?}", input.text);
            return;
        }
    };
    let vars = Variables {
        data: input.data.as_ref(),
        message_id: &input.message_id,
        event_id: "ev",
        subshop: &input.subshop,
        config: &input.config,
    };
    // Rendering stops at its limit: an amplifying template gives an error, never more.
    let Ok(rendered) = template.render(&vars, RENDER_LIMIT) else { return };
    assert!(rendered.len() <= RENDER_LIMIT);
    match input.place {
        Place::Url => {
            let single = Template::parse("#a#", Place::Url).unwrap().render(&vars, usize::MAX).unwrap();
            let unreserved = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '%');
            assert!(single.chars().all(unreserved), "{single:?}");
            let decoded = percent_encoding::percent_decode_str(&single).decode_utf8().expect("UTF-8 encoded");
            assert_eq!(decoded, plain_text(vars.lookup("a").as_ref()));
            if let Some(sample) = Url::parse(&template.sample()).ok().filter(|_| origin_is_literal(&input.text)) {
                let url = Url::parse(&rendered).unwrap_or_else(|e| panic!("{rendered:?} is not a URL: {e}"));
                assert_eq!(origin(&url), origin(&sample), "{rendered:?}");
            }
        }
        Place::Header => {
            if HeaderValue::from_str(&template.sample()).is_ok() {
                assert!(HeaderValue::from_str(&rendered).is_ok(), "{rendered:?}");
            }
            if !input.text.chars().any(char::is_control) {
                assert!(!rendered.chars().any(char::is_control), "{rendered:?}");
            }
        }
        Place::JsonBody => {
            if template.check_json().is_ok() {
                assert!(parses_as_json(&rendered), "{:?} renders {rendered:?}", input.text);
            }
        }
    }
});
