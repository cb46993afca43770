//! `hookgate-bench`: the benchmark of issue 6.
//!
//! Starts the real gateway binary (`target/release/hookgate`) on 127.0.0.1 and a real
//! receiver in this process, drives load from its own client, and prints one table per
//! section in which every figure stands beside a baseline measured in the same run.
//!
//! ```sh
//! bash guest-examples/build.sh                # the components (once)
//! cargo run --release -p hookgate-bench -- all
//! ```
//!
//! The bench runs `cargo build --release -p hookgate` itself first (a no-op when the binary
//! is up to date); `--no-build` skips that, `--gateway-bin` points at another binary.

mod cluster;
mod fill;
mod gateway;
mod net;
mod soak;
mod stats;
mod wasm;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use hookgate::model::DEFAULT_MAX_IN_FLIGHT;
use hookgate_tests::hmac_sha256_hex;
use serde_json::{json, Value};

use gateway::{cpu_of, dir_size, Gateway, Launcher, Mem};
use net::{adobe_body, closed_loop_limited, open_loop, wait_quiet, wait_receipts, warm_then_measure, Closed, MakeRequest, Receiver, BODY_BYTES, EVENT_NAME};
use stats::{factor, int, mib, ms, ratio, Lat, Row, Table};

#[derive(Parser)]
#[command(name = "hookgate-bench", about = "The hookgate benchmark (issue 6): real gateway, real receiver, baselines in the same run")]
struct Cli {
    #[command(subcommand)]
    section: Section,
    #[command(flatten)]
    opts: Opts,
}

#[derive(Subcommand, Clone, Copy, PartialEq, Eq)]
enum Section {
    /// Every section, then the targets (issue 17, and those of issue 6 still standing) beside their figures.
    All,
    /// 1. Ingest: accepts/s and p50/p99 at concurrency 1, 16, 64, no components.
    Ingest,
    /// 2. Ingest with the hmac-auth authenticator component.
    Auth,
    /// 3. WASM cost per call (in process) beside a native Rust function.
    Wasm,
    /// 4. End to end: deliveries/s and fire-to-receipt latency, with and without a transformer.
    E2e,
    /// 5. Growth: ingest and RSS with an empty and a filled store; restart with 20 components.
    Growth,
    /// 6. Resources: CPU seconds and peak RSS per 10,000 delivered messages.
    Resources,
    /// 7. Cluster: one node against two on one PostgreSQL database (needs --store; not in `all`).
    Cluster,
    /// 8. Ordering keys: an ordered target beside an unordered one (not in `all`).
    Ordering,
    /// 9. Soak: RSS through --soak-messages fired at --soak-rate, read after each sixth.
    Soak,
}

#[derive(Args, Clone)]
struct Opts {
    /// Measured seconds per closed-loop point (after the warm-up).
    #[arg(long, global = true, default_value_t = 3.0)]
    secs: f64,
    /// Unmeasured warm-up seconds before each closed-loop point.
    #[arg(long, global = true, default_value_t = 0.5)]
    warmup: f64,
    /// Offered rate of the end-to-end latency runs, events per second.
    #[arg(long, global = true, default_value_t = 1000)]
    rate: u32,
    /// Seconds the end-to-end latency runs fire at --rate.
    #[arg(long, global = true, default_value_t = 5.0)]
    latency_secs: f64,
    /// A second, lower offered rate for the latency runs (latency without a backlog).
    #[arg(long, global = true, default_value_t = 100)]
    low_rate: u32,
    /// Seconds the latency runs fire at --low-rate.
    #[arg(long, global = true, default_value_t = 3.0)]
    low_rate_secs: f64,
    /// Messages fired and delivered by the end-to-end throughput runs (sections 4 and 6).
    #[arg(long, global = true, default_value_t = 10_000)]
    messages: u64,
    /// Messages stored before the filled-store measurement of section 5 (the issue's figure
    /// is 1,000,000; the default fills in about a minute here).
    #[arg(long, global = true, default_value_t = 300_000)]
    stored: u64,
    /// Messages of the memory run of section 6 (fired and delivered, RSS read during and after).
    #[arg(long, global = true, default_value_t = 100_000)]
    memory_messages: u64,
    /// Messages of the soak (section 9; 0 leaves it out of `all`).
    #[arg(long, global = true, default_value_t = 600_000)]
    soak_messages: u64,
    /// Offered rate of the soak, events per second.
    #[arg(long, global = true, default_value_t = 2600)]
    soak_rate: u32,
    /// Guest calls measured per component in section 3.
    #[arg(long, global = true, default_value_t = 3000)]
    iterations: usize,
    /// Section 3 also measures each component against the file of the same name in this
    /// directory (another build of it), in alternating blocks of calls in one process: how
    /// to compare two builds of a guest on a machine whose speed drifts.
    #[arg(long, global = true, value_name = "DIR")]
    against: Option<PathBuf>,
    /// Do not run `cargo build --release -p hookgate` before starting.
    #[arg(long, global = true)]
    no_build: bool,
    /// The gateway binary to run (default: target/release/hookgate).
    #[arg(long, global = true)]
    gateway_bin: Option<PathBuf>,
    /// Also write the tables (markdown) to this file.
    #[arg(long, global = true)]
    markdown: Option<PathBuf>,
    /// Run every gateway on PostgreSQL: a server where the bench may create databases,
    /// postgres://USER:PASS@HOST:PORT/DB (each gateway gets a new database beside DB).
    #[arg(long, global = true, value_name = "URL")]
    store: Option<String>,
}

const SECRET: &str = "bench-secret";
const CONCURRENCY: [usize; 3] = [1, 16, 64];

struct Ctx {
    opts: Opts,
    dist: PathBuf,
    compile_cache: PathBuf,
    launcher: Launcher,
    client: reqwest::Client,
    rx: Receiver,
    null_addr: SocketAddr,
    tmp: tempfile::TempDir,
    dirs: AtomicU64,
    seq: AtomicU64,
}

impl Ctx {
    fn fresh_dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.tmp.path().join(format!("{name}-{}", self.dirs.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    fn seqs(&self, n: u64) -> u64 {
        self.seq.fetch_add(n, Ordering::Relaxed)
    }

    fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.opts.warmup)
    }

    fn secs(&self) -> Duration {
        Duration::from_secs_f64(self.opts.secs)
    }

    fn component(&self, name: &str) -> Result<Vec<u8>> {
        let path = self.dist.join(format!("{name}.wasm"));
        std::fs::read(&path).with_context(|| format!("{} is missing: run `bash guest-examples/build.sh` first", path.display()))
    }

