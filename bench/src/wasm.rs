//! Section 3: what one guest call costs (fresh sandbox, instantiate, call), measured with the
//! gateway's own runtime in this process, beside the same logic as a native Rust function.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use hookgate::runtime::{GuestLimits, GuestMessage, IncomingRequest, OutgoingRequest, Prepared, Runtime, TransformResult};
use hookgate_tests::hmac_sha256_hex;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::net::{adobe_body, BODY_BYTES};
use crate::stats::{factor, pct_ns, us, Row, Table};

/// Samples, sorted, in nanoseconds.
struct Samples(Vec<u64>);

impl Samples {
    fn median_us(&self) -> f64 {
        pct_ns(&self.0, 50.0) / 1000.0
    }
    fn p99_us(&self) -> f64 {
        pct_ns(&self.0, 99.0) / 1000.0
    }
}

/// The median and p99 rows of `measured` against `baseline`.
fn median_and_p99(table: &mut Table, label: &str, measured: &Samples, baseline: &Samples, baseline_is: &str) {
    let pairs = [("median", measured.median_us(), baseline.median_us()), ("p99", measured.p99_us(), baseline.p99_us())];
    for (what, value, base) in pairs {
        table.row(Row::new(format!("{label} {what}"), us(value), us(base), factor(value, base), baseline_is));
    }
}

/// Runs `f` `warmup` times unmeasured, then up to `max` times (and at most `budget` long).
fn sample(warmup: usize, max: usize, budget: Duration, mut f: impl FnMut() -> Result<()>) -> Result<Samples> {
    for _ in 0..warmup {
        f()?;
    }
    let end = Instant::now() + budget;
    let mut ns = Vec::with_capacity(max);
    while ns.len() < max && (ns.len() < 20 || Instant::now() < end) {
        let t = Instant::now();
        f()?;
        ns.push(t.elapsed().as_nanos() as u64);
    }
    ns.sort_unstable();
    Ok(Samples(ns))
}

/// Blocks of calls to `measured` and to `baseline` in turn (each block long enough to keep a
/// component's pool slot warm), `iterations` calls of each in all: both see the same
/// drift of a shared machine.
fn sample_alternating(iterations: usize, mut measured: impl FnMut() -> Result<()>, mut baseline: impl FnMut() -> Result<()>) -> Result<(Samples, Samples)> {
    const BLOCKS: usize = 10;
    let per_block = iterations.div_ceil(BLOCKS);
    let block = |f: &mut dyn FnMut() -> Result<()>, ns: &mut Vec<u64>| -> Result<()> {
        f()?; // the first call after the other component's block is a cold one: not counted
        for _ in 0..per_block {
            let t = Instant::now();
            f()?;
            ns.push(t.elapsed().as_nanos() as u64);
        }
        Ok(())
    };
    let (mut m, mut b) = (Vec::with_capacity(iterations), Vec::with_capacity(iterations));
    for _ in 0..BLOCKS {
        block(&mut measured, &mut m)?;
        block(&mut baseline, &mut b)?;
    }
    m.sort_unstable();
    b.sort_unstable();
    Ok((Samples(m), Samples(b)))
}

#[derive(Deserialize)]
struct Envelope {
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    uid: String,
    event: String,
    value: Map<String, Value>,
}

/// What `adobe-to-json` does, natively: parse the envelope, flatten `value` + `uid` +
/// `event`, serialize, and set the two headers on the draft.
pub fn native_adobe_to_json(message: &GuestMessage, mut draft: OutgoingRequest) -> Result<OutgoingRequest, String> {
    let Data { uid, event, value } = serde_json::from_slice::<Envelope>(&message.body).map_err(|e| e.to_string())?.data;
    let mut flat = value;
    flat.insert("uid".into(), Value::String(uid));
    flat.insert("event".into(), Value::String(event.clone()));
    draft.body = serde_json::to_vec(&flat).map_err(|e| e.to_string())?;
    draft.headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
    draft.headers.push(("content-type".into(), "application/json".into()));
    draft.headers.push(("x-hookgate-event".into(), event));
    Ok(draft)
}

/// Compiled code for `wasm`: from the shared compile cache when the gateway already put it
/// there (same wasmtime, same engine settings), else compiled now.
fn prepare(runtime: &Runtime, wasm: &[u8], cache_dir: &Path) -> Result<(Prepared, &'static str)> {
    let key = format!("{}-{}", hookgate::runtime::sha256_hex(wasm), runtime.engine_hash());
    let cached = cache_dir.join(format!("{key}.cwasm"));
    if let Ok(artifact) = std::fs::read(&cached) {
        if let Ok((_, prepared)) = runtime.load_artifact(&artifact) {
            return Ok((prepared, "taken from the compile cache"));
        }
    }
    let (_, prepared, artifact) = runtime.compile(wasm).map_err(|e| anyhow!("{e}"))?;
    // Leave it where the gateway looks (written aside and renamed, as the gateway does).
    let partial = cached.with_extension(format!("{}.partial", std::process::id()));
    if std::fs::create_dir_all(cache_dir).and_then(|_| std::fs::write(&partial, &artifact)).and_then(|_| std::fs::rename(&partial, &cached)).is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    Ok((prepared, "compiled by the bench (not in the compile cache yet)"))
}

pub struct WasmResult {
    pub table: Table,
    /// Median of each transformer by its language ("Rust", "JavaScript", "Python"), µs.
    pub medians_us: HashMap<&'static str, f64>,
}

