//! Running user components with wasmtime. This is the only module that knows wasmtime.
//!
//! One [`Engine`] for the process, one [`Linker`] with WASI and the `host` interface, an
//! epoch ticker thread that drives every call's time budget, and per component an
//! `InstancePre` so that a call is "new store, instantiate, call" and nothing else.
//! Every call gets a fresh store: no state leaks from one event to the next.

pub mod bindings;
mod inspect;
pub mod json;
mod registry;
mod sandbox;

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine};

pub use bindings::types::{
    AuthDecision, IncomingRequest, Message as GuestMessage, OutgoingRequest, Response as GuestResponse,
    TransformResult, Verdict,
};
pub use inspect::{ComponentError, Inspection};
pub use registry::{compile_cached, sha256_hex, Registry, ResolveError};
pub use sandbox::{CallReport, GuestError, GuestLimits};

use bindings::{authenticator::AuthenticatorPre, condition::ConditionPre, transformer::TransformerPre};
use sandbox::{GuestState, Sandbox, EPOCH_TICK};

use crate::model::World;

/// The wasmtime engine, linker and limits shared by every guest call.
pub struct Runtime {
    engine: Engine,
    linker: Linker<GuestState>,
    limits: GuestLimits,
}

/// A compiled component, ready to instantiate in its world.
#[derive(Clone)]
pub struct Prepared {
    pub world: World,
    pre: PreparedWorld,
}

#[derive(Clone)]
enum PreparedWorld {
    Authenticator(AuthenticatorPre<GuestState>),
    Transformer(TransformerPre<GuestState>),
    Condition(ConditionPre<GuestState>),
}

/// The result of one guest call with what the guest logged and how long it took.
#[derive(Debug)]
pub struct GuestCall<T> {
    pub result: Result<T, GuestError>,
    pub report: CallReport,
    pub duration: Duration,
}

