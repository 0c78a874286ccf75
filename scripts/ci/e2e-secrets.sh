#!/usr/bin/env bash
# shellcheck shell=bash
#
# Usage (sourced, in the step that runs the checks):
#   source scripts/ci/e2e-secrets.sh SECRET_ID
#
# Reads the end-to-end secret of an environment from Secrets Manager and
# exports what `stagehand e2e` reads from the environment:
#   STAGEHAND_E2E_KEY, STAGEHAND_E2E_JWT, STAGEHAND_E2E_REVOKED_KEY,
#   STAGEHAND_E2E_NO_SCOPE_KEY, STAGEHAND_E2E_BASIC_KEY, STAGEHAND_E2E_CUSTOMER_ID
#
# The secret is a JSON object (see docs/deploy.md):
#   {"key": "...", "jwt": "...", "revokedKey": "...", "noScopeKey": "...",
#    "basicKey": "...", "customerId": "acme",
#    "tokenUrl": "...", "clientId": "...", "clientSecret": "...", "scope": "..."}
# Every field is optional; a check whose secret is missing fails loudly in
# `stagehand e2e` unless it is left out with --checks. When "jwt" is empty
# and tokenUrl/clientId/clientSecret are set, a fresh JWT is minted with the
# OAuth 2.0 client-credentials grant (stored JWTs expire).
#
# Under GitHub Actions every value is masked (::add-mask::) before it is
# exported. Nothing is passed on a command line: values go through here-strings
# and builtins, so they never show in a process list. Variables are exported
# to the sourcing shell only (not to $GITHUB_ENV), so later steps never see
# them.

e2e_id=${1:?usage: source scripts/ci/e2e-secrets.sh SECRET_ID}

e2e_json=$(aws secretsmanager get-secret-value --secret-id "$e2e_id" \
  --query SecretString --output text) || {
  echo "e2e-secrets: cannot read secret $e2e_id" >&2
  return 1
}

e2e_field() { jq -r --arg f "$1" '.[$f] // empty | tostring' <<<"$e2e_json"; }

e2e_mask() {
  if [ -n "$1" ] && [ "${GITHUB_ACTIONS:-}" = true ]; then
    echo "::add-mask::$1"
  fi
}

# Mask everything first, so no later line can print a value unmasked.
for e2e_f in key jwt revokedKey noScopeKey basicKey clientSecret; do
  e2e_mask "$(e2e_field "$e2e_f")"
done

e2e_jwt=$(e2e_field jwt)
e2e_token_url=$(e2e_field tokenUrl)
if [ -z "$e2e_jwt" ] && [ -n "$e2e_token_url" ]; then
  e2e_client_id=$(e2e_field clientId)
  e2e_client_secret=$(e2e_field clientSecret)
  e2e_scope=$(e2e_field scope)
  # curl reads the credentials from a config on stdin, not from argv.
  e2e_esc() { local v=${1//\\/\\\\}; printf '%s' "${v//\"/\\\"}"; }
  e2e_jwt=$(printf 'user = "%s:%s"\ndata = "grant_type=client_credentials"\n%s' \
    "$(e2e_esc "$e2e_client_id")" "$(e2e_esc "$e2e_client_secret")" \
    "${e2e_scope:+data-urlencode = \"scope=$(e2e_esc "$e2e_scope")\"}" |
    curl --silent --show-error --fail --max-time 30 --config - "$e2e_token_url" |
    jq -r '.access_token // empty') || {
    echo "e2e-secrets: the client-credentials grant at $e2e_token_url failed" >&2
    return 1
  }
  e2e_mask "$e2e_jwt"
  unset e2e_client_secret
fi

STAGEHAND_E2E_KEY=$(e2e_field key)
STAGEHAND_E2E_JWT=$e2e_jwt
STAGEHAND_E2E_REVOKED_KEY=$(e2e_field revokedKey)
STAGEHAND_E2E_NO_SCOPE_KEY=$(e2e_field noScopeKey)
STAGEHAND_E2E_BASIC_KEY=$(e2e_field basicKey)
STAGEHAND_E2E_CUSTOMER_ID=$(e2e_field customerId)
export STAGEHAND_E2E_KEY STAGEHAND_E2E_JWT STAGEHAND_E2E_REVOKED_KEY \
  STAGEHAND_E2E_NO_SCOPE_KEY STAGEHAND_E2E_BASIC_KEY STAGEHAND_E2E_CUSTOMER_ID
unset e2e_json e2e_jwt e2e_f
