#!/usr/bin/env bash
# Runs one browser test (a .mjs file of this folder) against the built
# `mantissa` with Debian's headless Chromium.
#
#   tests/browser/run.sh TEST.mjs PATH/TO/mantissa NODE_DIR ARTIFACT_DIR
#
# NODE_DIR holds node_modules (install.sh); screenshots go to ARTIFACT_DIR.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
test=${1:?usage: run.sh TEST.mjs MANTISSA NODE_DIR ARTIFACT_DIR}
export MANTISSA_BINARY=${2:?}
export MANTISSA_NODE_MODULES=${3:?}/node_modules
export MANTISSA_ARTIFACTS=${4:?}
export MANTISSA_CHROMIUM=${MANTISSA_CHROMIUM:-/usr/bin/chromium}

command -v node >/dev/null || { echo "run.sh: node is missing (scripts/setup installs it)" >&2; exit 1; }
[ -x "$MANTISSA_CHROMIUM" ] || { echo "run.sh: no Chromium at $MANTISSA_CHROMIUM (scripts/setup installs it)" >&2; exit 1; }
mkdir -p "$MANTISSA_ARTIFACTS"
exec node "$here/$test"
