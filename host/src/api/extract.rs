//! Extractors whose rejection is the API's JSON error: `Api(Path(id)): Api<Path<String>>`
//! answers a path that does not decode, a query that does not parse or a body that does not
//! fit with `{"error": {...}}`, never with the framework's plain text.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;

use super::ApiError;

pub struct Api<E>(pub E);

impl<S, E> FromRequestParts<S> for Api<E>
where
    S: Send + Sync,
    E: FromRequestParts<S>,
    ApiError: From<E::Rejection>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Ok(Api(E::from_request_parts(parts, state).await?))
    }
}

impl<S, E> FromRequest<S> for Api<E>
where
    S: Send + Sync,
    E: FromRequest<S>,
    ApiError: From<E::Rejection>,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Ok(Api(E::from_request(request, state).await?))
    }
}
