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

echo "== starting a throwaway PostgreSQL server (tests/postgres.sh)"
eval "$(bash tests/postgres.sh start)"
trap 'bash tests/postgres.sh stop' EXIT

echo "== building the gateway"
cargo build --locked --release -p hookgate --bins

echo "== running the tests"
# The SDK apart: its wit-bindgen asks for features of shared crates (indexmap's `default`)
# that would make the gateway's dependencies, wasmtime first, build a second time with them.
cargo test --locked --release --workspace --exclude hookgate-sdk "$@"
cargo test --locked --release -p hookgate-sdk "$@"

echo "== the end-to-end suites again, every gateway on PostgreSQL"
# The damaged-store test breaks the embedded store's files, which PostgreSQL does not have.
HOOKGATE_TEST_STORE=postgres cargo test --locked --release -p hookgate-tests \
    --test core --test seeds --test trust --test languages --test semantics --test traces -- --skip a_damaged_store_is_refused
