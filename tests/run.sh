#!/usr/bin/env bash
# The whole test suite, from a fresh checkout: installs what the tests need (the
# wasm32-wasip2 target, guest toolchains), builds the guest components once, builds the
# workspace once, and runs every test (unit, SDK, end-to-end). Everything is built in the
# release profile, the one `cargo install --path host` (the README's first command) builds
# in the same target directory, so a fresh machine compiles wasmtime once.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

echo "== building guest components (guest-examples/build.sh)"
bash guest-examples/build.sh

echo "== installing test tools (tests/setup.sh)"
bash tests/setup.sh

echo "== building the gateway"
cargo build --locked --release -p hookgate --bins

echo "== running the tests"
# The SDK apart: its wit-bindgen asks for features of shared crates (indexmap's `default`)
# that would make the gateway's dependencies, wasmtime first, build a second time with them.
cargo test --locked --release --workspace --exclude hookgate-sdk "$@"
cargo test --locked --release -p hookgate-sdk "$@"