    /// A gateway on `dir`, and on a new database when the run is on PostgreSQL.
    fn spawn(&self, dir: &Path) -> Result<Gateway> {
        let store = match &self.opts.store {
            Some(server) => Some(tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(cluster::new_database(server, &format!("{}", self.dirs.fetch_add(1, Ordering::Relaxed))))
            })?),
            None => None,
        };
        self.spawn_node(dir, store.as_deref(), &[])
    }

    fn spawn_node(&self, dir: &Path, store: Option<&str>, args: &[&str]) -> Result<Gateway> {
        let gw = tokio::task::block_in_place(|| self.launcher.spawn(dir, store, args, &self.client))?;
        eprintln!("[bench]   gateway pid {} on {}", gw.pid, gw.addr);
        Ok(gw)
    }

    fn stop(&self, gw: Gateway) -> Result<Duration> {
        tokio::task::block_in_place(|| gw.stop())
    }

    fn event_config(&self, authenticator: Option<&str>, transformer: Option<&str>) -> Value {
        let mut target = json!({"id": "t1", "method": "POST", "url": self.rx.url()});
        if let Some(t) = transformer {
            target["transformer"] = json!({"component": t});
        }
        let mut event = json!({"targets": [target]});
        if let Some(a) = authenticator {
            event["authenticator"] = json!({"component": a, "config": {"secret": SECRET}});
        }
        event
    }
}

/// Fires from a pool of 256 prepared 1 KiB bodies, each with its HMAC signature.
fn pooled_fire(client: &reqwest::Client, url: String) -> MakeRequest {
    let pool: Arc<Vec<(Bytes, String)>> = Arc::new(
        (0..256)
            .map(|i| {
                let body = adobe_body(i, BODY_BYTES);
                let sig = hmac_sha256_hex(SECRET.as_bytes(), &body);
                (body, sig)
            })
            .collect(),
    );
    let client = client.clone();
    Arc::new(move |i| {
        let (body, sig) = &pool[(i % 256) as usize];
        client
            .post(url.as_str())
            .header("content-type", "application/json")
            .header("x-signature", sig.as_str())
            .body(body.clone())
    })
}

/// Fires a fresh body carrying `seq_base + i`.
fn seq_fire(client: &reqwest::Client, url: String, seq_base: u64, sign: bool) -> MakeRequest {
    let client = client.clone();
    Arc::new(move |i| {
        let body = adobe_body(seq_base + i, BODY_BYTES);
        let mut req = client.post(url.as_str()).header("content-type", "application/json");
        if sign {
            req = req.header("x-signature", hmac_sha256_hex(SECRET.as_bytes(), &body));
        }
        req.body(body)
    })
}

// ------------------------------------------------------------------------------------------------
// 1 and 2: ingest
// ------------------------------------------------------------------------------------------------

struct IngestPoint {
    concurrency: usize,
    gateway: Closed,
    baseline: Closed,
}

async fn ingest(ctx: &Ctx, auth: bool) -> Result<Vec<IngestPoint>> {
    let mut points = Vec::new();
    for c in CONCURRENCY {
        eprintln!("[bench] {} c={c}", if auth { "2. ingest + hmac-auth" } else { "1. ingest" });
        let baseline_url = format!("http://{}/v1/events/{EVENT_NAME}", ctx.null_addr);
        let baseline = warm_then_measure(c, ctx.warmup(), ctx.secs(), 202, pooled_fire(&ctx.client, baseline_url)).await;
        let dir = ctx.fresh_dir(if auth { "auth" } else { "ingest" })?;
        let gw = ctx.spawn(&dir)?;
        if auth {
            gw.put_component("hmac-auth", ctx.component("hmac-auth")?).await?;
        }
        gw.put_event(EVENT_NAME, &ctx.event_config(auth.then_some("hmac-auth"), None)).await?;
        let url = gw.url(&format!("/v1/events/{EVENT_NAME}"));
        let measured = warm_then_measure(c, ctx.warmup(), ctx.secs(), 202, pooled_fire(&ctx.client, url)).await;
        if measured.ok == 0 {
            bail!("no 202 from the gateway: {:?}\n{}", measured.first_error, gw.log_tail(20));
        }
        ctx.stop(gw)?;
        let _ = std::fs::remove_dir_all(&dir);
        ctx.rx.take();
        points.push(IngestPoint { concurrency: c, gateway: measured, baseline });
    }
    Ok(points)
}

fn ingest_table(title: &str, points: &[IngestPoint], without_auth: Option<&[IngestPoint]>) -> Table {
    let mut t = Table::new(title);
    let base = "null axum 202 handler in the bench process, same client";
    for p in points {
        let c = p.concurrency;
        t.row(Row::new(format!("c={c} accepts/s"), int(p.gateway.per_s()), int(p.baseline.per_s()), ratio(p.gateway.per_s(), p.baseline.per_s()), base));
        t.row(Row::new(
            format!("c={c} p50"),
            ms(p.gateway.lat.p50_ms()),
            ms(p.baseline.lat.p50_ms()),
            factor(p.gateway.lat.p50_ms(), p.baseline.lat.p50_ms()),
            base,
        ));
        t.row(Row::new(
            format!("c={c} p99"),
            ms(p.gateway.lat.p99_ms()),
            ms(p.baseline.lat.p99_ms()),
            factor(p.gateway.lat.p99_ms(), p.baseline.lat.p99_ms()),
            base,
        ));
        for (who, r) in [("gateway", &p.gateway), ("baseline", &p.baseline)] {
            if r.errors > 0 {
                t.note(format!("c={c} {who}: {} errors, first: {}", r.errors, r.first_error.as_deref().unwrap_or("?")));
            }
        }
    }
    if let Some(plain) = without_auth {
        let cmp: Vec<String> = points
            .iter()
            .zip(plain)
            .map(|(a, p)| format!("c={} {}", a.concurrency, ratio(a.gateway.per_s(), p.gateway.per_s())))
            .collect();
        t.note(format!("accepts/s with hmac-auth vs without (section 1, same run): {}", cmp.join(", ")));
    }
    t.note(
        "POST /v1/events/{id}, 1 KiB JSON, HTTP/1.1 keep-alive, one connection per task; a fresh gateway per point; \
         the event has one target (the bench's receiver), so each 202 covers the message, its body and a pending \
         delivery flushed to disk, and the delivery workers run meanwhile as in production",
    );
    t
}

// ------------------------------------------------------------------------------------------------
// 4 and 6: end to end
// ------------------------------------------------------------------------------------------------

struct LatencyRun {
    fired_ok: usize,
    fired: usize,
    received: usize,
    lat: Lat,
    offered_per_s: f64,
    first_error: Option<String>,
}

