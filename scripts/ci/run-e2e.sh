#!/usr/bin/env bash
# Usage: scripts/ci/run-e2e.sh BASE_URL [TITLE]
#
# Runs `stagehand e2e` against BASE_URL with the environment's end-to-end
# secret, and writes the report to the log and to the job summary. Used by
# deploy.yml (smoke test, checks through the domain) and e2e.yml, and by
# hand the same way (docs/deploy.md). Exit status: that of `stagehand e2e`.
#
# Environment:
#   STAGEHAND_E2E_SECRET_ID    Secrets Manager id of the e2e secret (required)
#   STAGEHAND_E2E_CHECKS       comma-separated checks (default: all)
#   STAGEHAND_E2E_ECHO_PATH    path on which the backend echoes headers (default /headers)
#   STAGEHAND_E2E_BACKEND_URL  the backend reached directly (enables origin-verify)
#   STAGEHAND_BIN              the CLI (default bin/stagehand)
set -euo pipefail

base_url=${1:?usage: scripts/ci/run-e2e.sh BASE_URL [TITLE]}
title=${2:-End-to-end checks}
here=$(dirname "$0")
bin=${STAGEHAND_BIN:-bin/stagehand}
report=$(mktemp)
trap 'rm -f "$report"' EXIT

# shellcheck source=scripts/ci/e2e-secrets.sh
source "$here/e2e-secrets.sh" "${STAGEHAND_E2E_SECRET_ID:?set STAGEHAND_E2E_SECRET_ID}"

args=(--base-url "$base_url" --echo-path "${STAGEHAND_E2E_ECHO_PATH:-/headers}")
if [ -n "${STAGEHAND_E2E_CHECKS:-}" ]; then args+=(--checks "$STAGEHAND_E2E_CHECKS"); fi
if [ -n "${STAGEHAND_E2E_BACKEND_URL:-}" ]; then args+=(--backend-url "$STAGEHAND_E2E_BACKEND_URL"); fi

rc=0
"$bin" e2e "${args[@]}" -o json >"$report" || rc=$?
"$here/e2e-summary.sh" "$report" "$title"
exit "$rc"
