#!/usr/bin/env bash
# Builds this component into dist/{{name}}.wasm with componentize-js (installed locally by npm).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
[[ -d node_modules/@bytecodealliance/componentize-js ]] || npm install --no-audit --no-fund </dev/null
mkdir -p dist
npx --no-install componentize-js --wit wit --world-name {{world}} --disable all --out dist/{{name}}.wasm component.js
echo "built dist/{{name}}.wasm"
