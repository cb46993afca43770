//! Section 9, the soak: the memory of a gateway with default flags through a long run at a
//! steady rate, read after each sixth of it and set beside the README's memory model, so that
//! growth with the messages stored shows apart from the peak of a burst (section 6 fires as
//! fast as the gateway takes them, and its backlog is most of its peak).

use anyhow::Result;

use crate::gateway::Mem;
use crate::net::{open_loop, wait_receipts, BODY_BYTES, EVENT_NAME};
use crate::stats::{factor, int, mib, Row, Table};
use crate::{delivery_gateway, seq_fire, Ctx, SETTLE};

/// The README's memory model (its section "Memory and disk"): RSS = the idle process + what a
/// gateway keeps once it has served traffic (the allocator's per-thread caches, connection
/// buffers) + the page cache (each MiB of it costs up to 1.5 MiB, as sled counts a page
/// serialized) + sled's per-page records for every stored message + the queue index for every
/// delivery still waiting.
pub struct Model {
    idle_kb: u64,
    cache_kb: u64,
}

impl Model {
    pub const SERVING_MB: u64 = 20;
    pub const CACHE_FACTOR: f64 = 1.5;
    pub const BYTES_PER_STORED: u64 = 35;
    pub const BYTES_PER_PENDING: u64 = 150;

    pub fn kb(&self, stored: u64, pending: u64) -> u64 {
        let cache = (self.cache_kb as f64 * Self::CACHE_FACTOR) as u64;
        self.idle_kb + (Self::SERVING_MB << 10) + cache + (stored * Self::BYTES_PER_STORED + pending * Self::BYTES_PER_PENDING) / 1024
    }
}

/// RSS after `fired` messages were fired, with how many of them had been delivered.
struct Sample {
    fired: u64,
    delivered: u64,
    rss_kb: u64,
}

/// What the Targets table reads of the soak.
pub struct Soak {
    pub table: Table,
    /// RSS at the last reading and 10 s after the run.
    pub last_kb: u64,
    pub after: Mem,
    /// The least-squares growth of RSS, KiB per 100,000 messages fired, and over the whole
    /// span of the readings.
    pub growth_per_100k_kb: f64,
    pub growth_kb: f64,
    /// What the model predicts once the run is over (everything delivered), KiB.
    pub model_after_kb: u64,
}

/// The growth of RSS fitted over the readings: KiB per 100,000 messages fired, and over the
/// whole span of the readings.
fn fitted_growth_kb(samples: &[Sample]) -> (f64, f64) {
    let per_100k = growth_per_100k_kb(samples);
    let span = samples.last().map_or(0, |s| s.fired) - samples.first().map_or(0, |s| s.fired);
    (per_100k, per_100k * span as f64 / 100_000.0)
}

/// Least-squares slope of RSS against messages fired, KiB per 100,000: one reading is off
/// by up to the memory the allocator has not handed back yet, so no two alone.
fn growth_per_100k_kb(samples: &[Sample]) -> f64 {
    let n = samples.len() as f64;
    if samples.len() < 2 {
        return 0.0;
    }
    let mean_x = samples.iter().map(|s| s.fired as f64).sum::<f64>() / n;
    let mean_y = samples.iter().map(|s| s.rss_kb as f64).sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for s in samples {
        let dx = s.fired as f64 - mean_x;
        sxy += dx * (s.rss_kb as f64 - mean_y);
        sxx += dx * dx;
    }
    if sxx == 0.0 {
        0.0
    } else {
        sxy / sxx * 100_000.0
    }
}

const SAMPLES: u64 = 6;

