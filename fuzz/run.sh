#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer) of the gateway's untrusted-input parsers:
# builds every target in fuzz/fuzz_targets/ once, then runs each for FUZZ_SECONDS over a
# scratch copy of its committed seed corpus (fuzz/corpus/<target>/, never written to).
# Exits non-zero if any target finds a crash; the input is kept in fuzz/artifacts/<target>/.
#
#   bash fuzz/run.sh                    # from any directory; reads no stdin
#   FUZZ_SECONDS=600 bash fuzz/run.sh   # longer runs (default 30 s per target)
#
# Reproduce a crash: cargo +nightly fuzz run -O -a --sanitizer none --codegen-units 16 TARGET fuzz/artifacts/TARGET/crash-...
# (the build output is in ~/.cache/hookgate/fuzz-target, or $HOOKGATE_FUZZ_TARGET_DIR)
set -euo pipefail

CARGO_FUZZ_VERSION=0.13.2
SECONDS_PER_TARGET="${FUZZ_SECONDS:-30}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ="$ROOT/fuzz"
cd "$ROOT"

log() { printf '[fuzz/run.sh] %s\n' "$*" >&2; }

if ! cargo +nightly --version >/dev/null 2>&1; then
    log "error: libFuzzer needs a nightly Rust toolchain and there is none (rustup toolchain install nightly)"
    exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" </dev/null
fi

# Build flags, the same for the build and for reproducing a crash:
# - no sanitizer: the code under test is safe Rust, where a bug shows as a panic or a failed
#   assertion, not as the memory errors AddressSanitizer finds; without it the targets build
#   faster (wasmtime and Cranelift are most of the build) and run about twice as fast;
# - debug assertions (-a), which also turn on integer overflow checks;
# - release (-O): optimised, as the gateway runs;
# - 16 codegen units instead of cargo-fuzz's 1: on two cores the build of wasmtime and
#   Cranelift is the bulk of a CI run, and short runs lose little to the slower code.
# - the build output outside the checkout (HOOKGATE_FUZZ_TARGET_DIR, else the user's cache),
#   so a fresh clone on a machine that fuzzed before does not compile wasmtime again.
TARGET_DIR="${HOOKGATE_FUZZ_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hookgate/fuzz-target}"
BUILD_FLAGS=(-O -a --sanitizer none --codegen-units 16 --target-dir "$TARGET_DIR")
log "building the fuzz targets (the first build compiles wasmtime: minutes)"
cargo +nightly fuzz build "${BUILD_FLAGS[@]}" </dev/null

HOST="$(rustc +nightly -vV | sed -n 's/^host: //p')"
BIN="$TARGET_DIR/$HOST/release"
mapfile -t TARGETS < <(cargo +nightly fuzz list </dev/null)

SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
# The targets' scratch stores (see fuzz/src/lib.rs) go there too.
export TMPDIR="$SCRATCH"

# Largest input per target: enough for the seeds and their growth, small enough to keep
# every execution cheap.
max_len() {
    case "$1" in
        component) echo 16384 ;;
        event_config) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

summary=()
crashes=0
for target in "${TARGETS[@]}"; do
    corpus="$SCRATCH/corpus/$target"
    artifacts="$FUZZ/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    if [[ -d "$FUZZ/corpus/$target" ]]; then
        cp -R "$FUZZ/corpus/$target/." "$corpus/"
    fi
    options=(
        -max_total_time="$SECONDS_PER_TARGET"
        -max_len="$(max_len "$target")"
        -rss_limit_mb=2048
        -timeout=25
        -print_final_stats=1
        -artifact_prefix="$artifacts/"
    )
    if [[ -f "$FUZZ/dict/$target.dict" ]]; then
        options+=(-dict="$FUZZ/dict/$target.dict")
    fi
    log "$target: fuzzing for $SECONDS_PER_TARGET s"
    output="$SCRATCH/$target.log"
    status=0
    "$BIN/$target" "${options[@]}" "$corpus" </dev/null >"$output" 2>&1 || status=$?
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$output" | tail -n 1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$output" | tail -n 1)"
    found="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$output" | tail -n 1)"
    if [[ $status -ne 0 ]]; then
        crashes=$((crashes + 1))
        tail -n 60 "$output" >&2
        if [[ -n "$found" && -f "$found" ]]; then
            log "$target: CRASH, input $found"
            log "$target: input base64: $(base64 -w0 "$found")"
        else
            log "$target: the fuzzer exited with status $status and left no input"
        fi
        summary+=("fuzz: $target: CRASH after ${runs:-?} executions")
    else
        summary+=("fuzz: $target: ${runs:-?} executions in $SECONDS_PER_TARGET s (${rate:-?}/s)")
    fi
done

printf '%s\n' "${summary[@]}"
echo "fuzz: ${#TARGETS[@]} targets, $crashes crashes"
[[ $crashes -eq 0 ]]
