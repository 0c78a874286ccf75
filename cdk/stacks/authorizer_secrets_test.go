package stacks_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/cdk/stacks"
)

// TestAuthorizerReadsEachHS256IssuerSecret (issue 12 item 7): qa's two
// HS256 issuers each name their own secret; the authorizer role may call
// secretsmanager:GetSecretValue on exactly those two ARNs and nothing else,
// no other function's role may read them, and an environment without HS256
// issuers (dev) grants no secret read at all.
func TestAuthorizerReadsEachHS256IssuerSecret(t *testing.T) {
	// given the qa environment (testdata/qa.json)
	qa := envs["qa"].Shared
	// when reading the authorizer role's statements
	// (the origin-verify secret's own grant: TestRolePermissions)
	originVerify := "secretsmanager:GetSecretValue on ${" + logicalID(t, qa.Stack, qa.OriginVerifySecret) + "}"
	var got []string
	for _, s := range statementsOf(t, qa, stacks.FnAuthorizer) {
		if strings.HasPrefix(s, "secretsmanager:") && s != originVerify {
			got = append(got, s)
		}
	}
	// then one statement names both issuers' secrets, exactly
	want := []string{"secretsmanager:GetSecretValue on " +
		"arn:aws:secretsmanager:eu-west-1:123456789012:secret:stagehand/qa/hs-a-AbC123 " +
		"arn:aws:secretsmanager:eu-west-1:123456789012:secret:stagehand/qa/hs-b-XyZ789"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("authorizer secret grants (-want +got):\n%s", diff)
	}
	for _, fn := range []string{stacks.FnDeployment, stacks.FnReconcile, stacks.FnKeyAdmin} {
		for _, s := range statementsOf(t, qa, fn) {
			if strings.Contains(s, "stagehand/qa/hs-") {
				t.Errorf("%s may read an HS256 secret: %s", fn, s)
			}
		}
	}
	dev := envs["dev"].Shared
	for _, s := range statementsOf(t, dev, stacks.FnAuthorizer) {
		if strings.HasPrefix(s, "secretsmanager:") && s != "secretsmanager:GetSecretValue on ${"+logicalID(t, dev.Stack, dev.OriginVerifySecret)+"}" {
			t.Errorf("dev (no HS256 issuer) grants %s", s)
		}
	}
}
