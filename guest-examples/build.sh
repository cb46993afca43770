#!/usr/bin/env bash
# Builds every guest example into a WebAssembly component and copies it to
# guest-examples/dist/<name>.wasm (the component name is the file name).
#
#   bash guest-examples/build.sh            # from any directory; reads no stdin
#
# One function per language; `main` at the bottom calls them in turn. Each function builds the
# examples of its language and puts them into "$DIST" with `install_component`. Rebuilding is
# cheap when nothing changed (cargo skips up-to-date crates; the JavaScript and Python builds
# skip a component whose inputs and tool version match the stamp left next to it in dist/).
# The JavaScript and Python tools are installed from npm and PyPI, at pinned versions, into
# guest-examples/.tools/ (ignored by git) the first time they are needed.
set -euo pipefail

# The physical path: run through a symlink (as the README test does), the builds still see
# the paths they were made from and stay up to date.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
DIST="$HERE/dist"

log() { printf '[build.sh] %s\n' "$*" >&2; }

# install_component SOURCE.wasm NAME: copies a built component to $DIST/NAME.wasm.
install_component() {
    local src="$1" name="$2"
    if [[ ! -s "$src" ]]; then
        log "error: $src was not produced"
        exit 1
    fi
    # Copy, then rename: a test reading the component meanwhile sees the old or the new one whole.
    cp -f "$src" "$DIST/.$name.copy.wasm"
    mv -f "$DIST/.$name.copy.wasm" "$DIST/$name.wasm"
    log "$name.wasm ($(wc -c <"$DIST/$name.wasm") bytes)"
}

# hash_inputs FILE...: one sha256 over the names and contents of the given files (in order).
hash_inputs() {
    local f
    for f in "$@"; do
        printf '%s\n' "${f#"$HERE/"}"
        sha256sum <"$f"
    done | sha256sum | cut -d' ' -f1
}

# build_if_changed NAME STAMP COMMAND...: unless $DIST/NAME.wasm was built from inputs
# hashing to STAMP, runs COMMAND with $OUT set to a scratch file it must write the component
# to, installs that as NAME and records STAMP. These builds take seconds to minutes.
build_if_changed() {
    local name="$1" stamp="$2"
    shift 2
    if [[ -s "$DIST/$name.wasm" && -f "$DIST/.$name.stamp" && "$(cat "$DIST/.$name.stamp")" == "$stamp" ]]; then
        log "$name.wasm is up to date"
        return
    fi
    log "building $name"
    rm -f "$DIST/.$name.stamp"
    OUT="$DIST/.$name.partial.wasm" "$@" </dev/null
    install_component "$DIST/.$name.partial.wasm" "$name"
    rm -f "$DIST/.$name.partial.wasm"
    printf '%s\n' "$stamp" >"$DIST/.$name.stamp"
}

