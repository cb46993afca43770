//! What an uploaded binary is: a component of which world, for which contract version,
//! importing what. Every refusal says what is wrong in words an integrator can act on.

use serde::Serialize;
use wasmtime::component::Component;
use wasmtime::Engine;

use super::bindings::{CONTRACT_PACKAGE, CONTRACT_VERSION};
use crate::model::World;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ComponentError {
    #[error("not a WebAssembly binary: it does not start with the `\\0asm` header")]
    NotWasm,
    #[error(
        "this is a core WebAssembly module, not a component; build a component instead \
         (cargo build --target wasm32-wasip2, componentize-js, componentize-py)"
    )]
    CoreModule,
    #[error("invalid component: {0}")]
    Invalid(String),
    #[error(
        "the component exports none of the hookgate worlds' interfaces \
         ({CONTRACT_PACKAGE}/authenticate, /transform or /evaluate @{CONTRACT_VERSION}); it exports: {0}"
    )]
    NoWorld(String),
    #[error("the component exports more than one world's interface ({0}); a component plays exactly one role")]
    SeveralWorlds(String),
    #[error(
        "the component was built for {CONTRACT_PACKAGE}@{found}, this gateway implements \
         {CONTRACT_PACKAGE}@{CONTRACT_VERSION}; rebuild it against the gateway's wit/"
    )]
    ContractVersion { found: String },
    #[error("the component imports something the gateway does not provide: {0}")]
    Imports(String),
}

/// The facts of a valid component.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub world: World,
    pub contract_version: String,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

/// The preamble of a WebAssembly binary: magic, then version and layer (1 for a core
/// module, 0x0d and layer 1 for a component).
const MAGIC: [u8; 4] = *b"\0asm";
const COMPONENT_VERSION: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];
const CORE_VERSION: [u8; 4] = [0x01, 0x00, 0x00, 0x00];

/// Cheap checks on the raw bytes before handing them to the compiler.
pub fn check_binary(wasm: &[u8]) -> Result<(), ComponentError> {
    let (magic, version) = (wasm.get(0..4), wasm.get(4..8));
    if magic != Some(&MAGIC[..]) {
        Err(ComponentError::NotWasm)
    } else if version == Some(&COMPONENT_VERSION[..]) {
        Ok(())
    } else if version == Some(&CORE_VERSION[..]) {
        Err(ComponentError::CoreModule)
    } else {
        Err(ComponentError::NotWasm)
    }
}

/// Splits `hookgate:plugin/transform@0.1.0` into (`transform`, `0.1.0`).
fn contract_interface(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix(CONTRACT_PACKAGE)?.strip_prefix('/')?;
    Some(rest.split_once('@').unwrap_or((rest, "")))
}

/// Semver compatibility as WIT uses it: same major, or for 0.x the same minor.
fn compatible(version: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(u64::MAX)).collect() };
    let (found, ours) = (parts(version), parts(CONTRACT_VERSION));
    match (found.as_slice(), ours.as_slice()) {
        ([0, fm, ..], [0, om, ..]) => fm == om,
        ([f, ..], [o, ..]) => f == o,
        _ => false,
    }
}

pub fn inspect(engine: &Engine, component: &Component) -> Result<Inspection, ComponentError> {
    let ty = component.component_type();
    let exports: Vec<String> = ty.exports(engine).map(|(name, _)| name.to_string()).collect();
    let imports: Vec<String> = ty.imports(engine).map(|(name, _)| name.to_string()).collect();

    for name in exports.iter().chain(&imports) {
        if let Some((_, version)) = contract_interface(name) {
            if !compatible(version) {
                return Err(ComponentError::ContractVersion { found: version.to_string() });
            }
        }
    }

    let worlds: Vec<World> = exports
        .iter()
        .filter_map(|name| contract_interface(name))
        .filter_map(|(iface, _)| World::ALL.into_iter().find(|w| w.export_interface() == iface))
        .collect();
    let world = match worlds.as_slice() {
        [world] => *world,
        [] => {
            let listed = if exports.is_empty() { "nothing".to_string() } else { exports.join(", ") };
            return Err(ComponentError::NoWorld(listed));
        }
        several => {
            let names: Vec<&str> = several.iter().map(|w| w.as_str()).collect();
            return Err(ComponentError::SeveralWorlds(names.join(", ")));
        }
    };
    Ok(Inspection { world, contract_version: CONTRACT_VERSION.to_string(), imports, exports })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incompatible_contract_is_refused_naming_both_versions() {
        let refusal = ComponentError::ContractVersion { found: "0.2.0".into() }.to_string();
        assert!(refusal.contains("hookgate:plugin@0.2.0") && refusal.contains("hookgate:plugin@0.1.0"), "{refusal}");
    }

    #[test]
    fn contract_versions_follow_wit_semver() {
        assert!(compatible("0.1.0"));
        assert!(compatible("0.1.7"));
        assert!(!compatible("0.2.0"));
        assert!(!compatible("1.0.0"));
        assert!(!compatible(""));
    }

    #[test]
    fn recognises_contract_interfaces() {
        assert_eq!(contract_interface("hookgate:plugin/transform@0.1.0"), Some(("transform", "0.1.0")));
        assert_eq!(contract_interface("wasi:cli/environment@0.2.0"), None);
    }

    #[test]
    fn tells_core_modules_from_components_and_garbage() {
        assert!(matches!(check_binary(b"\0asm\x01\0\0\0"), Err(ComponentError::CoreModule)));
        assert!(matches!(check_binary(b"hello world"), Err(ComponentError::NotWasm)));
        assert!(check_binary(b"\0asm\x0d\0\x01\0").is_ok());
    }
}
