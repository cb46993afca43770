#!/usr/bin/env bash
# Installs what the end-to-end tests use besides the gateway itself; reads no stdin and does
# nothing when everything is there:
#   - the reference Standard Webhooks implementation (PyPI `standardwebhooks`), which the
#     tests use to verify delivery signatures independently of the gateway's own code;
#   - Playwright for Python (PyPI), which drives the console's browser tests, and the
#     browser it drives: Chromium from Debian's packages (Playwright's own browser download
#     is never used);
#   - PostgreSQL from Debian's packages, for the store's PostgreSQL backend and the
#     cluster tests (tests/postgres.sh runs a throwaway server of it).
#   - schemathesis (PyPI), which tests the gateway against its OpenAPI description
#     (tests/tests/openapi.rs; run as `python3 -m schemathesis.cli`).
# The PyPI packages go into an ignored folder of the repository (target/test-tools/python).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$repo/target/test-tools/python"
PACKAGES=(standardwebhooks==1.1.0 playwright==1.65.2 schemathesis==4.32.5)

for package in "${PACKAGES[@]}"; do
    if [[ ! -f "$tools/.installed-$package" ]]; then
        echo "[setup.sh] installing $package into $tools" >&2
        python3 -m pip install --quiet --disable-pip-version-check --target "$tools" "$package" </dev/null
        touch "$tools/.installed-$package"
    fi
done

if [[ ! -x /usr/bin/chromium ]]; then
    echo "[setup.sh] installing chromium (Debian package)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq </dev/null
    apt-get install -y -qq chromium </dev/null >/dev/null
fi

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || ! command -v psql >/dev/null; then
    echo "[setup.sh] installing postgresql (Debian package)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq </dev/null
    apt-get install -y -qq postgresql </dev/null >/dev/null
fi
