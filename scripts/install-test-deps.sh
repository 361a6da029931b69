#!/usr/bin/env bash
# Install what the integration tests need on a Debian 12 machine (run as root):
#   chromium + chromedriver (Selenium), PostgreSQL (throwaway clusters),
#   Node.js + npm and tests/idp's node_modules (the oidc-provider test IdP).
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
    apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    say "system packages present (chromium, chromium-driver, postgresql, node)"
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
