//! Where things are: the repository, the guest components, the compile cache, the gateway
//! binary.

use std::path::{Path, PathBuf};

/// The repository root (`tests/..`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `<repo>/guest-examples/dist`, where `guest-examples/build.sh` puts the guest components.
pub fn components_dir() -> PathBuf {
    repo_root().join("guest-examples").join("dist")
}

/// `<repo>/guest-examples/dist/<name>.wasm`; panics when it has not been built.
pub fn component_path(name: &str) -> PathBuf {
    let path = components_dir().join(format!("{name}.wasm"));
    if !path.is_file() {
        panic!(
            "guest component {} is missing: run guest-examples/build.sh first",
            path.display()
        );
    }
    path
}

/// `<repo>/target/hookgate-compile-cache`: every gateway started by the tests or the bench
/// shares compiled components there (`HOOKGATE_COMPILE_CACHE`), so each is compiled once.
pub fn compile_cache_dir() -> PathBuf {
    repo_root().join("target").join("hookgate-compile-cache")
}

/// The gateway binary: `$HOOKGATE_BIN`, else `target/<profile>/hookgate` next to the test binary.
pub fn gateway_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("HOOKGATE_BIN") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            panic!("HOOKGATE_BIN={} does not exist", p.display());
        }
        return p;
    }
    let exe = std::env::current_exe().expect("current_exe");
    // target/debug/deps/<test>-<hash> -> target/debug/hookgate
    let mut candidates = Vec::new();
    if let Some(deps) = exe.parent() {
        candidates.push(deps.join("hookgate"));
        if let Some(profile) = deps.parent() {
            candidates.push(profile.join("hookgate"));
        }
    }
    for c in &candidates {
        if c.is_file() {
            return c.clone();
        }
    }
    panic!(
        "the hookgate binary was not found (looked at {:?}): build it with `cargo build -p hookgate` \
         or point HOOKGATE_BIN at it",
        candidates
    );
}
