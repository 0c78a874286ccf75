package stacks_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/stagehand-dev/stagehand/cdk/stacks"
)

func TestPortalOnlyWhereConfigured(t *testing.T) {
	// given the shipped environments (no portal section)
	for _, name := range shippedEnvs {
		// then they have no portal function, API or user pool
		tpl := template(t, envs[name].Shared.Stack)
		tpl.ResourceCountIs(jsii.String("AWS::Cognito::UserPool"), jsii.Number(0))
		if envs[name].Shared.Portal != nil {
			t.Errorf("%s has a portal", name)
		}
	}
}

func TestPortalStack(t *testing.T) {
	// given qa's shared stack with a portal (Cognito, custom domain, WAF)
	qa := envs["qa"].Shared
	tpl := template(t, qa.Stack)
	// then the user pool has no self sign-up and requires TOTP MFA, with the operator group
	tpl.HasResourceProperties(jsii.String("AWS::Cognito::UserPool"), map[string]any{
		"MfaConfiguration":      "ON",
		"AdminCreateUserConfig": map[string]any{"AllowAdminCreateUserOnly": true},
	})
	tpl.HasResourceProperties(jsii.String("AWS::Cognito::UserPoolGroup"), map[string]any{"GroupName": "stagehand-operators"})
	// and the app client is public (PKCE), code flow only, redirecting to the custom domain
	tpl.HasResourceProperties(jsii.String("AWS::Cognito::UserPoolClient"), map[string]any{
		"GenerateSecret":    false,
		"AllowedOAuthFlows": []any{"code"},
		"CallbackURLs":      []any{"https://console.qa.example.com/auth/callback"},
		// and no sign-in but the hosted UI (no SRP, password or custom
		// auth), and users cannot change their email through it
		"ExplicitAuthFlows": []any{"ALLOW_REFRESH_TOKEN_AUTH"},
		"WriteAttributes":   []any{"name"},
	})
	// and the API is reachable only on its custom domain, behind the web ACL
	tpl.HasResourceProperties(jsii.String("AWS::ApiGateway::RestApi"), map[string]any{
		"Name": "stagehand-qa-portal", "DisableExecuteApiEndpoint": true,
	})
	tpl.HasResourceProperties(jsii.String("AWS::ApiGateway::DomainName"), map[string]any{
		"DomainName": "console.qa.example.com", "SecurityPolicy": "TLS_1_2",
	})
	tpl.HasResourceProperties(jsii.String("AWS::WAFv2::WebACLAssociation"), map[string]any{
		"WebACLArn": "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/stagehand-qa-portal/aaaaaaaa-bbbb-cccc-dddd-ffffffffffff",
	})
	tpl.HasResourceProperties(jsii.String("AWS::ApiGateway::Stage"), map[string]any{
		"StageName": stacks.PortalStage, "MethodSettings": assertions.Match_ArrayWith(&[]any{
			map[string]any{"DataTraceEnabled": false, "HttpMethod": "*", "LoggingLevel": "ERROR", "MetricsEnabled": true, "ResourcePath": "/*",
				"ThrottlingBurstLimit": 40, "ThrottlingRateLimit": 20},
		}),
	})
	// and the function gets its configuration, the secret by ARN only
	tpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
		"Description": "stagehand qa operator console and customer portal",
		"Environment": map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]any{
			"STAGEHAND_PUBLIC_URL": "https://console.qa.example.com", "STAGEHAND_OIDC_GROUPS_CLAIM": "cognito:groups",
			"STAGEHAND_OPERATOR_GROUP": "stagehand-operators", "STAGEHAND_EVENT_SOURCE": stacks.PortalEventSource,
		})},
	})
	// and its role grants exactly what the code calls
	policy := rolePolicy(t, qa.Stack, "PortalRole")
	for _, want := range []string{`"secretsmanager:GetSecretValue"`, `"events:PutEvents"`, `"events:source":"stagehand.portal"`, `"apigateway:GET"`, `"dynamodb:Query"`} {
		if !strings.Contains(policy, want) {
			t.Errorf("portal role policy lacks %s: %s", want, policy)
		}
	}
	for _, never := range []string{`"dynamodb:Scan"`, `"dynamodb:*"`, `"secretsmanager:*"`, `"events:*"`, `"apigateway:*"`} {
		if strings.Contains(policy, never) {
			t.Errorf("portal role policy grants %s", never)
		}
	}
}

// rolePolicy is the JSON of the inline policies attached to the role whose
// logical id starts with prefix.
func rolePolicy(t *testing.T, st interface{}, prefix string) string {
	t.Helper()
	tj := templateJSON(t, envs["qa"].Shared.Stack)
	var parts []string
	for _, r := range tj["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] != "AWS::IAM::Policy" {
			continue
		}
		props := res["Properties"].(map[string]any)
		b, _ := json.Marshal(props["Roles"])
		if !strings.Contains(string(b), prefix) {
			continue
		}
		doc, _ := json.Marshal(props["PolicyDocument"])
		parts = append(parts, string(doc))
	}
	if len(parts) == 0 {
		t.Fatalf("no policy for %s", prefix)
	}
	return strings.Join(parts, "\n")
}
