package config_test

import (
	"strings"
	"testing"

	"github.com/stagehand-dev/stagehand/cdk/config"
)

func TestPortalValidation(t *testing.T) {
	valid := func() map[string]any {
		return map[string]any{
			"domainName": "console.example.com", "certificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/x",
			"cognito":  map[string]any{"domainPrefix": "stagehand-demo"},
			"throttle": map[string]any{"rateLimit": 10, "burstLimit": 20}, "accessLogRetentionDays": 14,
			"function": map[string]any{"memoryMiB": 512, "timeoutSeconds": 10},
		}
	}
	tests := []struct {
		name string
		edit func(p map[string]any)
		want string // "" valid
	}{
		{"cognito", func(map[string]any) {}, ""},
		{"external issuer", func(p map[string]any) {
			delete(p, "cognito")
			p["issuer"], p["clientId"] = "https://login.example.com/", "abc"
		}, ""},
		{"both cognito and issuer", func(p map[string]any) { p["issuer"] = "https://login.example.com/" }, "portal.issuer: set either"},
		{"neither", func(p map[string]any) { delete(p, "cognito") }, "portal.issuer: must be an https issuer URL"},
		{"issuer without client", func(p map[string]any) { delete(p, "cognito"); p["issuer"] = "https://login.example.com/" }, "portal.clientId"},
		{"no domain", func(p map[string]any) { delete(p, "domainName") }, "portal.domainName"},
		{"bad certificate", func(p map[string]any) { p["certificateArn"] = "cert" }, "portal.certificateArn"},
		{"bad web ACL", func(p map[string]any) { p["webAclArn"] = "acl" }, "portal.webAclArn"},
		{"hosted UI prefix with aws", func(p map[string]any) { p["cognito"] = map[string]any{"domainPrefix": "my-aws-ui"} }, "portal.cognito.domainPrefix"},
		{"user-writable groups claim", func(p map[string]any) { p["groupsClaim"] = "custom:groups" }, "portal.groupsClaim"},
		{"user-writable groups claim, any case", func(p map[string]any) { p["groupsClaim"] = "Custom:role" }, "portal.groupsClaim"},
		{"groups claim", func(p map[string]any) { p["groupsClaim"] = "groups" }, ""},
		{"timeout above API Gateway's", func(p map[string]any) { p["function"] = map[string]any{"memoryMiB": 512, "timeoutSeconds": 60} }, "portal.function"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := valid()
			tc.edit(p)
			_, err := config.Parse(mutate(t, func(m map[string]any) { m["portal"] = p }), "test.json")
			if tc.want == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