pub async fn run(ctx: &Ctx) -> Result<Soak> {
    let (n, rate) = (ctx.opts.soak_messages, ctx.opts.soak_rate);
    eprintln!("[bench] 9. soak: {n} messages at {rate}/s through a gateway with default flags");
    let gw = delivery_gateway(ctx, false).await?;
    let (idle, written0) = (gw.mem(), gw.disk_written());
    let model = Model { idle_kb: idle.rss_kb, cache_kb: hookgate::settings::DEFAULT_CACHE_MB << 10 };
    let url = gw.url(&format!("/v1/events/{EVENT_NAME}"));
    let base = ctx.seqs(n);
    let chunk = (n / SAMPLES).max(1);
    let (mut fired_so_far, mut delivered, mut rejected) = (0u64, 0u64, 0u64);
    let mut first_error = None;
    let mut samples = Vec::new();
    ctx.rx.take();
    while fired_so_far < n {
        let count = chunk.min(n - fired_so_far);
        let first = base + fired_so_far;
        let (fired, error) = open_loop(rate, count, first, 202, seq_fire(&ctx.client, url.clone(), first, false)).await;
        rejected += fired.iter().filter(|f| !f.ok).count() as u64 + (count - fired.len() as u64);
        first_error = first_error.or(error);
        fired_so_far += count;
        delivered += ctx.rx.take().len() as u64;
        let rss_kb = gw.mem().rss_kb;
        eprintln!("[bench]   {} fired, {} delivered, RSS {}", int(fired_so_far as f64), int(delivered as f64), mib(rss_kb));
        samples.push(Sample { fired: fired_so_far, delivered, rss_kb });
    }
    let accepted = n - rejected;
    if delivered < accepted {
        wait_receipts(&ctx.rx, (accepted - delivered) as usize, std::time::Duration::from_secs(120)).await;
        delivered += ctx.rx.take().len() as u64;
    }
    let peak_kb = gw.mem().hwm_kb;
    let written = gw.disk_written().saturating_sub(written0);
    tokio::time::sleep(SETTLE).await;
    let after = gw.mem();
    ctx.stop(gw)?;

    let model_basis = "the README's memory model (below)";
    let mut t = Table::new(format!(
        "9. Soak: {} messages at {rate}/s, default flags ({} MiB page cache)",
        int(n as f64),
        hookgate::settings::DEFAULT_CACHE_MB
    ));
    for s in &samples {
        let predicted = model.kb(s.fired, s.fired.saturating_sub(s.delivered));
        t.row(Row::new(
            format!("gateway RSS after {} fired ({} delivered)", int(s.fired as f64), int(s.delivered as f64)),
            mib(s.rss_kb),
            mib(predicted),
            factor(s.rss_kb as f64, predicted as f64),
            model_basis,
        ));
    }
    let model_after_kb = model.kb(n, accepted.saturating_sub(delivered));
    t.row(Row::new(
        format!("gateway RSS {} s after the run", SETTLE.as_secs()),
        mib(after.rss_kb),
        mib(model_after_kb),
        factor(after.rss_kb as f64, model_after_kb as f64),
        model_basis,
    ));
    t.row(Row::new("gateway peak RSS (VmHWM)", mib(peak_kb), mib(idle.rss_kb), factor(peak_kb as f64, idle.rss_kb as f64), "idle after start"));
    let kib = |bytes: f64| format!("{:.1} KiB", bytes / 1024.0);
    let body = BODY_BYTES as f64;
    t.row(Row::new(
        "written to disk per message accepted",
        kib(written as f64 / accepted.max(1) as f64),
        kib(body),
        factor(written as f64, accepted as f64 * body),
        "the body fired (write_bytes of /proc/<pid>/io over the run)",
    ));
    let (growth_per_100k_kb, growth_kb) = fitted_growth_kb(&samples);
    t.note(format!(
        "{} fired at {rate}/s (open loop), {} not accepted, {} delivered; first ingest error: {}",
        int(n as f64),
        int(rejected as f64),
        int(delivered as f64),
        first_error.as_deref().unwrap_or("none")
    ));
    t.note(format!(
        "the README's memory model: the idle process ({}) + {} MiB once serving + {}x the page cache + {} B per stored message + {} B per delivery waiting",
        mib(idle.rss_kb),
        Model::SERVING_MB,
        Model::CACHE_FACTOR,
        Model::BYTES_PER_STORED,
        Model::BYTES_PER_PENDING
    ));
    t.note(format!("growth fitted over the readings (least squares): {} per 100,000 messages fired", mib(growth_per_100k_kb.max(0.0) as u64)));
    Ok(Soak { table: t, last_kb: samples.last().map_or(0, |s| s.rss_kb), after, growth_per_100k_kb, growth_kb, model_after_kb })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(fired: u64, rss_kb: u64) -> Sample {
        Sample { fired, delivered: fired, rss_kb }
    }

    #[test]
    fn growth_is_the_fitted_slope() {
        // 10 MiB per 100,000, with one reading high by memory not yet handed back.
        let samples = [at(100_000, 50_000), at(200_000, 60_240 + 8_000), at(300_000, 70_480), at(400_000, 80_720)];
        let g = growth_per_100k_kb(&samples);
        assert!((g - 10_240.0).abs() < 2_500.0, "{g}");
        let flat = [at(100_000, 50_000), at(200_000, 50_000), at(300_000, 50_000)];
        assert_eq!(growth_per_100k_kb(&flat), 0.0);
        assert_eq!(growth_per_100k_kb(&samples[..1]), 0.0);
        let steady = [at(100_000, 50_000), at(200_000, 51_024), at(300_000, 52_048)];
        assert_eq!(fitted_growth_kb(&steady), (1024.0, 2048.0));
    }

    #[test]
    fn the_model_adds_its_parts() {
        let m = Model { idle_kb: 20 << 10, cache_kb: 16 << 10 };
        assert_eq!(m.kb(0, 0), (20 << 10) + (20 << 10) + (24 << 10));
        assert_eq!(m.kb(1024, 1024), (64 << 10) + 35 + 150);
    }
}
