//! Write [hookgate](https://github.com/) components in Rust.
//!
//! A hookgate component is a WebAssembly component that plays exactly one role in the
//! gateway, described by one world of the contract `hookgate:plugin@0.1.0` (`wit/plugin.wit`):
//!
//! | role | implement | export with | exported interface |
//! | --- | --- | --- | --- |
//! | admit or refuse an incoming request | [`Authenticator`] | [`export_authenticator!`] | `hookgate:plugin/authenticate@0.1.0` |
//! | shape the outgoing request of a delivery | [`Transformer`] | [`export_transformer!`] | `hookgate:plugin/transform@0.1.0` |
//! | judge a target's response | [`Condition`] | [`export_condition!`] | `hookgate:plugin/evaluate@0.1.0` |
//!
//! Every component may use what the gateway offers through the `host` interface: [`log()`]
//! (and the [`info!`]-style macros) and [`config()`] (the `config` object of the component's
//! binding in the gateway configuration). The crate also has the helpers most webhook code
//! needs: case-insensitive [headers], [JSON bodies](mod@crate::json) and
//! [HMAC-SHA256 / constant-time comparison](crate::crypto).
//!
//! # A complete transformer
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "add-header"
//! version = "0.1.0"
//! edition = "2021"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! hookgate-sdk = { path = "../hookgate/sdk" }
//! ```
//!
//! `src/lib.rs`:
//!
//! ```
//! use hookgate_sdk::{export_transformer, Message, OutgoingRequest, TransformResult, Transformer};
//!
//! struct AddHeader;
//!
//! impl Transformer for AddHeader {
//!     fn transform(message: Message, mut draft: OutgoingRequest) -> TransformResult {
//!         draft.set_header("x-event-id", message.event_id.as_str());
//!         hookgate_sdk::info!("forwarding message {}", message.message_id);
//!         TransformResult::Send(draft)
//!     }
//! }
//!
//! export_transformer!(AddHeader);
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release`; the component is
//! `target/wasm32-wasip2/release/add_header.wasm`. See the crate's `README.md` for the whole
//! walk-through, up to uploading the component to a gateway.
//!
//! # One world per component
//!
//! A component must export exactly one of the three interfaces. Call exactly one of the
//! `export_*!` macros, exactly once, in a crate: the bindings of all three worlds live in this
//! crate, but only the world whose macro is invoked ends up in the component's type (the
//! world's exports are described by a custom section that only the export macro emits; this
//! crate itself only describes the `host` import, which the component toolchain drops when it
//! is unused). Invoking two different export macros in the same module is refused at compile
//! time:
//!
//! ```compile_fail,E0428
//! use hookgate_sdk::*;
//!
//! struct Both;
//! impl Authenticator for Both {
//!     fn check(_: IncomingRequest) -> AuthDecision { AuthDecision::Allow }
//! }
//! impl Transformer for Both {
//!     fn transform(_: Message, draft: OutgoingRequest) -> TransformResult {
//!         TransformResult::Send(draft)
//!     }
//! }
//!
//! export_authenticator!(Both);
//! export_transformer!(Both); // error: defined multiple times
//! ```
//!
//! # Testing natively
//!
//! On targets other than `wasm32` the host functions are replaced by an in-process stand-in:
//! [`config()`] reads values set with [`testing::set_config`] and [`log()`] records lines that
//! [`testing::take_logs`] returns (and prints them to stderr). So the logic of a component can
//! be unit-tested with a plain `cargo test`, by calling the trait function directly.

#![warn(missing_docs)]

pub mod crypto;
pub mod headers;
mod host;
pub mod json;
pub mod log;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use crypto::{constant_time_eq, hmac_sha256, hmac_sha256_hex, verify_hmac_sha256_hex};
pub use headers::{append_header, header, header_all, remove_header, set_header};
pub use host::{config, config_or, log, Level};
pub use json::{parse_json, to_json_body, JsonError};
pub use serde;
pub use serde_json;
pub use serde_json::{json, Value};

