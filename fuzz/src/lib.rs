//! What several fuzz targets share: arbitrary JSON data and one gateway runtime per process.

use std::sync::LazyLock;

use arbitrary::{Result, Unstructured};
use hookgate::runtime::{GuestLimits, Registry, Runtime};
use hookgate::store::{self, StoreLocation};
use serde_json::{Map, Value};

/// Strings that change the shape of what they are put into, more often than random text would.
const HOSTILE: &[&str] = &["", "\"", "\\", "#", "##", ".", "..", "/", "?", "&", "=", "%", "\n", "\r\n", "\u{0}", "\u{7f}", "\u{85}", "é", "{}", "]"];

/// A JSON string: random text, or one of the hostile pieces.
pub fn text(u: &mut Unstructured) -> Result<String> {
    if u.ratio(1, 3)? {
        Ok(u.choose(HOSTILE)?.to_string())
    } else {
        u.arbitrary()
    }
}

/// An object key: mostly one that the templates' variables (`#a.b.0#`) name.
pub fn key(u: &mut Unstructured) -> Result<String> {
    if u.ratio(2, 3)? {
        Ok(u.choose(&["a", "b", "0"])?.to_string())
    } else {
        text(u)
    }
}

/// A JSON value at most `depth` containers deep, as message data might be.
pub fn json(u: &mut Unstructured, depth: u32) -> Result<Value> {
    let kinds = if depth == 0 { 5 } else { 7 };
    Ok(match u.choose_index(kinds)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::from(u.arbitrary::<i64>()?),
        3 => serde_json::Number::from_f64(u.arbitrary()?).map_or(Value::Null, Value::Number),
        4 => Value::String(text(u)?),
        5 => Value::Array((0..u.int_in_range(0..=4)?).map(|_| json(u, depth - 1)).collect::<Result<_>>()?),
        _ => {
            let mut map = Map::new();
            for _ in 0..u.int_in_range(0..=4)? {
                map.insert(key(u)?, json(u, depth - 1)?);
            }
            Value::Object(map)
        }
    })
}

/// Parses JSON without serde_json's nesting limit (a property of the parser, not of JSON).
pub fn parses_as_json(text: &str) -> bool {
    let mut parser = serde_json::Deserializer::from_str(text);
    parser.disable_recursion_limit();
    serde::de::Deserialize::deserialize(&mut parser).map(|_: Value| ()).and_then(|()| parser.end()).is_ok()
}

/// The gateway's runtime and an empty component registry over a scratch store, made once per
/// fuzzing process as `App::open` makes them.
pub fn registry() -> &'static Registry {
    static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
        let dir = std::env::temp_dir().join(format!("hookgate-fuzz-{}", std::process::id()));
        // The store starts its writer inside a tokio runtime, which lives as long as the process.
        let tokio = Box::leak(Box::new(tokio::runtime::Runtime::new().expect("a tokio runtime")));
        let store = tokio.block_on(store::open(&StoreLocation::Sled(dir), &store::StoreOptions { cache_bytes: 8 << 20, ..Default::default() })).expect("a scratch store opens");
        let runtime = Runtime::new(GuestLimits::default()).expect("the runtime starts");
        Registry::new(runtime, store, None)
    });
    &REGISTRY
}
