//! Retention: settled messages (every delivery delivered, failed or skipped) older than the
//! retention period are pruned in the background, so the store does not grow without
//! bound. Pending messages are never pruned.

use std::sync::Arc;
use std::time::Duration;

use crate::model::{message_id_floor, now_ms};
use crate::store::StoreError;
use crate::App;

/// Messages deleted per store call, so a large backlog never blocks the store for long.
const BATCH: usize = 1_000;

/// How often to sweep: a tenth of the retention period, between 100 ms and a minute.
fn sweep_interval(retention: Duration) -> Duration {
    (retention / 10).clamp(Duration::from_millis(100), Duration::from_secs(60))
}

/// Runs until the task is aborted.
pub async fn run(app: Arc<App>) {
    let retention = app.settings.retention;
    let mut tick = tokio::time::interval(sweep_interval(retention));
    loop {
        tick.tick().await;
        let cutoff = message_id_floor(now_ms().saturating_sub(retention.as_millis() as u64));
        match sweep(&app, &cutoff).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "retention: pruned settled messages"),
            Err(e) => tracing::error!("retention sweep failed: {e}"),
        }
    }
}

/// Prunes batch after batch until one is not full; returns how many went.
async fn sweep(app: &App, cutoff: &str) -> Result<usize, StoreError> {
    let mut total = 0;
    loop {
        let pruned = app.store.prune_settled_before(cutoff, BATCH).await?;
        total += pruned;
        if pruned < BATCH {
            return Ok(total);
        }
    }
}
