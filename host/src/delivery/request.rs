//! The draft request of a delivery, built from the target config and the message alone:
//! templates filled in, the data put where the method wants it, and the log's view of what
//! was sent with its secrets masked.

use serde_json::Value;

use crate::model::{ErrorInfo, FailureCode, MessageRecord, SentRequest, TargetConfig};
use crate::runtime::{GuestMessage, OutgoingRequest};
use crate::template::{Place, Template, TemplateError, Variables};
use crate::validate::is_framing_header;

const EXCERPT_CHARS: usize = 1024;
const MASK: &str = "***";

/// The request the target config describes for `message`:
/// - the URL and header values are templates over the message data;
/// - the payload is the target's body template when it has one, else the data as received;
/// - GET and DELETE carry the payload in the query string (appended to the URL's own query),
///   unless the URL itself takes the data through variables and there is no body template;
///   the other methods carry it as the body.
///
/// URL, headers and body together may take at most `max_bytes`; rendering stops as soon as
/// they pass it (`request_too_large`, naming the part).
pub fn draft(
    target: &TargetConfig,
    message: &MessageRecord,
    data: &[u8],
    max_bytes: usize,
) -> Result<OutgoingRequest, ErrorInfo> {
    let url_template = parse(&target.url, Place::Url, "url")?;
    let header_templates = target
        .headers
        .iter()
        .map(|(name, value)| Ok((name, parse(value, Place::Header, name)?)))
        .collect::<Result<Vec<_>, ErrorInfo>>()?;
    let body_template = target.body.as_deref().map(|body| parse(body, Place::JsonBody, "body")).transpose()?;
    // The data is parsed only when some template refers to it (it may be a large body).
    let templated = url_template.has_variables()
        || header_templates.iter().any(|(_, t)| t.has_variables())
        || body_template.as_ref().is_some_and(Template::has_variables);
    let json = if templated { serde_json::from_slice::<Value>(data).ok() } else { None };
    let vars = Variables {
        data: json.as_ref(),
        message_id: &message.message_id,
        event_id: &message.event_id,
        subshop: message.subshop.as_deref().unwrap_or(""),
        config: &target.config,
    };
    let mut budget = Budget { left: max_bytes, max_bytes };
    let mut url = budget.render(Part::Url, &url_template, &vars)?;
    let mut headers = Vec::with_capacity(header_templates.len() + 1);
    for (name, template) in &header_templates {
        budget.spend(Part::Headers, name.len())?;
        headers.push((name.to_string(), budget.render(Part::Headers, template, &vars)?));
    }
    let (payload, content_type) = match &body_template {
        Some(body) => (budget.render(Part::Body, body, &vars)?.into_bytes(), Some("application/json".to_string())),
        None => {
            budget.spend(Part::Body, data.len())?;
            (data.to_vec(), message.content_type.clone())
        }
    };
    let method = target.method();
    let body = if method.data_in_query() {
        let url_takes_the_data = target.body.is_none() && url_template.has_variables();
        if !payload.is_empty() && !url_takes_the_data {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&String::from_utf8_lossy(&payload));
        }
        Vec::new()
    } else {
        if let Some(content_type) = content_type {
            if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
                headers.push(("content-type".into(), content_type));
            }
        }
        payload
    };
    Ok(OutgoingRequest { method: method.as_str().to_string(), url, headers, body })
}

/// The parts of a request the size cap names.
#[derive(Debug, Clone, Copy)]
enum Part {
    Url,
    Headers,
    Body,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Url => "URL",
            Part::Headers => "headers",
            Part::Body => "body",
        }
    }
}

/// What is left of the request size cap while a draft is rendered.
struct Budget {
    left: usize,
    max_bytes: usize,
}

impl Budget {
    fn spend(&mut self, part: Part, bytes: usize) -> Result<(), ErrorInfo> {
        self.left = self.left.checked_sub(bytes).ok_or_else(|| too_large(part, self.max_bytes))?;
        Ok(())
    }

