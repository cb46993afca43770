#!/usr/bin/env bash
# Builds this component into dist/{{name}}.wasm with componentize-py (installed into .tools).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
version=0.25.1
if [[ ! -f ".tools/.installed-$version" ]]; then
    python3 -m pip install --quiet --disable-pip-version-check --target .tools "componentize-py==$version" </dev/null
    touch ".tools/.installed-$version"
fi
mkdir -p dist
# Run the tool with .tools on its own sys.path only, so none of it ends up in the component.
python3 -c 'import sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = "componentize-py"
from componentize_py import script; sys.exit(script())' .tools \
    --wit-path wit --world "hookgate:plugin/{{world}}@0.1.0" componentize app --python-path . \
    --output dist/{{name}}.wasm </dev/null
echo "built dist/{{name}}.wasm"