/// Fires at `rate` for `secs` and measures fire-to-receipt for each message.
async fn latency_run(ctx: &Ctx, url: String, rate: u32, secs: f64) -> Result<LatencyRun> {
    let n = (rate as f64 * secs).round().max(1.0) as u64;
    let base = ctx.seqs(n);
    ctx.rx.take();
    let (fired, first_error) = open_loop(rate, n, base, 202, seq_fire(&ctx.client, url, base, false)).await;
    let ok: Vec<_> = fired.iter().filter(|f| f.ok).collect();
    let first = fired.iter().map(|f| f.at).min();
    let last = fired.iter().map(|f| f.at).max();
    wait_receipts(&ctx.rx, ok.len(), Duration::from_secs(30)).await;
    let mut receipts: HashMap<u64, Instant> = HashMap::new();
    for (seq, at) in ctx.rx.take() {
        receipts.entry(seq).or_insert(at);
    }
    let lat: Vec<u32> = ok
        .iter()
        .filter_map(|f| receipts.get(&f.seq).map(|r| r.saturating_duration_since(f.at).as_micros() as u32))
        .collect();
    let offered = match (first, last) {
        (Some(a), Some(b)) if b > a => (fired.len() - 1) as f64 / (b - a).as_secs_f64(),
        _ => 0.0,
    };
    Ok(LatencyRun { fired_ok: ok.len(), fired: fired.len(), received: lat.len(), lat: Lat::new(lat), offered_per_s: offered, first_error })
}

/// A direct exchange bench -> receiver at the same rate: one loopback hop, the floor of
/// fire-to-receipt.
async fn latency_baseline(ctx: &Ctx, rate: u32, secs: f64) -> Result<Lat> {
    let n = (rate as f64 * secs).round().max(1.0) as u64;
    let base = ctx.seqs(n);
    let (fired, _) = open_loop(rate, n, base, 200, seq_fire(&ctx.client, ctx.rx.url(), base, false)).await;
    ctx.rx.take();
    Ok(Lat::new(fired.iter().filter(|f| f.ok).map(|f| f.ack_us).collect()))
}

#[derive(Default)]
struct CapacityRun {
    delivered: u64,
    secs: f64,
    gateway_cpu_s: f64,
    bench_cpu_s: f64,
    idle: Mem,
    peak: Mem,
    ingest_ok: u64,
    ingest_errors: u64,
    ingest_secs: f64,
}

impl CapacityRun {
    fn per_s(&self) -> f64 {
        if self.secs > 0.0 {
            self.delivered as f64 / self.secs
        } else {
            0.0
        }
    }
}

/// A gateway with the bench event, with or without the transformer, one message through.
async fn delivery_gateway(ctx: &Ctx, transformer: bool) -> Result<Gateway> {
    let transformer = transformer.then_some("adobe-to-json");
    gateway_with_event(ctx, ctx.event_config(None, transformer), transformer).await
}

/// A gateway with `event` as the bench event and `component` uploaded, one message through.
async fn gateway_with_event(ctx: &Ctx, event: Value, component: Option<&str>) -> Result<Gateway> {
    let dir = ctx.fresh_dir("e2e")?;
    let gw = ctx.spawn(&dir)?;
    if let Some(name) = component {
        gw.put_component(name, ctx.component(name)?).await?;
    }
    gw.put_event(EVENT_NAME, &event).await?;
    // One message through first, so that lazy set-up (component load, connections) is not
    // in any window.
    let warm = ctx.seqs(1);
    ctx.rx.take();
    let _ = closed_loop_limited(1, Duration::from_secs(10), 1, 202, seq_fire(&ctx.client, gw.url(&format!("/v1/events/{EVENT_NAME}")), warm, false)).await;
    if !wait_receipts(&ctx.rx, 1, Duration::from_secs(10)).await {
        bail!("the first message was not delivered within 10 s:\n{}", gw.log_tail(20));
    }
    ctx.rx.take();
    Ok(gw)
}

/// Fires `n` messages as fast as 64 connections go and measures from the first firing to
/// the last receipt, with the gateway's CPU over the same window; adds it to `into`.
async fn capacity_window(ctx: &Ctx, gw: &Gateway, n: u64, into: &mut CapacityRun) {
    let base = ctx.seqs(n);
    ctx.rx.take();
    let (cpu0, self0) = (gw.cpu_s(), cpu_of("/proc/self/stat"));
    let started = Instant::now();
    let url = gw.url(&format!("/v1/events/{EVENT_NAME}"));
    let ingest = closed_loop_limited(64, Duration::from_secs(120), n, 202, seq_fire(&ctx.client, url, base, false)).await;
    let all_in = wait_receipts(&ctx.rx, ingest.ok as usize, Duration::from_secs(120)).await;
    let receipts = ctx.rx.take();
    let (cpu1, self1) = (gw.cpu_s(), cpu_of("/proc/self/stat"));
    let mut seen = std::collections::HashSet::new();
    let mut last = started;
    for (seq, at) in receipts {
        if seq >= base && seq < base + n && seen.insert(seq) {
            last = last.max(at);
        }
    }
    if !all_in {
        eprintln!("[bench]   only {} of {} delivered within 120 s", seen.len(), ingest.ok);
    }
    into.delivered += seen.len() as u64;
    into.secs += (last - started).as_secs_f64();
    into.gateway_cpu_s += cpu1 - cpu0;
    into.bench_cpu_s += self1 - self0;
    into.ingest_ok += ingest.ok;
    into.ingest_errors += ingest.errors;
    into.ingest_secs += ingest.secs;
}

/// Attempts in flight to the one target of the `wide` throughput run: enough that the
/// default (`DEFAULT_MAX_IN_FLIGHT`) can be seen to cap delivery, or not, beside it.
const WIDE_IN_FLIGHT: u32 = 64;

/// The throughput runs, `--messages` each in two interleaved halves (plain, transformer,
/// wide, plain, ...) so that all three see the same noise: without a transformer, with
/// adobe-to-json, and without a transformer but `WIDE_IN_FLIGHT` attempts in flight instead
/// of the default.
struct Capacity {
    plain: CapacityRun,
    transformed: CapacityRun,
    wide: CapacityRun,
}

async fn capacity_runs(ctx: &Ctx) -> Result<Capacity> {
    eprintln!(
        "[bench] 4/6. throughput, {} messages each: without a transformer, with adobe-to-json, with {WIDE_IN_FLIGHT} in flight (interleaved)",
        ctx.opts.messages
    );
    let mut wide = ctx.event_config(None, None);
    wide["targets"][0]["max_in_flight"] = json!(WIDE_IN_FLIGHT);
    let gws = [delivery_gateway(ctx, false).await?, delivery_gateway(ctx, true).await?, gateway_with_event(ctx, wide, None).await?];
    let mut runs: [CapacityRun; 3] = Default::default();
    for (gw, run) in gws.iter().zip(runs.iter_mut()) {
        run.idle = gw.mem();
    }
    let half = (ctx.opts.messages / 2).max(1);
    for _round in 0..2 {
        for (gw, run) in gws.iter().zip(runs.iter_mut()) {
            capacity_window(ctx, gw, half, run).await;
        }
    }
    for (gw, run) in gws.iter().zip(runs.iter_mut()) {
        run.peak = gw.mem();
    }
    for gw in gws {
        ctx.stop(gw)?;
    }
    let [plain, transformed, wide] = runs;
    Ok(Capacity { plain, transformed, wide })
}

