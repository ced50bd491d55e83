#!/usr/bin/env bash
# Run the tests: Chromium for the browser tests and Dovecot (dovecot-imapd) for the IMAP tests
# (installed with apt when run as root and missing),
# the virtual environment .venv with the project and its test extras (created when missing,
# brought up to date every time),
# then pytest with the arguments given. Exits with pytest's exit code.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
[ -x /usr/bin/chromium ] || packages+=(chromium)
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || packages+=(dovecot-imapd)
if [ "${#packages[@]}" -gt 0 ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # the IMAP tests start Dovecots of their own (own config, loopback, free ports): keep the
    # package from starting a system-wide one on ports 143 and 993, now and at boot
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
