//! Case-insensitive access to [`Headers`](crate::Headers) (`Vec<(String, String)>`).
//!
//! Header names are compared ASCII-case-insensitively, as HTTP requires; order and the
//! spelling of names that are not touched are kept. The request and response types have the
//! same operations as methods (`request.header("x-token")`, `draft.set_header(..)`).
//!
//! ```
//! use hookgate_sdk::{header, set_header, Headers};
//!
//! let mut headers: Headers = vec![("Content-Type".into(), "text/plain".into())];
//! assert_eq!(header(&headers, "content-type"), Some("text/plain"));
//!
//! set_header(&mut headers, "content-type", "application/json");
//! assert_eq!(headers, vec![("content-type".to_string(), "application/json".to_string())]);
//! ```

use crate::{IncomingRequest, Message, OutgoingRequest, Response};

/// The value of the first header named `name` (case-insensitively), if any.
///
/// ```
/// use hookgate_sdk::header;
/// let headers = vec![("X-Signature".to_string(), "abc".to_string())];
/// assert_eq!(header(&headers, "x-signature"), Some("abc"));
/// assert_eq!(header(&headers, "x-other"), None);
/// ```
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The values of all the headers named `name` (case-insensitively), in order.
///
/// ```
/// use hookgate_sdk::header_all;
/// let headers = vec![
///     ("Accept".to_string(), "text/html".to_string()),
///     ("accept".to_string(), "application/json".to_string()),
/// ];
/// let all: Vec<&str> = header_all(&headers, "ACCEPT").collect();
/// assert_eq!(all, ["text/html", "application/json"]);
/// ```
pub fn header_all<'a>(
    headers: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Sets header `name` to `value`: the first header of that name (case-insensitively) is
/// replaced in place (taking the new spelling of the name), the others of that name are
/// removed; when there is none, the header is appended.
///
/// ```
/// use hookgate_sdk::set_header;
/// let mut headers = vec![
///     ("Host".to_string(), "example.com".to_string()),
///     ("X-Tag".to_string(), "a".to_string()),
///     ("x-tag".to_string(), "b".to_string()),
/// ];
/// set_header(&mut headers, "x-tag", "c");
/// set_header(&mut headers, "x-new", "d");
/// assert_eq!(headers, vec![
///     ("Host".to_string(), "example.com".to_string()),
///     ("x-tag".to_string(), "c".to_string()),
///     ("x-new".to_string(), "d".to_string()),
/// ]);
/// ```
pub fn set_header(
    headers: &mut Vec<(String, String)>,
    name: impl Into<String>,
    value: impl Into<String>,
) {
    let name = name.into();
    let value = value.into();
    match headers
        .iter()
        .position(|(n, _)| n.eq_ignore_ascii_case(&name))
    {
        Some(first) => {
            let mut index = 0;
            headers.retain(|(n, _)| {
                let keep = index <= first || !n.eq_ignore_ascii_case(&name);
                index += 1;
                keep
            });
            headers[first] = (name, value);
        }
        None => headers.push((name, value)),
    }
}

/// Appends a header, keeping any others of the same name.
///
/// ```
/// use hookgate_sdk::{append_header, header_all};
/// let mut headers = vec![("Via".to_string(), "a".to_string())];
/// append_header(&mut headers, "via", "b");
/// assert_eq!(header_all(&headers, "via").collect::<Vec<_>>(), ["a", "b"]);
/// ```
pub fn append_header(
    headers: &mut Vec<(String, String)>,
    name: impl Into<String>,
    value: impl Into<String>,
) {
    headers.push((name.into(), value.into()));
}

/// Removes every header named `name` (case-insensitively); returns how many were removed.
///
/// ```
/// use hookgate_sdk::remove_header;
/// let mut headers = vec![("Cookie".to_string(), "a=1".to_string())];
/// assert_eq!(remove_header(&mut headers, "cookie"), 1);
/// assert!(headers.is_empty());
/// ```
pub fn remove_header(headers: &mut Vec<(String, String)>, name: &str) -> usize {
    let before = headers.len();
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    before - headers.len()
}

macro_rules! read_methods {
    ($($ty:ident),*) => {$(
        impl $ty {
            /// The value of the first header named `name` (case-insensitively), if any.
            /// See [`header`](crate::header()), whose example shows the behaviour.
            pub fn header(&self, name: &str) -> Option<&str> {
                header(&self.headers, name)
            }

            /// The values of all the headers named `name` (case-insensitively), in order.
            /// See [`header_all`](crate::header_all()).
            pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
                header_all(&self.headers, name)
            }
        }
    )*};
}
read_methods!(IncomingRequest, Message, OutgoingRequest, Response);

macro_rules! write_methods {
    ($($ty:ident),*) => {$(
        impl $ty {
            /// Sets header `name` to `value`, replacing any of that name (case-insensitively).
            /// See [`set_header`](crate::set_header()).
            pub fn set_header(&mut self, name: impl Into<String>, value: impl Into<String>) {
                set_header(&mut self.headers, name, value)
            }

            /// Appends a header, keeping any others of the same name.
            /// See [`append_header`](crate::append_header()).
            pub fn append_header(&mut self, name: impl Into<String>, value: impl Into<String>) {
                append_header(&mut self.headers, name, value)
            }

            /// Removes every header named `name` (case-insensitively); returns how many were
            /// removed. See [`remove_header`](crate::remove_header()).
            pub fn remove_header(&mut self, name: &str) -> usize {
                remove_header(&mut self.headers, name)
            }
        }
    )*};
}
write_methods!(OutgoingRequest, Response);

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn set_header_replaces_first_and_drops_duplicates() {
        let mut headers = h(&[("A", "1"), ("X-T", "2"), ("B", "3"), ("x-t", "4"), ("C", "5")]);
        set_header(&mut headers, "X-t", "9");
        assert_eq!(headers, h(&[("A", "1"), ("X-t", "9"), ("B", "3"), ("C", "5")]));
    }

    #[test]
    fn methods_on_records() {
        let mut draft = OutgoingRequest {
            method: "POST".into(),
            url: "http://x".into(),
            headers: h(&[("Content-Type", "text/plain")]),
            body: vec![],
        };
        assert_eq!(draft.header("CONTENT-TYPE"), Some("text/plain"));
        draft.set_header("content-type", "application/json");
        draft.append_header("x-a", "1");
        assert_eq!(draft.header_all("content-type").count(), 1);
        assert_eq!(draft.remove_header("X-A"), 1);
        assert_eq!(draft.headers, h(&[("content-type", "application/json")]));
    }
}
