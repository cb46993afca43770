//! Versioned migrations: `migrations/NNNN_*.sql`, applied in order, each once, in one
//! transaction with the version it reaches. A database migrated by a later hookgate is
//! refused rather than misread.

use tokio_postgres::Client;

use crate::store::{Result, StoreError};

/// Every migration, in order; the schema version is how many were applied.
const MIGRATIONS: &[&str] = &[include_str!("migrations/0001_init.sql"), include_str!("migrations/0002_ordering.sql")];

/// Taken while migrating, so that nodes starting together migrate one after the other.
const MIGRATION_LOCK: i64 = 0x686f_6f6b_6761_7465; // "hookgate"

/// The schema version this hookgate writes.
pub(super) fn known_version() -> i32 {
    MIGRATIONS.len() as i32
}

/// Applies the migrations the database lacks; returns the versions before and after.
pub(super) async fn migrate(client: &mut Client) -> Result<(i32, i32)> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await?;
    let migrated = apply(client).await;
    // Closing the connection would release it too; an error here changes nothing.
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await;
    migrated
}

async fn apply(client: &mut Client) -> Result<(i32, i32)> {
    client.batch_execute("CREATE TABLE IF NOT EXISTS hookgate_schema (version integer NOT NULL)").await?;
    let transaction = client.transaction().await?;
    let found: Option<i32> = transaction.query_opt("SELECT version FROM hookgate_schema", &[]).await?.map(|row| row.get(0));
    let (from, known) = (found.unwrap_or(0), known_version());
    if from > known {
        return Err(StoreError::SchemaTooNew { found: from, known });
    }
    for migration in &MIGRATIONS[from as usize..] {
        transaction.batch_execute(migration).await?;
    }
    match found {
        Some(_) => transaction.execute("UPDATE hookgate_schema SET version = $1", &[&known]).await?,
        None => transaction.execute("INSERT INTO hookgate_schema (version) VALUES ($1)", &[&known]).await?,
    };
    transaction.commit().await?;
    Ok((from, known))
}