/// The generated bindings. Not part of the API: use the re-exports and the `export_*!` macros.
#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;

    // The types and the `host` import, generated once from the contract and shared by the
    // three worlds below. The world is an SDK-private one that only imports; its custom
    // section (linked into every component) therefore describes imports only.
    wit_bindgen::generate!({
        path: "../wit",
        inline: "
            package hookgate:sdk;
            world base {
                import hookgate:plugin/types@0.1.0;
                import hookgate:plugin/host@0.1.0;
            }
        ",
        world: "hookgate:sdk/base",
        generate_all,
        generate_unused_types: true,
        additional_derives: [PartialEq, Eq],
        additional_derives_ignore: ["level"],
    });

    // One module per world. With `pub_export_macro`, wit-bindgen emits the custom section
    // describing the world's *exports* only inside the generated export macro, i.e. in the
    // guest crate that invokes it; the section emitted here lists the imports alone. So a
    // component built with this crate exports only the world whose macro it invokes.
    macro_rules! world {
        ($module:ident, $world:literal) => {
            #[allow(missing_docs)]
            pub mod $module {
                wit_bindgen::generate!({
                    path: "../wit",
                    world: $world,
                    with: {
                        "hookgate:plugin/types@0.1.0": crate::__private::hookgate::plugin::types,
                        "hookgate:plugin/host@0.1.0": crate::__private::hookgate::plugin::host,
                    },
                    pub_export_macro: true,
                    export_macro_name: "export",
                });
            }
        };
    }
    world!(authenticator, "hookgate:plugin/authenticator");
    world!(transformer, "hookgate:plugin/transformer");
    world!(condition, "hookgate:plugin/condition");
}

use __private::hookgate::plugin::types;

/// HTTP headers in order, as `(name, value)` pairs with names as received.
///
/// Compare names case-insensitively: use [`header`], [`set_header`] and friends (or the
/// methods of the same names on the request and response types).
#[doc(inline)]
pub use types::Headers;

/// The request a caller sent to the gateway's ingest endpoint (input of an [`Authenticator`]).
///
/// Fields: `method`, `path`, `query` (raw, without the leading `?`, empty when there is
/// none), `headers`, `body` (raw bytes). Helper methods: [`header`](IncomingRequest::header),
/// [`json`](IncomingRequest::json), [`text`](IncomingRequest::text).
#[doc(inline)]
pub use types::IncomingRequest;

/// One firing of an event, as the gateway stored it (input of a [`Transformer`]).
///
/// Fields: `event_id`, `message_id`, `received_at` (Unix time in milliseconds), `headers`,
/// `content_type` (`Option<String>`), `body` (raw bytes). Helper methods:
/// [`header`](Message::header), [`json`](Message::json), [`text`](Message::text).
#[doc(inline)]
pub use types::Message;

/// An HTTP request the gateway sends to a target.
///
/// Fields: `method`, `url`, `headers`, `body`. A [`Transformer`] receives the draft built from
/// the target configuration and returns it, changed or not; a [`Condition`] receives the
/// request that was sent. Helper methods: [`header`](OutgoingRequest::header),
/// [`set_header`](OutgoingRequest::set_header), [`json`](OutgoingRequest::json),
/// [`set_json`](OutgoingRequest::set_json), ...
#[doc(inline)]
pub use types::OutgoingRequest;

/// A target's answer to one attempt (input of a [`Condition`]).
///
/// Fields: `status`, `headers`, `body`. Helper methods: [`header`](Response::header),
/// [`json`](Response::json), [`text`](Response::text).
#[doc(inline)]
pub use types::Response;

/// What an [`Authenticator`] decides.
///
/// - `AuthDecision::Allow`: admit the request;
/// - `AuthDecision::Deny(reason)`: refuse it; the reason is returned to the caller with a 401.
///
/// See also [`AuthDecision::deny`].
#[doc(inline)]
pub use types::AuthDecision;

/// What a [`Transformer`] returns.
///
/// - `TransformResult::Send(request)`: send this request;
/// - `TransformResult::Skip(reason)`: drop this delivery on purpose (recorded as skipped);
/// - `TransformResult::Error(reason)`: the message cannot be transformed; the delivery fails.
///
/// See also [`TransformResult::skip`] and [`TransformResult::error`].
#[doc(inline)]
pub use types::TransformResult;

/// What a [`Condition`] concludes about a response.
///
/// - `Verdict::Success`: the delivery succeeded;
/// - `Verdict::Retry(delay_ms)`: try again, after `delay_ms` milliseconds when `Some`, else
///   on the retry schedule;
/// - `Verdict::Fail(reason)`: give up, the delivery fails permanently.
///
/// See also [`Verdict::fail`].
#[doc(inline)]
pub use types::Verdict;