    fn render(&mut self, part: Part, template: &Template, vars: &Variables<'_>) -> Result<String, ErrorInfo> {
        let text = template.render(vars, self.left).map_err(|_| too_large(part, self.max_bytes))?;
        self.spend(part, text.len())?;
        Ok(text)
    }
}

fn too_large(part: Part, max_bytes: usize) -> ErrorInfo {
    ErrorInfo::new(
        FailureCode::RequestTooLarge,
        format!(
            "the request's {} took it past {} KiB, the most the gateway sends (--max-request-kb)",
            part.name(),
            max_bytes >> 10
        ),
    )
}

/// Checks a finished request (after the transformer) against the size cap and the headers
/// the gateway alone may set.
pub fn check(request: &OutgoingRequest, max_bytes: usize) -> Result<(), ErrorInfo> {
    if let Some((name, _)) = request.headers.iter().find(|(name, _)| is_framing_header(name)) {
        return Err(ErrorInfo::new(
            FailureCode::ForbiddenHeader,
            format!("the request sets `{name}`, a framing or hop-by-hop header that only the gateway sets"),
        ));
    }
    let mut budget = Budget { left: max_bytes, max_bytes };
    budget.spend(Part::Url, request.url.len())?;
    budget.spend(Part::Headers, request.headers.iter().map(|(k, v)| k.len() + v.len()).sum())?;
    budget.spend(Part::Body, request.body.len())
}

/// The message as a guest sees it.
pub fn guest_message(message: &MessageRecord, data: &[u8]) -> GuestMessage {
    GuestMessage {
        event_id: message.event_id.clone(),
        message_id: message.message_id.clone(),
        received_at: message.received_at_ms,
        headers: message.headers.clone(),
        content_type: message.content_type.clone(),
        body: data.to_vec(),
    }
}

fn parse(text: &str, place: Place, field: &str) -> Result<Template, ErrorInfo> {
    Template::parse(text, place)
        .map_err(|e: TemplateError| ErrorInfo::new(FailureCode::InvalidTemplate, format!("target {field}: {e}")))
}

/// Header names whose values are credentials whatever they hold.
fn is_secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(name.as_str(), "authorization" | "proxy-authorization" | "cookie")
        || ["token", "secret", "key", "signature", "password"].iter().any(|s| name.contains(s))
}

/// The first `EXCERPT_CHARS` characters of a body, for the log. Only the bytes that can hold
/// them are decoded (a character is at most 4 bytes), not a body of megabytes per attempt.
pub fn excerpt(body: &[u8]) -> String {
    let prefix = String::from_utf8_lossy(&body[..body.len().min(4 * EXCERPT_CHARS)]);
    match prefix.char_indices().nth(EXCERPT_CHARS) {
        Some((end, _)) => prefix[..end].to_string(),
        None => prefix.into_owned(),
    }
}

/// The log's view of `request`: credential headers hidden, and every config value of the
/// target and its components (as given and as it looks in a URL) replaced by `***`.
pub fn for_log(request: &OutgoingRequest, target: &TargetConfig) -> SentRequest {
    let secrets = secrets_of(target);
    let mask = |text: String| secrets.iter().fold(text, |acc, s| if acc.contains(s.as_str()) { acc.replace(s.as_str(), MASK) } else { acc });
    SentRequest {
        method: request.method.clone(),
        url: mask(crate::secrets::mask_userinfo(&request.url)),
        headers: request
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), if is_secret_header(k) { MASK.to_string() } else { mask(v.clone()) }))
            .collect(),
        body_excerpt: mask(excerpt(&request.body)),
    }
}

