//! The OpenAPI 3.1 description at `GET /v1/openapi.json`. Each route is registered together
//! with its `#[utoipa::path]` description (utoipa-axum), and bodies are described by the
//! types the handlers use, so the document cannot drift from the code. This module adds what
//! belongs to the whole document: its info, security schemes, shared error responses, and
//! the routes that are not part of one module.

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{ContentBuilder, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi, PartialSchema, ToResponse, ToSchema};

use super::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hookgate",
        description = "A webhook gateway extensible with WebAssembly components. Every error is \
                       `{\"error\": {\"code\": \"snake_case_code\", \"message\": \"human text\"}}`; \
                       the code is stable, the message is for people.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&SecuritySchemes),
    components(responses(Unauthorized, Forbidden, StorageError)),
    tags(
        (name = "ingest", description = "What shops and back-office systems call to fire events."),
        (name = "events", description = "Event configuration: targets, authentication, schemas."),
        (name = "components", description = "WebAssembly components and their versions."),
        (name = "messages", description = "The delivery log."),
        (name = "operations", description = "Health, metrics, figures, this description, the console."),
    ),
)]
pub struct Document;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            let mut http = Http::new(HttpAuthScheme::Bearer);
            http.description = Some(description.to_string());
            SecurityScheme::Http(http)
        };
        components.add_security_scheme(
            "adminToken",
            bearer("An admin token: `HOOKGATE_ADMIN_TOKEN`, the one in the data directory, or one of `--admin-tokens-file`. A `read` token may only GET (else 403 `forbidden`)."),
        );
        components.add_security_scheme(
            "ingestBearer",
            bearer("An event's `ingest_auth` of type `bearer`: its shared token. Only for events configured with it."),
        );
        components.add_security_scheme(
            "standardWebhooks",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "webhook-signature",
                "An event's `ingest_auth` of type `standard_webhooks`: the source signs as a Standard Webhooks sender \
                 (`webhook-id`, `webhook-timestamp` and `webhook-signature` headers). Only for events configured with it.",
            ))),
        );
    }
}

/// A body of raw bytes: `{"type": "string", "format": "binary"}`.
pub struct Binary;

impl PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary))).into()
    }
}

impl ToSchema for Binary {}

fn error_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(ErrorBody::schema())).build())
        .build()
        .into()
}

/// 401 on the admin API.
pub struct Unauthorized;

impl<'s> ToResponse<'s> for Unauthorized {
    fn response() -> (&'s str, RefOr<Response>) {
        ("Unauthorized", error_response("`unauthorized`: no `Authorization: Bearer <admin token>`, or not a known token."))
    }
}

/// 403 for a read-only token that tries to change something.
pub struct Forbidden;

impl<'s> ToResponse<'s> for Forbidden {
    fn response() -> (&'s str, RefOr<Response>) {
        ("Forbidden", error_response("`forbidden`: the token is read-only."))
    }
}

/// 500 when the store fails.
pub struct StorageError;

impl<'s> ToResponse<'s> for StorageError {
    fn response() -> (&'s str, RefOr<Response>) {
        ("StorageError", error_response("`storage_error`: the store failed (disk full, I/O error); the gateway logs it."))
    }
}

/// Marks the request body of `POST path` optional: utoipa makes a body optional only by
/// making its schemas nullable, which a raw body is not.
pub(super) fn body_optional(document: &mut utoipa::openapi::OpenApi, path: &str) {
    let operation = document.paths.paths.get_mut(path).and_then(|item| item.post.as_mut());
    if let Some(RefOr::T(body)) = operation.and_then(|operation| operation.request_body.as_mut()) {
        body.required = Some(utoipa::openapi::Required::False);
    }
}

/// The document, rendered once: the same for every router this process builds.
static RENDERED: OnceLock<Bytes> = OnceLock::new();

pub(super) fn publish(document: &utoipa::openapi::OpenApi) {
    RENDERED.get_or_init(|| match serde_json::to_vec(document) {
        Ok(json) => json.into(),
        Err(e) => {
            tracing::error!("cannot render the OpenAPI description: {e}");
            Bytes::from_static(b"{}")
        }
    });
}

/// This description
///
/// The OpenAPI 3.1 description of the gateway's HTTP API. No token needed.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The document.", content_type = "application/json", body = Object)),
)]
pub(super) async fn openapi_json() -> impl IntoResponse {
    let body = RENDERED.get().cloned().unwrap_or_else(|| Bytes::from_static(b"{}"));
    ([(CONTENT_TYPE, "application/json")], body)
}