impl<T> GuestCall<T> {
    /// `ok`, or the error code of the call.
    pub fn outcome(&self) -> &'static str {
        self.result.as_ref().err().map_or("ok", |e| e.code().as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot start the WebAssembly runtime: {0}")]
pub struct RuntimeError(String);

impl Runtime {
    pub fn new(limits: GuestLimits) -> Result<Arc<Runtime>, RuntimeError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(config.clone().allocation_strategy(pooling(&limits)))
            .or_else(|e| {
                tracing::warn!("the pooling instance allocator is unavailable ({e:#}); allocating per call");
                Engine::new(&config)
            })
            .map_err(|e| RuntimeError(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| RuntimeError(format!("{e:#}")))?;
        bindings::host::add_to_linker::<GuestState, HasSelf<GuestState>>(&mut linker, |s| s)
            .map_err(|e| RuntimeError(format!("{e:#}")))?;
        spawn_epoch_ticker(&engine);
        Ok(Arc::new(Runtime { engine, linker, limits }))
    }

    pub fn limits(&self) -> &GuestLimits {
        &self.limits
    }

    /// Identifies the engine's code format: a compiled artifact is only reused by an
    /// engine with the same hash.
    pub fn engine_hash(&self) -> String {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }

    /// The key of a component's compiled code: the sha256 of its bytes and this engine's
    /// code format.
    pub fn artifact_key(&self, sha256: &str) -> String {
        format!("{sha256}:{}", self.engine_hash())
    }

    /// Validates and compiles a component. Returns what it is and the serialized
    /// compiled code, to be stored so the same bytes are never compiled twice.
    pub fn compile(&self, wasm: &[u8]) -> Result<(Inspection, Prepared, Vec<u8>), ComponentError> {
        inspect::check_binary(wasm)?;
        let component = Component::new(&self.engine, wasm).map_err(|e| ComponentError::Invalid(format!("{e:#}")))?;
        let inspection = inspect::inspect(&self.engine, &component)?;
        let prepared = self.prepare(&component, inspection.world)?;
        let artifact = component.serialize().map_err(|e| ComponentError::Invalid(format!("{e:#}")))?;
        Ok((inspection, prepared, artifact))
    }

    /// Loads code compiled earlier by [`Runtime::compile`] in an engine with the same hash.
    pub fn load_artifact(&self, artifact: &[u8]) -> Result<(Inspection, Prepared), ComponentError> {
        // SAFETY: artifacts are produced by `Component::serialize` of this engine
        // configuration and stored by the gateway itself, keyed by `engine_hash`; wasmtime
        // additionally checks the header and compatibility before using them.
        let component = unsafe { Component::deserialize(&self.engine, artifact) }
            .map_err(|e| ComponentError::Invalid(format!("stored artifact unusable: {e:#}")))?;
        let inspection = inspect::inspect(&self.engine, &component)?;
        let prepared = self.prepare(&component, inspection.world)?;
        Ok((inspection, prepared))
    }

    fn prepare(&self, component: &Component, world: World) -> Result<Prepared, ComponentError> {
        let instance_pre = self
            .linker
            .instantiate_pre(component)
            .map_err(|e| ComponentError::Imports(format!("{e:#}")))?;
        let bind = |e: wasmtime::Error| ComponentError::Invalid(format!("{e:#}"));
        let pre = match world {
            World::Authenticator => PreparedWorld::Authenticator(AuthenticatorPre::new(instance_pre).map_err(bind)?),
            World::Transformer => PreparedWorld::Transformer(TransformerPre::new(instance_pre).map_err(bind)?),
            World::Condition => PreparedWorld::Condition(ConditionPre::new(instance_pre).map_err(bind)?),
        };
        Ok(Prepared { world, pre })
    }

    /// Runs `call` in a fresh sandbox. Blocking: run it off the async executor.
    fn run<T>(
        &self,
        config: BTreeMap<String, serde_json::Value>,
        call: impl FnOnce(&mut wasmtime::Store<GuestState>) -> wasmtime::Result<T>,
        output_size: impl FnOnce(&T) -> usize,
    ) -> GuestCall<T> {
        let started = Instant::now();
        let mut sandbox = Sandbox::new(&self.engine, &self.limits, config);
        let result = match call(&mut sandbox.store) {
            Ok(value) => {
                let size = output_size(&value);
                if size > self.limits.output_bytes {
                    Err(GuestError::OutputTooLarge { size, cap: self.limits.output_bytes })
                } else {
                    Ok(value)
                }
            }
            Err(error) => Err(sandbox.classify(error)),
        };
        GuestCall { result, report: sandbox.finish(), duration: started.elapsed() }
    }

    pub fn authenticate(
        &self,
        prepared: &Prepared,
        config: BTreeMap<String, serde_json::Value>,
        request: &IncomingRequest,
    ) -> GuestCall<AuthDecision> {
        let PreparedWorld::Authenticator(pre) = &prepared.pre else {
            return wrong_world(World::Authenticator, prepared.world);
        };
        self.run(
            config,
            |store| pre.instantiate(&mut *store)?.hookgate_plugin_authenticate().call_check(store, request),
            |decision| match decision {
                AuthDecision::Allow => 0,
                AuthDecision::Deny(reason) => reason.len(),
            },
        )
    }

    pub fn transform(
        &self,
        prepared: &Prepared,
        config: BTreeMap<String, serde_json::Value>,
        message: &GuestMessage,
        draft: &OutgoingRequest,
    ) -> GuestCall<TransformResult> {
        let PreparedWorld::Transformer(pre) = &prepared.pre else {
            return wrong_world(World::Transformer, prepared.world);
        };
        self.run(
            config,
            |store| pre.instantiate(&mut *store)?.hookgate_plugin_transform().call_transform(store, message, draft),
            |result| match result {
                TransformResult::Send(request) => request_size(request),
                TransformResult::Skip(reason) | TransformResult::Error(reason) => reason.len(),
            },
        )
    }

    pub fn evaluate(
        &self,
        prepared: &Prepared,
        config: BTreeMap<String, serde_json::Value>,
        request: &OutgoingRequest,
        response: &GuestResponse,
        attempt: u32,
    ) -> GuestCall<Verdict> {
        let PreparedWorld::Condition(pre) = &prepared.pre else {
            return wrong_world(World::Condition, prepared.world);
        };
        self.run(
            config,
            |store| {
                pre.instantiate(&mut *store)?.hookgate_plugin_evaluate().call_evaluate(store, request, response, attempt)
            },
            |verdict| match verdict {
                Verdict::Fail(reason) => reason.len(),
                _ => 0,
            },
        )
    }
}

fn request_size(request: &OutgoingRequest) -> usize {
    request.body.len()
        + request.url.len()
        + request.method.len()
        + request.headers.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
}

fn wrong_world<T>(expected: World, actual: World) -> GuestCall<T> {
    GuestCall {
        result: Err(GuestError::Instantiate(format!("a {actual} component cannot be used as a {expected}"))),
        report: CallReport::default(),
        duration: Duration::ZERO,
    }
}

/// Guest calls that may run at once. The instance pool has room for these plus
/// a few spare ones; callers on the gateway's hot path wait for a slot
/// ([`crate::App::call_guest`]), so the pool never runs out under load.
pub const MAX_CONCURRENT_CALLS: usize = 96;
/// Pool room for calls outside the hot path (dry runs, the CLI).
const SPARE_INSTANCES: u32 = 32;

/// Instances come from a pool of pre-reserved slots that are reset, not unmapped, after
/// each call: a fresh sandbox per call without an mmap/munmap pair per call (which also
/// contends on the process's memory map when calls run on many threads). Memory images
/// are copy-on-write (wasmtime's default), so instantiation does not copy data segments.
fn pooling(limits: &GuestLimits) -> wasmtime::InstanceAllocationStrategy {
    let instances = MAX_CONCURRENT_CALLS as u32 + SPARE_INSTANCES;
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    // Components built with componentize-js/-py hold a dozen or more core instances,
    // memories and tables; table sizes follow their function counts.
    pool.total_component_instances(instances)
        .max_core_instances_per_component(64)
        .total_core_instances(instances * 32)
        .max_memories_per_component(16)
        .total_memories(instances * 4)
        .max_tables_per_component(16)
        .total_tables(instances * 4)
        .table_elements(200_000)
        .max_memory_size(limits.memory_bytes.max(1 << 16))
        // Reset a slot by rewriting only its dirty pages (found with PAGEMAP_SCAN where
        // the kernel has it), not with madvise, which shoots down TLBs on every thread.
        .linear_memory_keep_resident(16 << 20)
        .table_keep_resident(1 << 20)
        .pagemap_scan(wasmtime::Enabled::Auto);
    wasmtime::InstanceAllocationStrategy::Pooling(pool)
}

/// One thread for the whole process advances the engine's epoch; each store's deadline is
/// counted in these ticks. The thread ends when the engine is dropped.
fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new().name("hookgate-epoch".into()).spawn(move || loop {
        std::thread::sleep(EPOCH_TICK);
        match weak.upgrade() {
            Some(engine) => engine.increment_epoch(),
            None => return,
        }
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start the epoch ticker, guest time budgets will not be enforced: {e}");
    }
}