/// Config values long enough to be worth hiding (masking `1` or `de` would garble the log).
fn secrets_of(target: &TargetConfig) -> Vec<String> {
    let bindings = [&target.transformer, &target.condition].into_iter().flatten().map(|b| &b.config);
    let mut secrets: Vec<String> = std::iter::once(&target.config)
        .chain(bindings)
        .flat_map(|config| config.values())
        .filter_map(|v| v.as_str())
        .filter(|s| s.len() >= 4)
        .flat_map(|s| {
            let encoded = percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
            [s.to_string(), encoded]
        })
        .collect();
    // Longest first, so that a secret containing another is hidden whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    secrets
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HttpMethod;
    use serde_json::json;

    #[test]
    fn an_excerpt_is_the_first_characters_of_the_whole_body_decoded() {
        let whole = |body: &[u8]| -> String { String::from_utf8_lossy(body).chars().take(EXCERPT_CHARS).collect() };
        let one_then_four: Vec<u8> = [b"a".to_vec(), "\u{1F600}".repeat(2 * EXCERPT_CHARS).into_bytes()].concat();
        let invalid: Vec<u8> = [vec![0xff; 10], "é".repeat(3 * EXCERPT_CHARS).into_bytes()].concat();
        let bodies: [Vec<u8>; 5] = [
            b"short".to_vec(),
            vec![b'x'; 5 * EXCERPT_CHARS],
            "\u{1F600}".repeat(3 * EXCERPT_CHARS).into_bytes(),
            one_then_four,
            invalid,
        ];
        for body in &bodies {
            let got = excerpt(body);
            assert_eq!(got, whole(body));
            assert!(!got.contains('\u{FFFD}') || body.starts_with(&[0xff]), "no character cut in two");
        }
    }

    const MAX: usize = 4 << 20;

    fn target(config: Value) -> TargetConfig {
        serde_json::from_value(config).unwrap()
    }

    fn message(content_type: Option<&str>) -> MessageRecord {
        MessageRecord {
            message_id: "msg_1".into(),
            event_id: "customer.updated".into(),
            received_at: String::new(),
            received_at_ms: 0,
            headers: vec![],
            content_type: content_type.map(str::to_string),
            body_size: 0,
            subshop: Some("de".into()),
            idempotency_key: None,
            traceparent: None,
        }
    }

    #[test]
    fn get_without_body_appends_the_raw_data_to_the_query() {
        let t = target(json!({"id": "t", "url": "https://h/p?x=1"}));
        assert_eq!(t.method(), HttpMethod::Get);
        let r = draft(&t, &message(Some("text/plain")), b"a=1&b=x y", MAX).unwrap();
        assert_eq!((r.method.as_str(), r.url.as_str()), ("GET", "https://h/p?x=1&a=1&b=x y"));
        assert!(r.body.is_empty() && r.headers.is_empty());
        let r = draft(&target(json!({"id": "t", "url": "https://h/p", "method": "DELETE"})), &message(None), b"k=v", MAX).unwrap();
        assert_eq!(r.url, "https://h/p?k=v");
    }

    #[test]
    fn url_variables_take_the_data_instead_of_the_query() {
        let t = target(json!({"id": "t", "url": "https://h/c/#customer.id#?e=#customer.email#"}));
        let r = draft(&t, &message(None), br#"{"customer":{"id":7,"email":"a@b"}}"#, MAX).unwrap();
        assert_eq!(r.url, "https://h/c/7?e=a%40b");
    }

    #[test]
    fn body_template_means_post_with_json() {
        let t = target(json!({"id": "t", "url": "https://h/", "body": "{\"mail\":\"#customer.email#\",\"shop\":\"#subshop#\"}"}));
        let r = draft(&t, &message(Some("text/plain")), br#"{"customer":{"email":"x\"y"}}"#, MAX).unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(serde_json::from_slice::<Value>(&r.body).unwrap(), json!({"mail": "x\"y", "shop": "de"}));
        assert_eq!(r.headers, vec![("content-type".to_string(), "application/json".to_string())]);
    }

    #[test]
    fn raw_data_is_the_body_for_post_put_patch() {
        for method in ["POST", "PUT", "PATCH"] {
            let t = target(json!({"id": "t", "url": "https://h/", "method": method, "headers": {"X-A": "#event.id#"}}));
            let r = draft(&t, &message(Some("text/plain")), b"hello world", MAX).unwrap();
            assert_eq!((r.method.as_str(), r.url.as_str(), r.body.as_slice()), (method, "https://h/", &b"hello world"[..]));
            assert!(r.headers.contains(&("X-A".into(), "customer.updated".into())));
            assert!(r.headers.contains(&("content-type".into(), "text/plain".into())));
        }
    }

    #[test]
    fn log_view_masks_config_values_and_credential_headers() {
        let t = target(json!({"id": "t", "url": "https://h/?key=#config.api_key#", "config": {"api_key": "s3cr et"},
                               "headers": {"Authorization": "Bearer abc", "X-Trace": "s3cr et"}}));
        let r = draft(&t, &message(None), b"", MAX).unwrap();
        assert_eq!(r.url, "https://h/?key=s3cr%20et");
        let logged = for_log(&r, &t);
        assert_eq!(logged.url, "https://h/?key=***");
        assert!(logged.headers.contains(&("Authorization".into(), "***".into())));
        assert!(logged.headers.contains(&("X-Trace".into(), "***".into())));
    }

    #[test]
    fn log_view_masks_user_info_in_the_url() {
        let t = target(json!({"id": "t", "url": "https://user:pa55word@h/p"}));
        let r = draft(&t, &message(None), b"", MAX).unwrap();
        assert_eq!(for_log(&r, &t).url, "https://user:***@h/p");
    }

    #[test]
    fn a_draft_stops_at_the_size_cap_and_names_the_part() {
        let many = format!("[{}]", vec!["#v#"; 10_000].join(","));
        let t = target(json!({"id": "t", "url": "https://h/", "body": many}));
        let data = serde_json::to_vec(&json!({"v": "x".repeat(100_000)})).unwrap();
        let err = draft(&t, &message(None), &data, MAX).unwrap_err();
        assert_eq!(err.code, FailureCode::RequestTooLarge);
        assert!(err.message.contains("body"), "{}", err.message);
        let t = target(json!({"id": "t", "url": "https://h/#v#", "method": "POST"}));
        let err = draft(&t, &message(None), &data, 64 << 10).unwrap_err();
        assert!(err.message.contains("URL") && err.message.contains("64 KiB"), "{}", err.message);
        let t = target(json!({"id": "t", "url": "https://h/", "method": "POST"}));
        assert_eq!(draft(&t, &message(None), &data, 64 << 10).unwrap_err().code, FailureCode::RequestTooLarge);
        assert_eq!(draft(&t, &message(None), &data, MAX).unwrap().body, data);
    }

    #[test]
    fn finished_requests_may_not_set_framing_headers_or_pass_the_cap() {
        let request = |headers: Vec<(&str, &str)>, body: usize| OutgoingRequest {
            method: "POST".into(),
            url: "https://h/".into(),
            headers: headers.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: vec![b'x'; body],
        };
        for name in ["Content-Length", "transfer-encoding", "Host", "Connection", "Upgrade", "TE", "Trailer", "Keep-Alive", "Proxy-Authorization"] {
            let err = check(&request(vec![(name, "5")], 1), MAX).unwrap_err();
            assert_eq!(err.code, FailureCode::ForbiddenHeader);
            assert!(err.message.contains(name), "{}", err.message);
        }
        assert!(check(&request(vec![("content-type", "text/plain"), ("X-Host", "a")], 1), MAX).is_ok());
        let err = check(&request(vec![], MAX), MAX).unwrap_err();
        assert_eq!(err.code, FailureCode::RequestTooLarge);
        assert!(err.message.contains("body"));
    }
}
