#!/usr/bin/env bash
# Builds this component into dist/{{name}}.wasm with componentize-py (installed into .tools).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
[[ -x .tools/bin/componentize-py ]] || python3 -m pip install --quiet --target .tools componentize-py==0.17.2 </dev/null
mkdir -p dist
PYTHONPATH=.tools .tools/bin/componentize-py --wit-path wit --world {{world}} componentize app -o dist/{{name}}.wasm
echo "built dist/{{name}}.wasm"