/// Section 8: an ordered target beside an unordered one: the same `--messages` fired at 64
/// connections through a gateway whose one target is unordered, ordered with a key per
/// message (as many lanes as messages), and ordered with one key (every delivery waits for
/// the one before), in interleaved halves.
async fn ordering(ctx: &Ctx) -> Result<Table> {
    let mut t = Table::new(format!("8. Ordering keys: {} messages through one target, 64 connections firing", ctx.opts.messages));
    let kinds = [("unordered", None), ("a key per message (`#data.uid#`)", Some("#data.uid#")), ("one key for all", Some("all"))];
    let mut gws = Vec::new();
    for (_, key) in kinds {
        let mut event = ctx.event_config(None, None);
        if let Some(key) = key {
            event["targets"][0]["ordering"] = json!({"key": key});
        }
        gws.push(gateway_with_event(ctx, event, None).await?);
    }
    let mut runs: Vec<CapacityRun> = kinds.iter().map(|_| CapacityRun::default()).collect();
    let half = (ctx.opts.messages / 2).max(1);
    for _round in 0..2 {
        for ((gw, run), (label, _)) in gws.iter().zip(runs.iter_mut()).zip(kinds) {
            eprintln!("[bench] 8. {half} messages, {label}");
            capacity_window(ctx, gw, half, run).await;
        }
    }
    for gw in gws {
        ctx.stop(gw)?;
    }
    let unordered = &runs[0];
    for ((label, _), run) in kinds.iter().zip(&runs) {
        let ingest = run.ingest_ok as f64 / run.ingest_secs.max(1e-9);
        let base_ingest = unordered.ingest_ok as f64 / unordered.ingest_secs.max(1e-9);
        t.row(Row::new(format!("accepts/s while delivering, {label}"), int(ingest), int(base_ingest), ratio(ingest, base_ingest), "unordered, same run"));
        t.row(Row::new(format!("deliveries/s, {label}"), int(run.per_s()), int(unordered.per_s()), ratio(run.per_s(), unordered.per_s()), "unordered, same run"));
        t.note(format!("{label}: {} delivered in {:.1} s, gateway CPU {:.1} s", run.delivered, run.secs, run.gateway_cpu_s));
    }
    Ok(t)
}

struct E2e {
    table: Table,
    capacity: Capacity,
    p99_plain_ms: f64,
    p99_transformed_ms: f64,
    /// Fire -> receipt p50 at --low-rate, no transformer (one at a time, no backlog).
    p50_low_plain_ms: f64,
}

async fn e2e(ctx: &Ctx) -> Result<E2e> {
    let (rate, low) = (ctx.opts.rate, ctx.opts.low_rate);
    let mut t = Table::new(format!(
        "4. End to end: shop -> gateway -> receiver ({rate}/s offered for {} s, and {low}/s; {} messages for throughput)",
        ctx.opts.latency_secs, ctx.opts.messages
    ));
    eprintln!("[bench] 4. baselines: receiver ceiling, one direct hop at {rate}/s and {low}/s");
    let ceiling = warm_then_measure(64, ctx.warmup(), ctx.secs(), 200, {
        let base = ctx.seqs(10_000_000);
        seq_fire(&ctx.client, ctx.rx.url(), base, false)
    })
    .await;
    ctx.rx.take();
    let direct = latency_baseline(ctx, rate, ctx.opts.latency_secs).await?;
    let direct_low = latency_baseline(ctx, low, ctx.opts.low_rate_secs).await?;

    let mut p99 = [0.0f64; 2];
    let mut p50_low = [0.0f64; 2];
    let mut lat_rows = Vec::new();
    for (i, transformer) in [false, true].into_iter().enumerate() {
        let label = if transformer { "adobe-to-json" } else { "no transformer" };
        eprintln!("[bench] 4. latency at {rate}/s and {low}/s, {label}");
        let gw = delivery_gateway(ctx, transformer).await?;
        let url = gw.url(&format!("/v1/events/{EVENT_NAME}"));
        let low_run = latency_run(ctx, url.clone(), low, ctx.opts.low_rate_secs).await?;
        let run = latency_run(ctx, url, rate, ctx.opts.latency_secs).await?;
        ctx.stop(gw)?;
        p99[i] = run.lat.p99_ms();
        p50_low[i] = low_run.lat.p50_ms();
        for (r, d, at) in [(&run, &direct, rate), (&low_run, &direct_low, low)] {
            let base = format!("one direct HTTP exchange bench -> receiver at {at}/s");
            lat_rows.push(Row::new(format!("fire -> receipt p50 at {at}/s, {label}"), ms(r.lat.p50_ms()), ms(d.p50_ms()), factor(r.lat.p50_ms(), d.p50_ms()), base.clone()));
            lat_rows.push(Row::new(format!("fire -> receipt p99 at {at}/s, {label}"), ms(r.lat.p99_ms()), ms(d.p99_ms()), factor(r.lat.p99_ms(), d.p99_ms()), base));
            t.note(format!(
                "{label} at {at}/s: offered {:.0}/s, {} of {} fired got 202, {} of those received within 30 s of the last firing",
                r.offered_per_s, r.fired_ok, r.fired, r.received
            ));
            if let Some(e) = &r.first_error {
                t.note(format!("{label} at {at}/s: first ingest error: {e}"));
            }
        }
    }
    let capacity = capacity_runs(ctx).await?;
    let Capacity { plain, transformed, wide } = &capacity;
    t.row(Row::new(
        "deliveries/s, no transformer",
        int(plain.per_s()),
        int(ceiling.per_s()),
        ratio(plain.per_s(), ceiling.per_s()),
        "bench -> receiver directly, 64 connections (loopback ceiling of the receiver)",
    ));
    t.row(Row::new(
        "deliveries/s, adobe-to-json",
        int(transformed.per_s()),
        int(plain.per_s()),
        ratio(transformed.per_s(), plain.per_s()),
        "the same run without a transformer (row above)",
    ));
    t.row(Row::new(
        format!("deliveries/s, no transformer, {WIDE_IN_FLIGHT} in flight"),
        int(wide.per_s()),
        int(plain.per_s()),
        ratio(wide.per_s(), plain.per_s()),
        format!("the same run with the default max_in_flight ({DEFAULT_MAX_IN_FLIGHT})"),
    ));
    for r in lat_rows {
        t.row(r);
    }
    let wide_label = format!("no transformer, {WIDE_IN_FLIGHT} in flight");
    for (label, run) in [("no transformer", plain), ("adobe-to-json", transformed), (wide_label.as_str(), wide)] {
        t.note(format!(
            "throughput {label}: {} delivered in {:.1} s (two windows, each from the first firing to the last receipt; \
             ingest side {:.0}/s, {} errors)",
            run.delivered,
            run.secs,
            run.ingest_ok as f64 / run.ingest_secs.max(1e-9),
            run.ingest_errors
        ));
    }
    Ok(E2e { table: t, capacity, p99_plain_ms: p99[0], p99_transformed_ms: p99[1], p50_low_plain_ms: p50_low[0] })
}

