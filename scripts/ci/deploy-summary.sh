#!/usr/bin/env bash
# Usage: bin/stagehand deploy status -o json | scripts/ci/deploy-summary.sh [TITLE]
#
# Renders the deployment record printed by `stagehand deploy status -o json`
# (the latest deployment, under "latest", plus "liveColour" and
# "inactiveColour") as a Markdown table, printed to stdout and appended to
# $GITHUB_STEP_SUMMARY in GitHub Actions. STAGEHAND_PIPELINE_STARTED
# (epoch seconds), when set, adds the pipeline's duration so far.
set -euo pipefail

title=${1:-Deployment record}
status=$(cat)

render() {
  echo "### $title"
  echo
  jq -r --arg started "${STAGEHAND_PIPELINE_STARTED:-}" --arg now "$(date +%s)" '
    (.latest // .deployment // .) as $d
    | def row($k; $v): "| \($k) | \($v // "—") |";
    "| | |", "| --- | --- |",
    row("environment"; $d.env),
    row("sequence"; $d.sequence),
    row("colour"; $d.colour),
    row("API / stage"; "\($d.apiId // "?") / \($d.stage // "?")"),
    row("stack"; $d.stackName),
    row("git sha"; $d.gitSha),
    row("state"; $d.state),
    (if $d.reason then row("reason"; $d.reason) else empty end),
    row("plans updated"; $d.counts.plansUpdated),
    row("keys attached"; $d.counts.keysAttached),
    row("keys removed"; $d.counts.keysRemoved),
    row("retries"; $d.counts.retries),
    row("re-association duration"; (if $d.counts.durationMs then "\($d.counts.durationMs / 1000) s" else null end)),
    row("live colour"; .liveColour),
    row("inactive colour"; .inactiveColour),
    (if $started != "" then row("pipeline duration so far"; "\(($now | tonumber) - ($started | tonumber)) s") else empty end)
  ' <<<"$status"
  echo
}

# To the log, and to the job summary under GitHub Actions.
md=$(render)
printf '%s\n' "$md"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then printf '%s\n' "$md" >>"$GITHUB_STEP_SUMMARY"; fi