impl AuthDecision {
    /// `AuthDecision::Deny` with a reason built from anything string-like.
    ///
    /// ```
    /// use hookgate_sdk::AuthDecision;
    /// assert_eq!(AuthDecision::deny("bad signature"), AuthDecision::Deny("bad signature".into()));
    /// ```
    pub fn deny(reason: impl Into<String>) -> Self {
        AuthDecision::Deny(reason.into())
    }
}

impl TransformResult {
    /// `TransformResult::Skip` with a reason built from anything string-like.
    ///
    /// ```
    /// use hookgate_sdk::TransformResult;
    /// assert_eq!(TransformResult::skip("test event"), TransformResult::Skip("test event".into()));
    /// ```
    pub fn skip(reason: impl Into<String>) -> Self {
        TransformResult::Skip(reason.into())
    }

    /// `TransformResult::Error` with a reason built from anything string-like.
    ///
    /// ```
    /// use hookgate_sdk::TransformResult;
    /// let err = TransformResult::error(format!("bad field {}", "uid"));
    /// assert_eq!(err, TransformResult::Error("bad field uid".into()));
    /// ```
    pub fn error(reason: impl Into<String>) -> Self {
        TransformResult::Error(reason.into())
    }
}

impl Verdict {
    /// `Verdict::Fail` with a reason built from anything string-like.
    ///
    /// ```
    /// use hookgate_sdk::Verdict;
    /// assert_eq!(Verdict::fail("gone"), Verdict::Fail("gone".into()));
    /// ```
    pub fn fail(reason: impl Into<String>) -> Self {
        Verdict::Fail(reason.into())
    }
}

/// A component that admits or refuses requests arriving at an event's ingest endpoint
/// (world `authenticator`, exports `hookgate:plugin/authenticate@0.1.0`).
///
/// Export the implementing type with [`export_authenticator!`].
///
/// ```
/// use hookgate_sdk::{export_authenticator, AuthDecision, Authenticator, IncomingRequest};
///
/// struct RequireToken;
///
/// impl Authenticator for RequireToken {
///     fn check(request: IncomingRequest) -> AuthDecision {
///         match request.header("x-token") {
///             Some("let-me-in") => AuthDecision::Allow,
///             Some(_) => AuthDecision::deny("wrong token"),
///             None => AuthDecision::deny("missing x-token header"),
///         }
///     }
/// }
///
/// export_authenticator!(RequireToken);
/// ```
pub trait Authenticator {
    /// Decides about one incoming request. `Deny(reason)` answers the caller with a 401 and
    /// the reason.
    fn check(request: IncomingRequest) -> AuthDecision;
}

/// A component that shapes the outgoing request of one delivery (world `transformer`, exports
/// `hookgate:plugin/transform@0.1.0`).
///
/// Export the implementing type with [`export_transformer!`].
///
/// ```
/// use hookgate_sdk::{export_transformer, json, Message, OutgoingRequest, TransformResult, Transformer, Value};
///
/// struct Wrap;
///
/// impl Transformer for Wrap {
///     fn transform(message: Message, mut draft: OutgoingRequest) -> TransformResult {
///         let payload: Value = match message.json() {
///             Ok(v) => v,
///             Err(e) => return TransformResult::error(format!("wrap: body is not JSON: {e}")),
///         };
///         let wrapped = json!({ "id": message.message_id, "payload": payload });
///         match draft.set_json(&wrapped) {
///             Ok(()) => TransformResult::Send(draft),
///             Err(e) => TransformResult::error(e.to_string()),
///         }
///     }
/// }
///
/// export_transformer!(Wrap);
/// ```
pub trait Transformer {
    /// Transforms one message into the request to send. `draft` is the request built from the
    /// target configuration (method, URL, headers, and the message body); return it changed or
    /// not, or skip/fail the delivery.
    fn transform(message: Message, draft: OutgoingRequest) -> TransformResult;
}