/// RSS of a gateway with default flags through `--memory-messages` messages fired at 64
/// connections and delivered: the peak (VmHWM) and what it holds once idle again.
struct MemoryRun {
    messages: u64,
    delivered: u64,
    idle: Mem,
    peak_kb: u64,
    after: Mem,
}

/// How long the gateway sits idle before its memory is read "after" the run.
const SETTLE: Duration = Duration::from_secs(10);

async fn memory_run(ctx: &Ctx) -> Result<MemoryRun> {
    let n = ctx.opts.memory_messages;
    eprintln!("[bench] 6. memory: {n} messages through a gateway with default flags");
    let gw = delivery_gateway(ctx, false).await?;
    let idle = gw.mem();
    let mut run = CapacityRun::default();
    capacity_window(ctx, &gw, n, &mut run).await;
    let peak_kb = gw.mem().hwm_kb;
    tokio::time::sleep(SETTLE).await;
    let after = gw.mem();
    ctx.stop(gw)?;
    Ok(MemoryRun { messages: n, delivered: run.delivered, idle, peak_kb, after })
}

fn resources_table(plain: &CapacityRun, transformed: &CapacityRun, memory: &MemoryRun) -> Table {
    let mut t = Table::new("6. Resources per 10,000 delivered messages (the throughput runs of section 4)");
    for (label, run) in [("no transformer", plain), ("adobe-to-json", transformed)] {
        let per = 10_000.0 / run.delivered.max(1) as f64;
        t.row(Row::new(
            format!("gateway CPU s / 10k delivered, {label}"),
            format!("{:.2} s", run.gateway_cpu_s * per),
            format!("{:.2} s", run.bench_cpu_s * per),
            factor(run.gateway_cpu_s, run.bench_cpu_s),
            "the bench process (client + receiver) for the same messages",
        ));
        t.row(Row::new(
            format!("gateway peak RSS (VmHWM), {label}"),
            mib(run.peak.hwm_kb),
            mib(run.idle.rss_kb),
            factor(run.peak.hwm_kb as f64, run.idle.rss_kb as f64),
            "the same gateway idle after start (VmRSS)",
        ));
    }
    let label = format!("{} messages", int(memory.messages as f64));
    t.row(Row::new(format!("gateway peak RSS (VmHWM), {label}"), mib(memory.peak_kb), mib(memory.idle.rss_kb), factor(memory.peak_kb as f64, memory.idle.rss_kb as f64), "the same gateway idle after start (VmRSS)"));
    t.row(Row::new(
        format!("gateway RSS {} s after {label}", SETTLE.as_secs()),
        mib(memory.after.rss_kb),
        mib(memory.idle.rss_kb),
        factor(memory.after.rss_kb as f64, memory.idle.rss_kb as f64),
        "the same gateway idle after start (VmRSS)",
    ));
    t.note("CPU = utime + stime from /proc/<pid>/stat over the window from the first firing to the last receipt; RSS from /proc/<pid>/status");
    t.note(format!(
        "memory run: {} messages fired at 64 connections, {} delivered, no transformer, default flags ({} MiB page cache)",
        memory.messages, memory.delivered, hookgate::settings::DEFAULT_CACHE_MB
    ));
    t
}

// ------------------------------------------------------------------------------------------------
// 5: growth and restart
// ------------------------------------------------------------------------------------------------

struct Growth {
    table: Table,
    ratio: f64,
    restart_first_ms: f64,
}

/// `wasm` with a custom section appended: a valid component with other bytes, so that each
/// of the 20 names is its own stored component (own sha256, own compiled artifact).
fn variant(wasm: &[u8], tag: &str) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"hookgate-bench";
    let mut content = Vec::new();
    leb(name.len(), &mut content);
    content.extend_from_slice(name);
    content.extend_from_slice(tag.as_bytes());
    let mut out = wasm.to_vec();
    out.push(0);
    leb(content.len(), &mut out);
    out.extend(content);
    out
}

async fn first_202(ctx: &Ctx, gw: &Gateway, event: &str, seq: u64, sign: bool) -> Result<()> {
    let make = seq_fire(&ctx.client, gw.url(&format!("/v1/events/{event}")), seq, sign);
    let resp = make(0).send().await?;
    let status = resp.status();
    if status.as_u16() != 202 {
        bail!("first event after restart: HTTP {status}: {}", resp.text().await.unwrap_or_default());
    }
    Ok(())
}

struct Restart {
    listening: Duration,
    first_202: Duration,
    first_delivery: Duration,
    stored_components: usize,
    dir_bytes: u64,
}

/// Sets a data directory up (components, event), stops, restarts and times the first event.
async fn restart(ctx: &Ctx, with_components: bool) -> Result<Restart> {
    let dir = ctx.fresh_dir("restart")?;
    let gw = ctx.spawn(&dir)?;
    let mut stored = 0;
    let event = if with_components {
        let js_py: Vec<&str> = ["js-adobe-to-json", "py-adobe-to-json"].into_iter().filter(|n| ctx.dist.join(format!("{n}.wasm")).is_file()).collect();
        let rust = ["hmac-auth", "adobe-to-json", "json-ok-condition"];
        let (mut auth, mut transformer) = (String::new(), String::new());
        for i in 0..(20 - js_py.len()) {
            let base = rust[i % rust.len()];
            let name = format!("{base}-{i:02}");
            gw.put_component(&name, variant(&ctx.component(base)?, &format!("variant-{i}"))).await?;
            match base {
                "hmac-auth" => auth = name,
                "adobe-to-json" => transformer = name,
                _ => {}
            }
            stored += 1;
        }
        for name in js_py {
            gw.put_component(name, ctx.component(name)?).await?;
            stored += 1;
        }
        gw.put_event("bench.restart", &ctx.event_config(Some(&auth), Some(&transformer))).await?;
        "bench.restart"
    } else {
        gw.put_event("bench.restart", &ctx.event_config(None, None)).await?;
        "bench.restart"
    };
    // Once before the restart, to check that it works at all.
    ctx.rx.take();
    first_202(ctx, &gw, event, ctx.seqs(1), with_components).await?;
    wait_receipts(&ctx.rx, 1, Duration::from_secs(10)).await;
    ctx.rx.take();
    ctx.stop(gw)?;
    let dir_bytes = dir_size(&dir);

    let seq = ctx.seqs(1);
    let t0 = Instant::now();
    let gw = ctx.spawn(&dir)?;
    let listening = gw.listening_after;
    first_202(ctx, &gw, event, seq, with_components).await?;
    let first_202 = t0.elapsed();
    let delivered = wait_receipts(&ctx.rx, 1, Duration::from_secs(10)).await;
    let receipt = ctx.rx.take().into_iter().find(|(s, _)| *s == seq).map(|(_, at)| at);
    ctx.stop(gw)?;
    let _ = std::fs::remove_dir_all(&dir);
    let Some(at) = receipt.filter(|_| delivered) else { bail!("the first event after the restart was not delivered within 10 s") };
    Ok(Restart { listening, first_202, first_delivery: at - t0, stored_components: stored, dir_bytes })
}

