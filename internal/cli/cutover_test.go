package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/cli"
	"github.com/stagehand-dev/stagehand/internal/cutover"
	"github.com/stagehand-dev/stagehand/test/apigw"
)

// gatewayCLI runs the CLI in-process against an API Gateway emulator only
// (cutover needs no registry).
func gatewayCLI(t *testing.T, endpoint string) func(args ...string) (string, string, int) {
	return func(args ...string) (string, string, int) {
		t.Helper()
		var out, errb bytes.Buffer
		full := append([]string{"--region", "us-east-1", "--apigateway-endpoint", endpoint}, args...)
		code := cli.Execute(context.Background(), full, &out, &errb)
		return out.String(), errb.String(), code
	}
}

func TestCutoverCommand(t *testing.T) {
	gw := apigw.New(apigw.WithoutQuotas())
	if _, err := gw.Client(t).CreateDomainName(context.Background(), &apigateway.CreateDomainNameInput{
		DomainName:             aws.String("api.example.com"),
		RegionalCertificateArn: aws.String("arn:aws:acm:us-east-1:123456789012:certificate/abc"),
		EndpointConfiguration:  &types.EndpointConfiguration{Types: []types.EndpointType{types.EndpointTypeRegional}},
	}); err != nil {
		t.Fatal(err)
	}
	blue, green := gw.SeedRestAPI("stagehand-dev-blue", "dev"), gw.SeedRestAPI("stagehand-dev-green", "dev")
	stagehand := gatewayCLI(t, gw.Start(t))
	mapped := func() string {
		api, stage, _ := gw.BasePathMapping("api.example.com", "")
		return api + "/" + stage
	}

	// First cutover creates the mapping.
	out, errOut, code := stagehand("cutover", "--domain", "api.example.com", "--api-id", blue, "--stage", "dev")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if want := "api.example.com/(none): (no mapping) -> " + blue + "/dev (created)\n"; out != want {
		t.Errorf("stdout = %q, want %q", out, want)
	}

	// A dry run with the guard, in JSON: reports the move, changes nothing.
	out, errOut, code = stagehand("-o", "json", "cutover", "--domain", "api.example.com", "--api-id", green, "--stage", "dev", "--expect-current", blue, "--dry-run")
	if code != 0 {
		t.Fatalf("dry run: exit %d: %s", code, errOut)
	}
	var res cutover.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	want := cutover.Result{Domain: "api.example.com", BasePath: "(none)", Previous: &cutover.Target{APIID: blue, Stage: "dev"},
		Current: cutover.Target{APIID: green, Stage: "dev"}, Action: cutover.ActionUpdated, DryRun: true}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("dry run result (-want +got):\n%s", diff)
	}
	if got := mapped(); got != blue+"/dev" {
		t.Fatalf("dry run moved the mapping to %s", got)
	}

	// The real move, then `cutover current`.
	if _, errOut, code = stagehand("cutover", "--domain", "api.example.com", "--api-id", green, "--stage", "dev", "--expect-current", blue); code != 0 {
		t.Fatalf("cutover: exit %d: %s", code, errOut)
	}
	out, _, code = stagehand("-o", "json", "cutover", "current", "--domain", "api.example.com")
	if code != 0 || !strings.Contains(out, `"apiId": "`+green+`"`) || !strings.Contains(out, `"mapped": true`) {
		t.Errorf("cutover current: exit %d, %s", code, out)
	}

	// Errors: one line, the right exit code, the mapping untouched.
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"guard refuses", []string{"cutover", "--domain", "api.example.com", "--api-id", blue, "--stage", "dev", "--expect-current", "abcdefghij"}, 1, "does not point at the expected API"},
		{"unknown domain", []string{"cutover", "--domain", "nope.example.com", "--api-id", blue, "--stage", "dev"}, 1, "custom domain name not found: nope.example.com"},
		{"unknown stage", []string{"cutover", "--domain", "api.example.com", "--api-id", blue, "--stage", "prod"}, 1, "target API stage not found"},
		{"missing api id", []string{"cutover", "--domain", "api.example.com", "--stage", "dev"}, 2, "api-id"},
		{"malformed api id", []string{"cutover", "--domain", "api.example.com", "--api-id", "Not An Id", "--stage", "dev"}, 2, `api id "Not An Id" is not valid`},
		{"missing domain", []string{"cutover", "--api-id", blue, "--stage", "dev"}, 2, "domain is required"},
		{"current of unknown domain", []string{"cutover", "current", "--domain", "nope.example.com"}, 1, "not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := stagehand(tc.args...)
			if code != tc.wantCode || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want %d mentioning %q", code, errOut, tc.wantCode, tc.wantErr)
			}
			if n := strings.Count(strings.TrimSpace(errOut), "\n"); n != 0 {
				t.Errorf("error is %d lines, want one", n+1)
			}
			if got := mapped(); got != green+"/dev" {
				t.Errorf("mapping moved to %s", got)
			}
		})
	}
}
