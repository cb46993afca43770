#!/usr/bin/env bash
# Builds this component into dist/{{name}}.wasm.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
cargo build --release --target wasm32-wasip2 </dev/null
mkdir -p dist
cp "${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release/$(echo '{{name}}' | tr - _).wasm" "dist/{{name}}.wasm"
echo "built dist/{{name}}.wasm"
