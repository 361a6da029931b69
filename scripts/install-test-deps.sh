#!/usr/bin/env bash
# Install what the integration tests need on a Debian 12 machine (run as root):
#   chromium + chromedriver (Selenium), PostgreSQL (throwaway clusters),
#   nginx and redis-server (the two-instance test starts its own; the packages' own services
#   are not started), prometheus (its server and promtool: the metrics tests start their own), Node.js + npm and tests/idp's node_modules (the oidc-provider test IdP).
# Idempotent: only installs what is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IDP_DIR="$ROOT/tests/idp"
export DEBIAN_FRONTEND=noninteractive

say() { echo "install-test-deps: $*"; }

have_pg() {
    command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ] && return 0
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
have_pg && id postgres >/dev/null 2>&1 || missing+=(postgresql)
have_sbin() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have_sbin nginx || missing+=(nginx)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || missing+=(prometheus)
if ! command -v node >/dev/null 2>&1; then
    missing+=(nodejs)
    command -v npm >/dev/null 2>&1 || missing+=(npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        say "missing ${missing[*]} and not root: run this script as root" >&2
        exit 1
    fi
    say "apt-get install ${missing[*]}"
    apt-get update -q
    # The tests run their own nginx, redis-server and PostgreSQL: keep the packages from
    # starting their system services (a policy-rc.d of our own, only while installing).
    guard=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        guard=/usr/sbin/policy-rc.d
        trap 'rm -f "$guard"' EXIT
    fi
    apt-get install -y -q --no-install-recommends "${missing[@]}"
    if [ -n "$guard" ]; then
        rm -f "$guard"
        trap - EXIT
    fi
else
    say "system packages present (chromium, chromium-driver, postgresql, nginx, redis-server, prometheus, node)"
fi

if ! command -v npm >/dev/null 2>&1; then
    say "node is present but npm is missing; installing npm"
    apt-get update -q
    apt-get install -y -q --no-install-recommends npm
fi

if [ ! -d "$IDP_DIR/node_modules/oidc-provider" ] \
    || [ "$IDP_DIR/package-lock.json" -nt "$IDP_DIR/node_modules/.package-lock.json" ]; then
    say "npm ci in tests/idp"
    (cd "$IDP_DIR" && npm ci --no-audit --no-fund)
else
    say "tests/idp/node_modules up to date"
fi

say "done (node $(node --version), $(chromium --version 2>/dev/null | head -n1), PostgreSQL $(pg_config --version 2>/dev/null | awk '{print $2}'))"
