#!/usr/bin/env bash
# Run the tests: Chromium for the browser tests (installed with apt when run as root and missing),
# the virtual environment .venv with the project and its test extras (created when missing,
# brought up to date every time),
# then pytest with the arguments given. Exits with pytest's exit code.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends chromium
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# every time: cheap when nothing changed, and it registers new entry points (backends)
.venv/bin/pip install -q -e '.[test]'

set +e
.venv/bin/python -m pytest "$@"
code=$?
exit "$code"
