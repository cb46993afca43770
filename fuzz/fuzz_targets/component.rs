//! Component validation at upload (`PUT /v1/components/{name}` runs `Registry::upload`, which
//! validates, compiles and inspects the bytes with `Runtime::compile`; this runs the same
//! without storing): no bytes panic the gateway, bytes that fail the cheap header check are
//! refused, and an accepted component plays exactly one world whose interface it exports.
#![no_main]

use hookgate::runtime::ComponentError;
use hookgate_fuzz::registry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|wasm: &[u8]| {
    let runtime = registry().runtime();
    match runtime.compile(wasm) {
        Ok((inspection, _, _)) => {
            assert!(wasm.starts_with(b"\0asm\x0d\0\x01\0"));
            let interface = format!("hookgate:plugin/{}@", inspection.world.export_interface());
            assert_eq!(inspection.exports.iter().filter(|e| e.starts_with(&interface)).count(), 1, "{inspection:?}");
        }
        Err(ComponentError::NotWasm | ComponentError::CoreModule) => {
            assert!(!wasm.starts_with(b"\0asm\x0d\0\x01\0"));
        }
        Err(_) => {}
    }
});
