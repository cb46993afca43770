#!/usr/bin/env bash
# Builds this component into dist/{{name}}.wasm with componentize-js (installed locally by npm).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
[[ -d node_modules/@bytecodealliance/componentize-js ]] || npm install --no-audit --no-fund --loglevel=error </dev/null
mkdir -p dist
# The gateway offers no wasi:http; leave out what the component does not use.
node_modules/.bin/componentize-js component.js --wit wit --world-name "hookgate:plugin/{{world}}@0.1.0" \
    --disable http --disable fetch-event --disable random --disable clocks --out dist/{{name}}.wasm </dev/null
echo "built dist/{{name}}.wasm"
