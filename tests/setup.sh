#!/usr/bin/env bash
# Installs what the end-to-end tests use besides the gateway itself, into ignored folders
# of the repository; reads no stdin and does nothing when everything is there.
#   - the reference Standard Webhooks implementation (PyPI `standardwebhooks`), which the
#     tests use to verify delivery signatures independently of the gateway's own code.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$repo/target/test-tools/python"
STANDARDWEBHOOKS=standardwebhooks==1.1.0

if [[ ! -f "$tools/.installed-$STANDARDWEBHOOKS" ]]; then
    echo "[setup.sh] installing $STANDARDWEBHOOKS into $tools" >&2
    python3 -m pip install --quiet --disable-pip-version-check --target "$tools" "$STANDARDWEBHOOKS" </dev/null
    touch "$tools/.installed-$STANDARDWEBHOOKS"
fi