# sources_hash DIR PATTERN: hash_inputs over the component's files and the contract.
sources_hash() {
    local files
    mapfile -t files < <(find "$1" "$HERE/../wit" -type f \( -name "$2" -o -name '*.wit' \) | LC_ALL=C sort)
    hash_inputs "${files[@]}"
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
    hostile-remember
    hostile-retarget
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

# ---------------------------------------------------------------------------------------------
# JavaScript: guest-examples/js, one folder per component (index.js, an ES module), sharing
# each stands alone and is made a
# component with componentize-js (SpiderMonkey inside, ~12 MB), whose exact version is pinned
# in js/package.json and js/package-lock.json and installed into .tools/npm. The features the
# gateway does not offer (wasi:http) or the examples do not need (random, clocks) are
# disabled; stdio stays, so that an uncaught exception reaches the attempt's guest logs.
# ---------------------------------------------------------------------------------------------
JS_EXAMPLES=(
    js-adobe-to-json:transformer
    js-json-ok-condition:condition
)
JS_DISABLED_FEATURES=(http fetch-event random clocks)

build_js() {
    local src="$HERE/js" tools="$HERE/.tools/npm"
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        log "error: node and npm are needed for the JavaScript examples (Node.js 18 or later)"
        exit 1
    fi
    # (Re)install when the pinned versions changed. `npm install` with the committed lock file
    # (not `npm ci`: npm records no entries for other platforms' optional packages, which
    # `npm ci` then refuses as out of sync).
    local lock_hash
    lock_hash="$(hash_inputs "$src/package.json" "$src/package-lock.json")"
    if [[ ! -f "$tools/.installed-$lock_hash" ]]; then
        log "installing componentize-js into ${tools#"$HERE/"} (npm)"
        rm -rf "$tools"
        mkdir -p "$tools"
        cp "$src/package.json" "$src/package-lock.json" "$tools/"
        (cd "$tools" && npm install --no-audit --no-fund --no-save --loglevel=error </dev/null)
        touch "$tools/.installed-$lock_hash"
    fi
    local cli="$tools/node_modules/.bin/componentize-js"
    local version
    version="$(node -p 'require(process.argv[1]).version' \
        "$tools/node_modules/@bytecodealliance/componentize-js/package.json")"
    local disable=() feature
    for feature in "${JS_DISABLED_FEATURES[@]}"; do
        disable+=(--disable "$feature")
    done

    componentize_js() {
        "$cli" "$src/$name/index.js" --wit "$HERE/../wit" --world-name "hookgate:plugin/$world@0.1.0" \
            "${disable[@]}" --out "$OUT"
    }
    local entry name world
    for entry in "${JS_EXAMPLES[@]}"; do
        name="${entry%%:*}" world="${entry#*:}"
        build_if_changed "$name" \
            "componentize-js $version $lock_hash ${JS_DISABLED_FEATURES[*]} $(sources_hash "$src/$name" '*.js')" \
            componentize_js
    done
}

# ---------------------------------------------------------------------------------------------
# Python: guest-examples/python, one folder per component (app.py, the module componentize-py
# wraps); each stands alone and is made a component with componentize-py (CPython inside, ~18 MB), installed at the
# pinned version into .tools/python with pip.
# ---------------------------------------------------------------------------------------------
PY_EXAMPLES=(
    py-adobe-to-json:transformer
    py-hmac-auth:authenticator
)
COMPONENTIZE_PY_VERSION=0.25.1

build_python() {
    local src="$HERE/python" tools="$HERE/.tools/python" python
    python="$(command -v python3 || true)"
    if [[ -z "$python" ]]; then
        log "error: python3 (with pip) is needed for the Python examples"
        exit 1
    fi
    if [[ ! -f "$tools/.installed-componentize-py-$COMPONENTIZE_PY_VERSION" ]]; then
        log "installing componentize-py $COMPONENTIZE_PY_VERSION into ${tools#"$HERE/"} (pip)"
        rm -rf "$tools"
        "$python" -m pip install --quiet --disable-pip-version-check --no-input --root-user-action=ignore \
            --target "$tools" "componentize-py==$COMPONENTIZE_PY_VERSION" </dev/null
        touch "$tools/.installed-componentize-py-$COMPONENTIZE_PY_VERSION"
    fi
    # The tool is a Python extension module: run it with the tools folder on sys.path, but
    # not through PYTHONPATH, so that nothing of it leaks into the component's module path.
    componentize_py() {
        "$python" -c 'import sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = "componentize-py"
from componentize_py import script; sys.exit(script())' "$tools" "$@" </dev/null
    }

    componentize_python() {
        componentize_py --quiet --wit-path "$HERE/../wit" --world "hookgate:plugin/$world@0.1.0" \
            componentize app --python-path "$src/$name" --output "$OUT"
    }
    local entry name world
    for entry in "${PY_EXAMPLES[@]}"; do
        name="${entry%%:*}" world="${entry#*:}"
        build_if_changed "$name" "componentize-py $COMPONENTIZE_PY_VERSION $(sources_hash "$src/$name" '*.py')" \
            componentize_python
    done
}

main() {
    mkdir -p "$DIST"
    build_rust
    build_js
    build_python
    log "done: $DIST"
}

main "$@"
