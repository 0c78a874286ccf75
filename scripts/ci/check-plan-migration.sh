#!/usr/bin/env bash
# Usage: scripts/ci/check-plan-migration.sh DEPLOYED_TEMPLATE NEW_TEMPLATE
#
# Refuses a Shared-stack deploy that would make CloudFormation delete usage
# plans: DEPLOYED_TEMPLATE (the stack's current template, `aws cloudformation
# get-template ... --query TemplateBody`; "{}" for a new stack) declares an
# AWS::ApiGateway::UsagePlan that NEW_TEMPLATE (cdk.out/Shared-<env>.
# template.json) no longer declares, and its DeletionPolicy is not Retain.
# Deleting it would take every customer key out of its plan. The registry
# owns the usage plans now; migrate in two releases with
# retainLegacyUsagePlans (docs/cdk.md, "Migrating usage plans to the
# registry"). Exit 0 when the deploy is safe, 1 (with the plans named) when
# it is not, 2 on bad usage.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 DEPLOYED_TEMPLATE NEW_TEMPLATE" >&2
  exit 2
fi

doomed=$(jq -r --slurpfile new "$2" '
  (.Resources // {}) | to_entries[]
  | select(.value.Type == "AWS::ApiGateway::UsagePlan")
  | select((.value.DeletionPolicy // "Delete") != "Retain")
  | .key as $id
  | select(($new[0].Resources // {}) | has($id) | not)
  | $id' "$1")

if [ -n "$doomed" ]; then
  echo "::error::this deploy would make CloudFormation delete usage plans that customers' keys are in: $(echo "$doomed" | paste -sd, -). Deploy one release with \"retainLegacyUsagePlans\": true in the environment's config first (docs/cdk.md, \"Migrating usage plans to the registry\")."
  exit 1
fi
echo "usage plans: no CloudFormation deletion in this deploy"