pub fn run(dist: &Path, cache_dir: &Path, iterations: usize, against: Option<&Path>) -> Result<WasmResult> {
    let runtime = Runtime::new(GuestLimits::default()).map_err(|e| anyhow!("{e}"))?;
    let body = adobe_body(1, BODY_BYTES).to_vec();
    let message = GuestMessage {
        event_id: crate::net::EVENT_NAME.into(),
        message_id: "msg_0197f0c0a0b07c1e9b2d3f4a5b6c7d8e".into(),
        received_at: 1_750_000_000_000,
        headers: vec![("content-type".into(), "application/json".into()), ("user-agent".into(), "hookgate-bench".into())],
        content_type: Some("application/json".into()),
        body: body.clone(),
    };
    let draft = OutgoingRequest {
        method: "POST".into(),
        url: "http://127.0.0.1:9/hook".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.clone(),
    };
    let budget = Duration::from_secs(5);
    let mut table = Table::new("3. WASM cost per call (fresh sandbox + instantiate + call, 1 KiB message, in process)");
    // With `--against DIR` holding a build of `name`: the rows of `prepared` against that
    // build, blocks of calls alternated.
    let against_rows = |table: &mut Table, name: &str, prepared: &Prepared, call: &dyn Fn(&Prepared) -> Result<()>| -> Result<()> {
        let Some(dir) = against else { return Ok(()) };
        let Ok(wasm) = std::fs::read(dir.join(format!("{name}.wasm"))) else {
            table.note(format!("{name}: no build of it in {}", dir.display()));
            return Ok(());
        };
        let (other, _) = prepare(&runtime, &wasm, cache_dir).with_context(|| format!("{name} in {}", dir.display()))?;
        let (measured, baseline) = sample_alternating(iterations, || call(prepared), || call(&other))?;
        let label = format!("`{name}`, against {}", dir.display());
        median_and_p99(table, &label, &measured, &baseline, "the same component from --against, blocks of calls alternated");
        Ok(())
    };

    let native = sample(1000, iterations * 10, budget, || {
        native_adobe_to_json(&message, draft.clone()).map(drop).map_err(|e| anyhow!(e))
    })?;
    // The native output, to check that the guests do the same thing.
    let expected: Value = serde_json::from_slice(&native_adobe_to_json(&message, draft.clone()).map_err(|e| anyhow!(e))?.body)?;

    let mut medians_us = HashMap::new();
    for (name, lang) in [("adobe-to-json", "Rust"), ("js-adobe-to-json", "JavaScript"), ("py-adobe-to-json", "Python")] {
        let path = dist.join(format!("{name}.wasm"));
        let Ok(wasm) = std::fs::read(&path) else {
            table.note(format!(
                "{lang} transformer `{name}` skipped: {} is not there (guest-examples/build.sh does not build it yet)",
                path.display()
            ));
            continue;
        };
        let (prepared, source) = prepare(&runtime, &wasm, cache_dir).with_context(|| name.to_string())?;
        let call_of = |prepared: &Prepared| -> Result<TransformResult> {
            let call = runtime.transform(prepared, BTreeMap::new(), &message, &draft);
            call.result.map_err(|e| anyhow!("{name}: {e}"))
        };
        let call = || call_of(&prepared);
        match call()? {
            TransformResult::Send(out) => {
                let got: Value = serde_json::from_slice(&out.body).context("transformer output is not JSON")?;
                if got != expected {
                    table.note(format!("{name}: output differs from the native function: {got}"));
                }
            }
            other => return Err(anyhow!("{name} did not send: {other:?}")),
        }
        let s = sample(20, iterations, budget, || call().map(drop))?;
        medians_us.insert(lang, s.median_us());
        median_and_p99(&mut table, &format!("`{name}` ({lang})"), &s, &native, "native Rust fn, same logic");
        table.note(format!("{name}: {} calls; compiled code {source}", s.0.len()));
        against_rows(&mut table, name, &prepared, &|p| call_of(p).map(drop))?;
    }

    // The authenticator of section 2, for the same reading of its cost.
    if let Ok(wasm) = std::fs::read(dist.join("hmac-auth.wasm")) {
        let (prepared, _) = prepare(&runtime, &wasm, cache_dir)?;
        let secret = "bench-secret";
        let signature = hmac_sha256_hex(secret.as_bytes(), &body);
        let request = IncomingRequest {
            method: "POST".into(),
            path: format!("/v1/events/{}", crate::net::EVENT_NAME),
            query: String::new(),
            headers: vec![("content-type".into(), "application/json".into()), ("x-signature".into(), signature.clone())],
            body: body.clone(),
        };
        let config: BTreeMap<String, Value> = [("secret".to_string(), Value::String(secret.into()))].into();
        let call_of = |prepared: &Prepared| -> Result<()> {
            match runtime.authenticate(prepared, config.clone(), &request).result {
                Ok(hookgate::runtime::AuthDecision::Allow) => Ok(()),
                other => Err(anyhow!("hmac-auth did not allow: {other:?}")),
            }
        };
        let call = || call_of(&prepared);
        let native_hmac = sample(1000, iterations * 10, budget, || {
            let sig = request.headers.iter().find(|(k, _)| k == "x-signature").map(|(_, v)| v.as_str()).unwrap_or("");
            if hmac_sha256_hex(secret.as_bytes(), &request.body) == sig {
                Ok(())
            } else {
                Err(anyhow!("native hmac mismatch"))
            }
        })?;
        let s = sample(20, iterations, budget, call)?;
        median_and_p99(&mut table, "`hmac-auth` (Rust authenticator)", &s, &native_hmac, "native HMAC-SHA256 check");
        against_rows(&mut table, "hmac-auth", &prepared, &call_of)?;
    }
    table.note(format!(
        "one thread, `hookgate::runtime::Runtime` with `GuestLimits::default()` (the gateway's code path: \
         `Runtime::transform` / `authenticate`); native baseline: {} calls",
        native.0.len()
    ));
    Ok(WasmResult { table, medians_us })
}
