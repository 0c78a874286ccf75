#!/usr/bin/env bash
# Usage: scripts/ci/e2e-summary.sh REPORT.json [TITLE]
#
# Renders the report of `stagehand e2e -o json` as a Markdown table, printed
# to stdout and appended to $GITHUB_STEP_SUMMARY in GitHub Actions. The
# report never holds a secret.
set -euo pipefail

report=${1:?usage: scripts/ci/e2e-summary.sh REPORT.json [TITLE]}
title=${2:-End-to-end checks}

render() {
  echo "### $title"
  echo
  if ! jq -e '.checks' "$report" >/dev/null 2>&1; then
    echo "No report: the checks did not run (see the step's log)."
  else
    jq -r '
      "Target: `\(.baseUrl)` — \(.checks | length) checks, \(.requests) requests, " +
        (if .passed then "**all passed**" else "**failed: \(.failed | join(", "))**" end),
      "",
      "| check | result | want | got | requests | detail |",
      "| --- | --- | --- | --- | --- | --- |",
      (.checks[] | "| \(.name) | \(if .passed then "pass" else "**FAIL**" end) | \(.want) | \(.got) | \(.requests) | \(.detail // "" | gsub("\\|"; "\\|")) |")
    ' "$report"
  fi
  echo
}

# To the log, and to the job summary under GitHub Actions.
md=$(render)
printf '%s\n' "$md"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then printf '%s\n' "$md" >>"$GITHUB_STEP_SUMMARY"; fi
