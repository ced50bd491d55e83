#!/usr/bin/env bash
# Run the tests: Chromium for the browser tests, Dovecot (dovecot-imapd) for the IMAP tests,
# PostgreSQL (postgresql) for the state-store tests and Redis (redis-server) for the Celery tests
# (installed with apt when run as root and missing),
# the virtual environment .venv with the project and its test extras (created when missing,
# brought up to date every time),
# then pytest with the arguments given. Exits with pytest's exit code.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
[ -x /usr/bin/chromium ] || packages+=(chromium)
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || packages+=(dovecot-imapd)
command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || packages+=(postgresql)
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || packages+=(redis-server)
if [ "${#packages[@]}" -gt 0 ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # the tests start Dovecots, PostgreSQLs and Redises of their own (own config, loopback, free
    # ports): keep the packages from starting system-wide ones (143 and 993, 5432, 6379), now and at boot
    policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get install -y --no-install-recommends "${packages[@]}"
    if [ -n "$policy" ]; then
        rm -f "$policy"
        trap - EXIT
    fi
    if [[ " ${packages[*]} " == *" dovecot-imapd "* ]] && [ -d /run/systemd/system ]; then
        systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
    fi
    if [[ " ${packages[*]} " == *" postgresql "* ]] && [ -d /run/systemd/system ]; then
        systemctl disable --now postgresql.service >/dev/null 2>&1 || true
    fi
    if [[ " ${packages[*]} " == *" redis-server "* ]] && [ -d /run/systemd/system ]; then
        systemctl disable --now redis-server.service >/dev/null 2>&1 || true
    fi
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
