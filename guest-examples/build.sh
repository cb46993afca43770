#!/usr/bin/env bash
# Builds every guest example into a WebAssembly component and copies it to
# guest-examples/dist/<name>.wasm (the component name is the file name).
#
#   bash guest-examples/build.sh            # from any directory; reads no stdin
#
# One function per language; `main` at the bottom calls them in turn. Each function builds the
# examples of its language and puts them into "$DIST" with `install_component`. Rebuilding is
# cheap when nothing changed (cargo skips up-to-date crates).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIST="$HERE/dist"

log() { printf '[build.sh] %s\n' "$*" >&2; }

# install_component SOURCE.wasm NAME: copies a built component to $DIST/NAME.wasm.
install_component() {
    local src="$1" name="$2"
    if [[ ! -s "$src" ]]; then
        log "error: $src was not produced"
        exit 1
    fi
    cp -f "$src" "$DIST/$name.wasm"
    log "$name.wasm ($(wc -c <"$DIST/$name.wasm") bytes)"
}

# ---------------------------------------------------------------------------------------------
# Rust: guest-examples/rust is a cargo workspace of its own, one cdylib crate per component,
# all using the SDK in ../sdk. The SDK needs no per-world feature, so one cargo invocation
# builds them all; each crate's component exports only the interface of its own world.
# ---------------------------------------------------------------------------------------------
RUST_EXAMPLES=(
    hmac-auth
    adobe-to-json
    json-ok-condition
    hostile-loop
    hostile-alloc
    hostile-recursion
    hostile-output
    hostile-panic
    hostile-escape
)

build_rust() {
    local target=wasm32-wasip2
    local workspace="$HERE/rust"
    if ! command -v cargo >/dev/null 2>&1; then
        log "error: cargo not found (install Rust with rustup)"
        exit 1
    fi
    if command -v rustup >/dev/null 2>&1; then
        if ! rustup target list --installed | grep -qx "$target"; then
            log "installing the Rust target $target"
            rustup target add "$target"
        fi
    else
        log "warning: rustup not found; assuming the $target target is installed"
    fi

    local packages=()
    local name
    for name in "${RUST_EXAMPLES[@]}"; do
        packages+=(-p "$name")
    done
    log "building the Rust examples (cargo build --release --target $target)"
    # Own target dir whatever the caller's environment says, so the paths below hold.
    CARGO_TARGET_DIR="$workspace/target" \
        cargo build --manifest-path "$workspace/Cargo.toml" --release \
        --target "$target" "${packages[@]}" </dev/null

    for name in "${RUST_EXAMPLES[@]}"; do
        install_component "$workspace/target/$target/release/${name//-/_}.wasm" "$name"
    done
}

main() {
    mkdir -p "$DIST"
    build_rust
    # Other languages go here, e.g. build_js, build_python (one function each, as above).
    log "done: $DIST"
}

main "$@"