async fn growth(ctx: &Ctx) -> Result<Growth> {
    let mut t = Table::new(format!("5. Growth: empty store vs {} stored messages; restart with 20 components", int(ctx.opts.stored as f64)));
    let url_of = |gw: &Gateway| gw.url(&format!("/v1/events/{EVENT_NAME}"));

    eprintln!("[bench] 5. ingest c=64, empty store vs filled store (empty, filled, empty again)");
    let baseline_url = format!("http://{}/v1/events/{EVENT_NAME}", ctx.null_addr);
    let null = warm_then_measure(64, ctx.warmup(), ctx.secs(), 202, pooled_fire(&ctx.client, baseline_url)).await;
    let empty_dir = ctx.fresh_dir("empty")?;
    let empty_gw = ctx.spawn(&empty_dir)?;
    let empty_listening = empty_gw.listening_after;
    empty_gw.put_event(EVENT_NAME, &ctx.event_config(None, None)).await?;

    eprintln!("[bench] 5. filling a store with {} messages", ctx.opts.stored);
    let dir = ctx.fresh_dir("filled")?;
    let filled = fill::fill(&dir, EVENT_NAME, &ctx.rx.url(), ctx.opts.stored).await?;
    let filled_size_before = dir_size(&dir);
    eprintln!(
        "[bench]   {} messages in {:.1} s ({:.0}/s), {:.0} MiB on disk",
        filled.messages,
        filled.took.as_secs_f64(),
        filled.messages as f64 / filled.took.as_secs_f64(),
        filled_size_before as f64 / 1048576.0
    );
    let gw = ctx.spawn(&dir)?;
    let filled_listening = gw.listening_after;
    let after_start = gw.mem();
    gw.put_event(EVENT_NAME, &ctx.event_config(None, None)).await?;

    // Empty, filled, empty again, each run's deliveries drained before the next, so that
    // both stores see the same machine.
    let quiet = || wait_quiet(&ctx.rx, Duration::from_millis(300), Duration::from_secs(30));
    let empty_a = warm_then_measure(64, ctx.warmup(), ctx.secs(), 202, pooled_fire(&ctx.client, url_of(&empty_gw))).await;
    quiet().await;
    let full = warm_then_measure(64, ctx.warmup(), ctx.secs(), 202, pooled_fire(&ctx.client, url_of(&gw))).await;
    let full_mem = gw.mem();
    quiet().await;
    let empty_b = warm_then_measure(64, ctx.warmup(), ctx.secs(), 202, pooled_fire(&ctx.client, url_of(&empty_gw))).await;
    let empty_mem = empty_gw.mem();
    let empty = empty_a.merged(&empty_b);
    if full.ok == 0 {
        bail!("no 202 from the gateway on the filled store: {:?}\n{}", full.first_error, gw.log_tail(20));
    }
    ctx.stop(gw)?;
    ctx.stop(empty_gw)?;
    let empty_size = dir_size(&empty_dir);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&empty_dir);
    ctx.rx.take();
    t.note(format!(
        "empty store: {} and {} accepts/s in its two runs (before and after the filled store's)",
        int(empty_a.per_s()),
        int(empty_b.per_s())
    ));

    let ratio_full = if empty.per_s() > 0.0 { full.per_s() / empty.per_s() } else { 0.0 };
    t.row(Row::new("ingest c=64 accepts/s, empty store", int(empty.per_s()), int(null.per_s()), ratio(empty.per_s(), null.per_s()), "null axum 202 handler, same client"));
    t.row(Row::new(
        format!("ingest c=64 accepts/s, {} stored", int(filled.messages as f64)),
        int(full.per_s()),
        int(empty.per_s()),
        ratio(full.per_s(), empty.per_s()),
        "the empty store (row above)",
    ));
    t.row(Row::new(
        format!("ingest c=64 p99, {} stored", int(filled.messages as f64)),
        ms(full.lat.p99_ms()),
        ms(empty.lat.p99_ms()),
        factor(full.lat.p99_ms(), empty.lat.p99_ms()),
        "the empty store",
    ));
    t.row(Row::new(
        format!("gateway RSS after the run, {} stored", int(filled.messages as f64)),
        mib(full_mem.rss_kb),
        mib(empty_mem.rss_kb),
        factor(full_mem.rss_kb as f64, empty_mem.rss_kb as f64),
        "the empty store after its run",
    ));
    t.row(Row::new(
        format!("gateway peak RSS (VmHWM), {} stored", int(filled.messages as f64)),
        mib(full_mem.hwm_kb),
        mib(empty_mem.hwm_kb),
        factor(full_mem.hwm_kb as f64, empty_mem.hwm_kb as f64),
        "the empty store",
    ));
    t.row(Row::new(
        format!("start -> listening, {} stored", int(filled.messages as f64)),
        ms(filled_listening.as_secs_f64() * 1000.0),
        ms(empty_listening.as_secs_f64() * 1000.0),
        factor(filled_listening.as_secs_f64(), empty_listening.as_secs_f64()),
        "the empty store",
    ));
    t.note(format!(
        "filled store: {} delivered messages (1 KiB body, record, delivery with one attempt) written with hookgate::store::MessageLog::append \
         in {:.1} s before the gateway starts; {:.0} MiB on disk (empty store after its run: {:.1} MiB); RSS right after start on it: {}",
        int(filled.messages as f64),
        filled.took.as_secs_f64(),
        filled_size_before as f64 / 1048576.0,
        empty_size as f64 / 1048576.0,
        mib(after_start.rss_kb)
    ));
    t.note(format!("sled page cache: {} MiB (the default of `hookgate serve --cache-mb`)", hookgate::settings::DEFAULT_CACHE_MB));

    eprintln!("[bench] 5. restart with 20 components");
    let with = restart(ctx, true).await?;
    let without = restart(ctx, false).await?;
    let restart_base = "restart of a gateway with no component, plain event";
    let milestones = [
        ("listening", with.listening, without.listening),
        ("first 202 (hmac-auth ran)", with.first_202, without.first_202),
        ("first delivery (adobe-to-json ran)", with.first_delivery, without.first_delivery),
    ];
    for (milestone, took, base) in milestones {
        t.row(Row::new(
            format!("restart with {} components -> {milestone}", with.stored_components),
            ms(took.as_secs_f64() * 1000.0),
            ms(base.as_secs_f64() * 1000.0),
            factor(took.as_secs_f64(), base.as_secs_f64()),
            restart_base,
        ));
    }
    let js_py = ["js-adobe-to-json", "py-adobe-to-json"].iter().filter(|n| ctx.dist.join(format!("{n}.wasm")).is_file()).count();
    t.note(format!(
        "restart: {} components stored ({} Rust variants of hmac-auth, adobe-to-json and json-ok-condition, each with its own bytes and sha256; \
         {js_py} JS/Python){}; measured from spawning the process after a SIGTERM stop to the 202 of a signed event and to its transformed delivery; \
         data directory {:.0} MiB with the components (wasm and compiled code), {} KiB without",
        with.stored_components,
        with.stored_components - js_py,
        if js_py < 2 { ", the JS and Python examples are not in guest-examples/dist yet" } else { "" },
        with.dir_bytes as f64 / 1048576.0,
        int(without.dir_bytes as f64 / 1024.0)
    ));
    Ok(Growth { table: t, ratio: ratio_full, restart_first_ms: with.first_202.as_secs_f64() * 1000.0 })
}

