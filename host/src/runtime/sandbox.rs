//! The sandbox one guest call runs in: a fresh store whose WASI context has no files, no
//! environment, no network and captured stdio, with a memory cap and a time budget.

use std::collections::BTreeMap;
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::host::{self, Level};
use crate::model::{FailureCode, GuestLog};

/// Limits applied to every guest call.
#[derive(Debug, Clone)]
pub struct GuestLimits {
    /// Cap on the linear memory of the component (all memories together).
    pub memory_bytes: usize,
    /// Wall-clock budget of one call, instantiation included.
    pub time: Duration,
    /// Cap on the size of what a guest returns (bodies and headers together).
    pub output_bytes: usize,
    /// Cap on what a guest may log (log import and stdio together).
    pub log_bytes: usize,
}

impl Default for GuestLimits {
    fn default() -> Self {
        GuestLimits {
            memory_bytes: 64 << 20,
            time: Duration::from_millis(200),
            output_bytes: 4 << 20,
            log_bytes: 64 << 10,
        }
    }
}

/// Why a guest call did not produce a result. `code()` is the stable error code.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GuestError {
    #[error("the component trapped: {0}")]
    Trap(String),
    #[error("the component ran longer than its time budget of {0:?}")]
    Timeout(Duration),
    #[error("the component tried to use more than its memory cap of {0} bytes")]
    MemoryLimit(usize),
    #[error("the component returned {size} bytes, more than the output cap of {cap} bytes")]
    OutputTooLarge { size: usize, cap: usize },
    #[error("the component could not be instantiated: {0}")]
    Instantiate(String),
}

impl GuestError {
    pub fn code(&self) -> FailureCode {
        match self {
            GuestError::Trap(_) => FailureCode::GuestTrap,
            GuestError::Timeout(_) => FailureCode::GuestTimeout,
            GuestError::MemoryLimit(_) => FailureCode::GuestMemoryLimit,
            GuestError::OutputTooLarge { .. } => FailureCode::GuestOutputTooLarge,
            GuestError::Instantiate(_) => FailureCode::GuestInstantiate,
        }
    }
}

/// Raised from the limiter so that a denied memory growth ends the call at once, with a
/// cause we can recognise, rather than letting the guest fail in its own confusing way.
#[derive(Debug)]
struct MemoryCapReached;

impl std::fmt::Display for MemoryCapReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("memory cap reached")
    }
}

impl std::error::Error for MemoryCapReached {}

struct Limiter {
    memory_cap: usize,
    peak_memory: usize,
    memory_cap_hit: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.memory_cap_hit = true;
            return Err(wasmtime::Error::new(MemoryCapReached));
        }
        self.peak_memory = self.peak_memory.max(desired).max(current);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// The host state of one guest call.
pub struct GuestState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
    config: BTreeMap<String, serde_json::Value>,
    logs: Vec<GuestLog>,
    log_budget: usize,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl host::Host for GuestState {
    fn log(&mut self, level: Level, message: String) {
        let level = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        tracing::debug!(target: "hookgate::guest", level, "{message}");
        self.push_log(level, message);
    }

    fn config(&mut self, key: String) -> Option<String> {
        self.config.get(&key).map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }
}

impl GuestState {
    fn push_log(&mut self, level: &str, mut message: String) {
        if self.log_budget == 0 {
            return;
        }
        if message.len() > self.log_budget {
            let mut cut = self.log_budget;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str(" [log cap reached]");
        }
        self.log_budget = self.log_budget.saturating_sub(message.len());
        self.logs.push(GuestLog { level: level.to_string(), message });
    }

    /// The guest's log lines, stdout and stderr included, in that order.
    fn take_logs(&mut self) -> Vec<GuestLog> {
        for (level, pipe) in [("stdout", self.stdout.clone()), ("stderr", self.stderr.clone())] {
            let text = String::from_utf8_lossy(&pipe.contents()).into_owned();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                self.push_log(level, line.to_string());
            }
        }
        std::mem::take(&mut self.logs)
    }
}

/// A store set up for one call, and what it observed once the call is over.
pub struct Sandbox {
    pub store: Store<GuestState>,
    budget: Duration,
}

/// What a sandboxed call left behind besides its result.
#[derive(Debug, Default, Clone)]
pub struct CallReport {
    pub logs: Vec<GuestLog>,
    pub peak_memory: usize,
}

/// Epoch ticks per second: the granularity of the time budget.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

impl Sandbox {
    pub fn new(engine: &wasmtime::Engine, limits: &GuestLimits, config: BTreeMap<String, serde_json::Value>) -> Sandbox {
        let stdout = MemoryOutputPipe::new(limits.log_bytes);
        let stderr = MemoryOutputPipe::new(limits.log_bytes);
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = GuestState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter { memory_cap: limits.memory_bytes, peak_memory: 0, memory_cap_hit: false },
            config,
            logs: Vec::new(),
            log_budget: limits.log_bytes,
            stdout,
            stderr,
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limiter);
        let ticks = limits.time.as_millis().div_ceil(EPOCH_TICK.as_millis()) as u64 + 1;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        Sandbox { store, budget: limits.time }
    }

    /// Turns a wasmtime error of this call into a [`GuestError`].
    pub fn classify(&self, error: wasmtime::Error) -> GuestError {
        let limiter = &self.store.data().limiter;
        if limiter.memory_cap_hit || error.is::<MemoryCapReached>() {
            return GuestError::MemoryLimit(limiter.memory_cap);
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => GuestError::Timeout(self.budget),
            Some(trap) => GuestError::Trap(format!("{trap}{}", panic_hint(&self.store))),
            None => GuestError::Trap(format!("{error:#}")),
        }
    }

    pub fn finish(mut self) -> CallReport {
        let peak_memory = self.store.data().limiter.peak_memory;
        CallReport { logs: self.store.data_mut().take_logs(), peak_memory }
    }
}

/// A guest that panics reports its message (to stderr, or through the `log` import as the
/// SDK does) before trapping with `unreachable`; quote it so the trap says more than that.
fn panic_hint(store: &Store<GuestState>) -> String {
    let stderr = String::from_utf8_lossy(&store.data().stderr.contents()).into_owned();
    let logged = store.data().logs.iter().rev().map(|l| l.message.as_str());
    let Some(text) = std::iter::once(stderr.as_str()).chain(logged).find(|t| t.contains("panicked")) else {
        return String::new();
    };
    let start = text.find("panicked").unwrap_or(0);
    let quoted: String = text[start..].split_whitespace().collect::<Vec<_>>().join(" ");
    format!(" ({})", quoted.chars().take(500).collect::<String>())
}
