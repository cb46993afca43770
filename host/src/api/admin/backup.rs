//! `POST /v1/admin/backup`: a backup of the embedded store, taken while the gateway runs.

use std::io::Seek;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncReadExt;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::error::ErrorBody;
use crate::api::openapi::{Binary, Forbidden, StorageError, Unauthorized};
use crate::api::ApiError;
use crate::store::StoreError;
use crate::App;

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(backup))
}

/// Back up the store
///
/// The embedded store as it is at one moment: its writes wait while the backup is written
/// to a file beside the store, which is then sent (a slow download never holds them up).
/// Every tree but the compiled components, which a node rebuilds. `hookgate store backup`
/// calls this for a running gateway; `hookgate serve --restore FILE` starts from the file.
/// The backup holds the configuration's secrets: an admin token is needed.
#[utoipa::path(
    post,
    path = "/backup",
    tag = "operations",
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The backup file.", content((Binary = "application/octet-stream"))),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, description = "`unsupported_by_store`: a PostgreSQL store is backed up with its own tools.", body = ErrorBody),
        (status = 500, response = StorageError),
    ),
)]
async fn backup(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let (store, dir) = (app.store.clone(), app.settings.store.local_dir().to_path_buf());
    let written = tokio::task::spawn_blocking(move || {
        let file_error = |source| StoreError::File { path: dir.display().to_string(), source };
        let mut file = tempfile::tempfile_in(&dir).map_err(file_error)?;
        let entries = store.backup(&mut file)?;
        file.rewind().map_err(file_error)?;
        Ok::<_, StoreError>((file, entries))
    })
    .await
    .map_err(|e| StoreError::Backend(format!("the backup did not run: {e}")))??;
    let (file, entries) = written;
    tracing::info!(entries, "backup taken");
    let file = tokio::fs::File::from_std(file);
    // Read in chunks until the end, or the first error (which cuts the download short:
    // the file's checksum then tells the client).
    let chunks = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut chunk = vec![0u8; 64 << 10];
        match file.read(&mut chunk).await {
            Ok(0) => None,
            Ok(n) => {
                chunk.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(chunk)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    let name = format!("attachment; filename=\"hookgate-{}.backup\"", crate::model::now_ms());
    Ok(([(CONTENT_TYPE, "application/octet-stream".to_string()), (CONTENT_DISPOSITION, name)], Body::from_stream(chunks)).into_response())
}
