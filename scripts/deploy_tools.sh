#!/usr/bin/env bash
# Makes sure the Debian packages the deployment tests run are installed:
# - prometheus: its `promtool` checks and unit-tests the alert rules in deploy/prometheus/, and
#   its `prometheus` scrapes a running Chunkyard (tests/api/test_api_alert_rules.py);
# - nginx-light: nginx runs deploy/nginx/chunkyard.conf in front of two API processes
#   (tests/deploy/test_deploy_nginx.py), with a certificate made by `openssl` (openssl);
# - systemd: `systemd-analyze verify` checks the units in deploy/systemd/
#   (tests/deploy/test_deploy_systemd.py); nothing is started by it.
# Installs only what is missing, and never starts a package's service: the tests run their
# own Prometheus and nginx on free ports.
set -euo pipefail

missing=()
{ command -v promtool >/dev/null && command -v prometheus >/dev/null; } || missing+=(prometheus)
{ command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; } || missing+=(nginx-light)
command -v openssl >/dev/null || missing+=(openssl)
command -v systemd-analyze >/dev/null || missing+=(systemd)

if [ "${#missing[@]}" -gt 0 ]; then
    echo "== deploy tools: installing Debian's ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    # invoke-rc.d asks policy-rc.d before starting a service; 101 means "not now". Put one in
    # place for this install only, unless the machine already has its own (containers do).
    POLICY=/usr/sbin/policy-rc.d
    ours=""
    if [ ! -e "$POLICY" ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
        $SUDO chmod 755 "$POLICY"
        ours=1
    fi
    cleanup() { if [ -n "$ours" ]; then $SUDO rm -f "$POLICY"; fi; }
    trap cleanup EXIT
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
    # On a machine with systemd the units may still be enabled for the next boot: not ours.
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
        for unit in prometheus nginx; do
            $SUDO systemctl disable --now "$unit" >/dev/null 2>&1 || true
        done
    fi
fi
echo "== deploy tools: $(promtool --version 2>&1 | head -n 1)"
echo "== deploy tools: $( (command -v nginx >/dev/null && nginx -v || /usr/sbin/nginx -v) 2>&1)"
echo "== deploy tools: $(systemd-analyze --version | head -n 1)"