// ------------------------------------------------------------------------------------------------
// main
// ------------------------------------------------------------------------------------------------

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).unwrap_or("?").trim().to_string();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let run = |cmd: &str, args: &[&str]| {
        std::process::Command::new(cmd)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let date = run("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let kernel = run("uname", &["-r"]);
    let commit = run("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = if run("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty() { "" } else { " + uncommitted changes" };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "- date: {date}; load average at the start {}\n- machine: {cores} cores ({model}), {:.1} GiB memory (MemTotal {mem_kb} kB), Linux {kernel}; shared with other work while it ran\n- code: commit {commit}{dirty}",
        load.join(" "),
        mem_kb as f64 / 1048576.0
    )
}

/// The goals of the issues that set them (issue 17's speed targets, and issue 6's that it
/// did not replace), each beside its figure of this run.
struct Targets(Vec<(String, String, String)>);

impl Targets {
    fn add(&mut self, target: &str, measured: String, met: bool, miss: String) {
        self.0.push((target.into(), measured, if met { "met".into() } else { format!("missed: {miss}") }));
    }
    fn markdown(&self) -> String {
        let mut out = String::from("### Targets\n\n| target | measured | verdict |\n| --- | --- | --- |\n");
        for (t, m, v) in &self.0 {
            out.push_str(&format!("| {t} | {m} | {v} |\n"));
        }
        out
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let repo = hookgate_tests::repo_root();
    let bin = gateway::locate_binary(&repo, cli.opts.gateway_bin.clone(), !cli.opts.no_build)?;
    let dist = hookgate_tests::components_dir();
    let compile_cache = hookgate_tests::compile_cache_dir();
    let needs_components = matches!(cli.section, Section::All | Section::Auth | Section::Wasm | Section::E2e | Section::Growth | Section::Resources);
    if needs_components && !dist.join("hmac-auth.wasm").is_file() {
        bail!("{}/hmac-auth.wasm is missing: run `bash guest-examples/build.sh` first", dist.display());
    }
    let client = net::client();
    let ctx = Ctx {
        launcher: Launcher { bin: bin.clone(), token: format!("bench-{}", std::process::id()) },
        rx: Receiver::start().await?,
        null_addr: net::null_server().await?,
        tmp: tempfile::Builder::new().prefix("hookgate-bench-").tempdir()?,
        dirs: AtomicU64::new(0),
        seq: AtomicU64::new(1),
        opts: cli.opts.clone(),
        dist,
        compile_cache,
        client,
    };
    let started = Instant::now();
    let header = machine();
    eprintln!("{header}\n- gateway: {}", bin.display());

    let s = cli.section;
    let mut tables: Vec<Table> = Vec::new();
    let mut targets = Targets(Vec::new());
    let show = |t: &Table| eprintln!("\n{}", t.markdown());

    let mut plain_ingest = None;
    if matches!(s, Section::All | Section::Ingest) {
        let points = ingest(&ctx, false).await?;
        let t = ingest_table("1. Ingest, no components (202 = flushed to disk)", &points, None);
        show(&t);
        tables.push(t);
        if let Some(p) = points.iter().find(|p| p.concurrency == 64) {
            let (per_s, r) = (p.gateway.per_s(), p.gateway.per_s() / p.baseline.per_s().max(1e-9));
            targets.add(
                "ingest c=64, durable: >= 20,000 accepts/s or >= 35% of the null handler",
                format!("{} of {} accepts/s = {:.0}%", int(per_s), int(p.baseline.per_s()), r * 100.0),
                per_s >= 20_000.0 || r >= 0.35,
                format!("{:.0} points short", (0.35 - r) * 100.0),
            );
        }
        plain_ingest = Some(points);
    }
    if matches!(s, Section::All | Section::Auth) {
        let points = ingest(&ctx, true).await?;
        let t = ingest_table("2. Ingest with the hmac-auth authenticator component", &points, plain_ingest.as_deref());
        let at_64 = |points: &[IngestPoint]| points.iter().find(|p| p.concurrency == 64).map(|p| p.gateway.per_s());
        if let (Some(with), Some(without)) = (at_64(&points), plain_ingest.as_deref().and_then(at_64)) {
            let r = with / without.max(1e-9);
            targets.add(
                "ingest with the hmac-auth authenticator >= 85% of without, c=64",
                format!("{} vs {} accepts/s = {:.0}%", int(with), int(without), r * 100.0),
                r >= 0.85,
                format!("{:.0} points short", (0.85 - r) * 100.0),
            );
        }
        show(&t);
        tables.push(t);
    }
    if matches!(s, Section::All | Section::Wasm) {
        eprintln!("[bench] 3. WASM cost per call");
        let (dist, cache, n, against) = (ctx.dist.clone(), ctx.compile_cache.clone(), ctx.opts.iterations, ctx.opts.against.clone());
        let w = tokio::task::spawn_blocking(move || wasm::run(&dist, &cache, n, against.as_deref())).await??;
        show(&w.table);
        for (lang, goal_us) in [("Rust", 15.0), ("JavaScript", 300.0), ("Python", 500.0)] {
            if let Some(&m) = w.medians_us.get(lang) {
                targets.add(
                    &format!("{lang} transformer call (fresh sandbox), median <= {} µs", goal_us),
                    stats::us(m),
                    m <= goal_us,
                    format!("{:.1}x the target", m / goal_us),
                );
            }
        }
        tables.push(w.table);
    }
    let mut capacity = None;
    if matches!(s, Section::All | Section::E2e) {
        let e = e2e(&ctx).await?;
        show(&e.table);
        let plain = e.capacity.plain.per_s();
        targets.add(
            "deliveries/s end to end, no transformer, default max_in_flight: >= 9,000",
            int(plain),
            plain >= 9_000.0,
            format!("{:.0}% of the target", plain / 90.0),
        );
        let r = e.capacity.transformed.per_s() / plain.max(1e-9);
        targets.add(
            "deliveries/s with the Rust transformer >= 85% of without",
            format!("{} vs {} deliveries/s = {:.0}%", int(e.capacity.transformed.per_s()), int(plain), r * 100.0),
            r >= 0.85,
            format!("{:.0} points short", (0.85 - r) * 100.0),
        );
        // The default caps a fast target when more attempts in flight deliver clearly more.
        let wide = e.capacity.wide.per_s();
        let share = plain / wide.max(1e-9);
        targets.add(
            &format!("one target: the default max_in_flight ({DEFAULT_MAX_IN_FLIGHT}) does not cap it (>= 90% of {WIDE_IN_FLIGHT} in flight, same run)"),
            format!("{} vs {} deliveries/s = {:.0}%", int(plain), int(wide), share * 100.0),
            share >= 0.9,
            format!("{:.0}% of {WIDE_IN_FLIGHT} in flight", share * 100.0),
        );
        let worst = e.p99_plain_ms.max(e.p99_transformed_ms);
        targets.add(
            &format!("fire -> receipt p99 at {}/s <= 5 ms, with and without adobe-to-json", ctx.opts.rate),
            format!("{} without, {} with adobe-to-json", ms(e.p99_plain_ms), ms(e.p99_transformed_ms)),
            worst <= 5.0 && e.p99_plain_ms > 0.0 && e.p99_transformed_ms > 0.0,
            format!("{:.1}x the target", worst / 5.0),
        );
        targets.add(
            &format!("fire -> receipt p50 at {}/s, one at a time: <= 1 ms", ctx.opts.low_rate),
            ms(e.p50_low_plain_ms),
            e.p50_low_plain_ms <= 1.0 && e.p50_low_plain_ms > 0.0,
            format!("{:.1}x the target", e.p50_low_plain_ms),
        );
        tables.push(e.table);
        capacity = Some(e.capacity);
    }
    if matches!(s, Section::All | Section::Growth) {
        let g = growth(&ctx).await?;
        show(&g.table);
        targets.add(
            &format!("(issue 6) ingest with {} stored >= 80% of the empty store", int(ctx.opts.stored as f64)),
            format!("{:.0}%", g.ratio * 100.0),
            g.ratio >= 0.80,
            format!("{:.0} points short", (0.80 - g.ratio) * 100.0),
        );
        targets.add(
            "(issue 6) restart with 20 components: first event served < 1 s",
            ms(g.restart_first_ms),
            g.restart_first_ms < 1000.0,
            format!("{:.1}x the target", g.restart_first_ms / 1000.0),
        );
        tables.push(g.table);
    }
    if matches!(s, Section::All | Section::Resources) {
        let Capacity { plain, transformed, .. } = match capacity.take() {
            Some(c) => c,
            None => capacity_runs(&ctx).await?,
        };
        let memory = memory_run(&ctx).await?;
        let t = resources_table(&plain, &transformed, &memory);
        show(&t);
        tables.push(t);
        let per_10k = |run: &CapacityRun| run.gateway_cpu_s * 10_000.0 / run.delivered.max(1) as f64;
        let (cpu_plain, cpu_transformed) = (per_10k(&plain), per_10k(&transformed));
        targets.add(
            "gateway CPU per 10,000 delivered <= 1.0 s without a transformer / 1.3 s with adobe-to-json",
            format!("{cpu_plain:.2} s / {cpu_transformed:.2} s"),
            cpu_plain <= 1.0 && cpu_transformed <= 1.3,
            format!("{:.1}x / {:.1}x the target", cpu_plain / 1.0, cpu_transformed / 1.3),
        );
        let worst_kb = memory.peak_kb.max(memory.after.rss_kb);
        targets.add(
            &format!("RSS <= 100 MiB during and after a {}-message run, default flags", int(memory.messages as f64)),
            format!("peak {}, {} s after {}", mib(memory.peak_kb), SETTLE.as_secs(), mib(memory.after.rss_kb)),
            worst_kb <= 100 << 10,
            format!("{:.1}x the target", worst_kb as f64 / (100 << 10) as f64),
        );
    }
    if s == Section::Soak || (s == Section::All && ctx.opts.soak_messages > 0) {
        let soak = soak::run(&ctx).await?;
        show(&soak.table);
        let cache_kb = hookgate::settings::DEFAULT_CACHE_MB << 10;
        let (growth, per_100k) = (soak.growth_kb, soak.growth_per_100k_kb);
        targets.add(
            &format!(
                "RSS in a {}-message soak at {}/s, default flags: flat (fitted growth over the soak within the page cache's size)",
                int(ctx.opts.soak_messages as f64),
                ctx.opts.soak_rate
            ),
            format!(
                "+{} over the soak ({} per 100,000 fired), {} at the end, {} {} s after",
                mib(growth.max(0.0) as u64),
                mib(per_100k.max(0.0) as u64),
                mib(soak.last_kb),
                mib(soak.after.rss_kb),
                SETTLE.as_secs()
            ),
            growth <= cache_kb as f64,
            format!("{:.1}x the cache", growth / cache_kb as f64),
        );
        let off = soak.after.rss_kb as f64 / soak.model_after_kb.max(1) as f64;
        targets.add(
            "the README's memory model matches the soak (RSS after it within 25% of the model's)",
            format!("{} against the model's {} ({:.2}x)", mib(soak.after.rss_kb), mib(soak.model_after_kb), off),
            (0.75..=1.25).contains(&off),
            format!("{off:.2}x the model"),
        );
        tables.push(soak.table);
    }
    if s == Section::Ordering {
        let t = ordering(&ctx).await?;
        show(&t);
        tables.push(t);
    }
    if s == Section::Cluster {
        let t = cluster::run(&ctx).await?;
        show(&t);
        tables.push(t);
    }

    if s == Section::All {
        let bytes = std::fs::metadata(&bin).map_or(0, |m| m.len());
        targets.add(
            "release binary <= 40 MB shipped",
            format!("{:.1} MB", bytes as f64 / 1e6),
            bytes <= 40_000_000,
            format!("{:.1} MB over", (bytes as f64 - 40e6) / 1e6),
        );
    }

    let mut out = String::new();
    let load_end = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    out.push_str(&format!(
        "{header}\n- command: `cargo run --release -p hookgate-bench -- {}`\n- took: {:.0} s (after the build); load average at the end {}\n\n",
        std::env::args().skip(1).collect::<Vec<_>>().join(" "),
        started.elapsed().as_secs_f64(),
        load_end.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    ));
    for t in &tables {
        out.push_str(&t.markdown());
        out.push('\n');
    }
    if !targets.0.is_empty() {
        out.push_str(&targets.markdown());
    }
    println!("{out}");
    if let Some(path) = &ctx.opts.markdown {
        std::fs::write(path, &out).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
