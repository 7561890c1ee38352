#!/usr/bin/env bash
# Installs the browser tests' npm dependencies (package-lock.json) into
# DIR/node_modules, only when the pinned playwright-core is not already
# there: a build tree that has it needs no network.
#
#   tests/browser/install.sh DIR
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: install.sh DIR}
mkdir -p "$dir"

want=$(sed -n 's/.*"playwright-core": *"\([^"]*\)".*/\1/p' "$here/package.json" | head -n 1)
have=
if [ -f "$dir/node_modules/playwright-core/package.json" ]; then
  have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
    "$dir/node_modules/playwright-core/package.json" | head -n 1)
fi
if [ -n "$want" ] && [ "$have" = "$want" ] \
   && cmp -s "$here/package-lock.json" "$dir/package-lock.json"; then
  exit 0
fi

command -v npm >/dev/null || { echo "install.sh: npm is missing (scripts/setup installs it)" >&2; exit 1; }
cp "$here/package.json" "$here/package-lock.json" "$dir/"
# playwright-core downloads no browser; the tests use Debian's chromium.
cd "$dir"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --prefer-offline \
  --loglevel=error
echo "install.sh: playwright-core $want installed in $dir"