/// A component that judges a target's response to one attempt (world `condition`, exports
/// `hookgate:plugin/evaluate@0.1.0`).
///
/// Export the implementing type with [`export_condition!`].
///
/// ```
/// use hookgate_sdk::{export_condition, Condition, OutgoingRequest, Response, Verdict};
///
/// struct RetryOn503;
///
/// impl Condition for RetryOn503 {
///     fn evaluate(_request: OutgoingRequest, response: Response, attempt: u32) -> Verdict {
///         match response.status {
///             200..=299 => Verdict::Success,
///             503 if attempt < 5 => Verdict::Retry(Some(1_000 * u64::from(attempt))),
///             status => Verdict::fail(format!("status {status}")),
///         }
///     }
/// }
///
/// export_condition!(RetryOn503);
/// ```
pub trait Condition {
    /// Judges the response to one attempt; `attempt` counts from 1.
    fn evaluate(request: OutgoingRequest, response: Response, attempt: u32) -> Verdict;
}

impl<T: Authenticator> __private::authenticator::exports::hookgate::plugin::authenticate::Guest
    for T
{
    fn check(request: IncomingRequest) -> AuthDecision {
        host::install_panic_hook();
        T::check(request)
    }
}

impl<T: Transformer> __private::transformer::exports::hookgate::plugin::transform::Guest for T {
    fn transform(message: Message, draft: OutgoingRequest) -> TransformResult {
        host::install_panic_hook();
        T::transform(message, draft)
    }
}

impl<T: Condition> __private::condition::exports::hookgate::plugin::evaluate::Guest for T {
    fn evaluate(request: OutgoingRequest, response: Response, attempt: u32) -> Verdict {
        host::install_panic_hook();
        T::evaluate(request, response, attempt)
    }
}

/// Makes this crate an authenticator component: exports `hookgate:plugin/authenticate@0.1.0`
/// implemented by the given type, which must implement [`Authenticator`].
///
/// Invoke it once, at item level (usually at the end of `src/lib.rs`), and invoke no other
/// `export_*!` macro in the crate. See [`Authenticator`] for an example.
#[macro_export]
macro_rules! export_authenticator {
    ($ty:ty) => {
        /// Only one `hookgate_sdk::export_*!` macro may be invoked per component.
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code)]
        struct __hookgate_sdk_only_one_export_macro_per_component;
        const _: () = {
            type __HookgateAuthenticator = $ty;
            const fn __hookgate_assert<T: $crate::Authenticator>() {}
            __hookgate_assert::<__HookgateAuthenticator>();
            $crate::__private::authenticator::export!(
                __HookgateAuthenticator with_types_in $crate::__private::authenticator
            );
        };
    };
}

/// Makes this crate a transformer component: exports `hookgate:plugin/transform@0.1.0`
/// implemented by the given type, which must implement [`Transformer`].
///
/// Invoke it once, at item level (usually at the end of `src/lib.rs`), and invoke no other
/// `export_*!` macro in the crate. See [`Transformer`] for an example.
#[macro_export]
macro_rules! export_transformer {
    ($ty:ty) => {
        /// Only one `hookgate_sdk::export_*!` macro may be invoked per component.
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code)]
        struct __hookgate_sdk_only_one_export_macro_per_component;
        const _: () = {
            type __HookgateTransformer = $ty;
            const fn __hookgate_assert<T: $crate::Transformer>() {}
            __hookgate_assert::<__HookgateTransformer>();
            $crate::__private::transformer::export!(
                __HookgateTransformer with_types_in $crate::__private::transformer
            );
        };
    };
}

/// Makes this crate a condition component: exports `hookgate:plugin/evaluate@0.1.0`
/// implemented by the given type, which must implement [`Condition`].
///
/// Invoke it once, at item level (usually at the end of `src/lib.rs`), and invoke no other
/// `export_*!` macro in the crate. See [`Condition`] for an example.
#[macro_export]
macro_rules! export_condition {
    ($ty:ty) => {
        /// Only one `hookgate_sdk::export_*!` macro may be invoked per component.
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code)]
        struct __hookgate_sdk_only_one_export_macro_per_component;
        const _: () = {
            type __HookgateCondition = $ty;
            const fn __hookgate_assert<T: $crate::Condition>() {}
            __hookgate_assert::<__HookgateCondition>();
            $crate::__private::condition::export!(
                __HookgateCondition with_types_in $crate::__private::condition
            );
        };
    };
}
