#!/usr/bin/env bash
# Runs the web UI's browser tests (ui.test.mjs) in Debian's headless
# Chromium with playwright-core (installed here by `npm ci`; no browser
# download). Against the mock API server by default; see support.mjs for
# POPBOX_BROWSER_TARGET=real (POPBOX_BIN) and POPBOX_URL. Screenshots go to
# ${POPBOX_ARTIFACTS:-build/artifacts}/browser/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1
export POPBOX_ARTIFACTS=${POPBOX_ARTIFACTS:-$here/../../build/artifacts}
command -v node >/dev/null || { echo "browser tests: node is missing (scripts/deps)" >&2; exit 1; }
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "browser tests: no ${CHROMIUM:-/usr/bin/chromium} (scripts/deps)" >&2; exit 1; }
# npm ci only when the lock file changed since the last install.
stamp=node_modules/.popbox-installed-lock
if ! cmp -s package-lock.json "$stamp" 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
exec node --test --test-reporter=spec --test-timeout=120000 ui.test.mjs
