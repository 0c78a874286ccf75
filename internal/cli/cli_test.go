package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"

	"github.com/stagehand-dev/stagehand/internal/cli"
	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
	"github.com/stagehand-dev/stagehand/test/apigw"
)

func TestMain(m *testing.M) { os.Exit(ddbtest.Run(m)) }

// gateways maps a table to the API Gateway emulator its test uses.
var gateways sync.Map

// run executes the CLI in-process, as bin/stagehand would, against DynamoDB
// Local and the test's API Gateway emulator.
func run(t *testing.T, table string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	full := []string{"--table", table, "--endpoint", ddbtest.Endpoint(t), "--region", "us-east-1", "--actor", "tester"}
	if gw, ok := gateways.Load(table); ok {
		full = append(full, "--apigateway-endpoint", gw.(string))
	}
	full = append(full, args...)
	code = cli.Execute(context.Background(), full, &out, &errb)
	return out.String(), errb.String(), code
}

func mustRun(t *testing.T, table string, args ...string) string {
	t.Helper()
	out, errOut, code := run(t, table, args...)
	if code != 0 {
		t.Fatalf("stagehand %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

func init() {
	// The CLI loads the default AWS config: dummy credentials, and every
	// endpoint not set by a test goes to a closed loopback port, so no test
	// can ever reach AWS.
	os.Setenv("AWS_ACCESS_KEY_ID", "local")
	os.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	os.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
}

// seedTable creates a table and an API Gateway emulator with usage plan
// "basic", registers the plan through the CLI and subscribes customer acme in
// dev (which creates acme's metering key in the emulator). It returns the
// table and the emulator.
func seedTable(t *testing.T) (string, *apigw.Emulator, string) {
	t.Helper()
	_, table := ddbtest.NewTable(t)
	gw := apigw.New(apigw.WithoutQuotas())
	gateways.Store(table, gw.Start(t))
	plan, err := gw.Client(t).CreateUsagePlan(context.Background(), &apigateway.CreateUsagePlanInput{Name: aws.String("basic")})
	if err != nil {
		t.Fatal(err)
	}
	planID := aws.ToString(plan.Id)
	mustRun(t, table, "--env", "dev", "plans", "put", "basic", "--usage-plan-id", planID, "--rate", "10", "--burst", "20")
	mustRun(t, table, "customers", "create", "acme", "--name", "Acme Corp")
	mustRun(t, table, "--env", "dev", "customers", "subscribe", "acme", "--plan", "basic")
	return table, gw, planID
}

func TestSubscribeAttachesMeteringKey(t *testing.T) {
	table, gw, planID := seedTable(t)
	var sub registry.Subscription
	out := mustRun(t, table, "-o", "json", "customers", "get", "acme")
	var got struct {
		Subscriptions []registry.Subscription `json:"subscriptions"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Subscriptions) != 1 {
		t.Fatalf("customers get: %v %s", err, out)
	}
	sub = got.Subscriptions[0]
	keysOut, err := gw.Client(t).GetUsagePlanKeys(context.Background(), &apigateway.GetUsagePlanKeysInput{UsagePlanId: aws.String(planID)})
	if err != nil {
		t.Fatal(err)
	}
	if len(keysOut.Items) != 1 || aws.ToString(keysOut.Items[0].Id) != sub.UsageKeyID {
		t.Errorf("usage plan keys = %+v, want the subscription's key %s", keysOut.Items, sub.UsageKeyID)
	}
	// Importing an existing key skips creation; a half-given import is refused.
	mustRun(t, table, "customers", "create", "globex", "--name", "Globex")
	if _, errOut, code := run(t, table, "--env", "dev", "customers", "subscribe", "globex", "--plan", "basic", "--usage-key-id", "x"); code == 0 || !strings.Contains(errOut, "usageKey") {
		t.Errorf("half import: exit %d %q", code, errOut)
	}
	key, err := gw.Client(t).CreateApiKey(context.Background(), &apigateway.CreateApiKeyInput{Name: aws.String("legacy"), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, table, "--env", "dev", "customers", "subscribe", "globex", "--plan", "basic",
		"--usage-key-id", aws.ToString(key.Id), "--usage-key-value", aws.ToString(key.Value))
}

func TestCreateCustomerAndKeyThatValidates(t *testing.T) {
	table, _, _ := seedTable(t)
	out := mustRun(t, table, "--env", "dev", "-o", "json", "keys", "create", "--customer", "acme",
		"--scopes", "orders:read,orders:write", "--allow-cidr", "203.0.113.7", "--allow-cidr", "2001:db8::/32")
	var created struct {
		Key    registry.Key `json:"key"`
		Secret string       `json:"secret"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	if err := keys.ValidateFor(created.Secret, "dev"); err != nil {
		t.Fatalf("issued key does not validate: %v", err)
	}
	if got := keys.HashKey(created.Secret).ID(); got != created.Key.ID {
		t.Errorf("key id %s is not derived from the secret's hash (%s)", created.Key.ID, got)
	}
	if want := []string{"203.0.113.7/32", "2001:db8::/32"}; strings.Join(created.Key.AllowedCIDRs, " ") != strings.Join(want, " ") {
		t.Errorf("allowlist = %v, want canonical %v", created.Key.AllowedCIDRs, want)
	}

	// The secret is shown once: list, get and audit never show it.
	for _, args := range [][]string{
		{"--env", "dev", "keys", "list", "--customer", "acme"},
		{"-o", "json", "keys", "get", created.Key.ID},
		{"-o", "json", "--env", "dev", "keys", "list"},
		{"-o", "json", "audit", "acme"},
		{"-o", "json", "customers", "get", "acme"},
	} {
		out := mustRun(t, table, args...)
		if strings.Contains(out, created.Secret) || strings.Contains(out, keys.HashKey(created.Secret).String()) {
			t.Errorf("%v printed the secret or its hash", args)
		}
	}

	// Rotation prints a new secret; the old key keeps working during grace.
	out = mustRun(t, table, "-o", "json", "keys", "rotate", created.Key.ID, "--grace", "1h")
	var rotated struct {
		Key    registry.Key `json:"key"`
		Secret string       `json:"secret"`
	}
	if err := json.Unmarshal([]byte(out), &rotated); err != nil {
		t.Fatal(err)
	}
	if rotated.Secret == created.Secret || keys.ValidateFor(rotated.Secret, "dev") != nil || rotated.Key.RotatedFrom != created.Key.ID {
		t.Errorf("rotate: %+v", rotated.Key)
	}
	old := mustRun(t, table, "keys", "get", created.Key.ID)
	if !strings.Contains(old, "active") {
		t.Errorf("old key not active during grace:\n%s", old)
	}
	// A rotated key's expiry comes forward, never past its grace end.
	later := time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)
	if _, errOut, code := run(t, table, "keys", "expire", created.Key.ID, "--at", later); code != 1 ||
		!strings.Contains(errOut, "was rotated to "+rotated.Key.ID) || !strings.Contains(errOut, "never pushed back") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("extending a rotated key: exit %d, %q", code, errOut)
	}
	mustRun(t, table, "keys", "revoke", created.Key.ID)
	mustRun(t, table, "keys", "revoke", created.Key.ID) // twice is fine
	if _, errOut, code := run(t, table, "keys", "resume", created.Key.ID); code == 0 || !strings.Contains(errOut, "revoked") {
		t.Errorf("reviving a revoked key: exit %d, %q", code, errOut)
	}
}

// Bad input: a clear error naming the field, a non-zero exit, nothing written.
func TestBadInputWritesNothing(t *testing.T) {
	table, _, _ := seedTable(t)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"unknown customer", []string{"--env", "dev", "keys", "create", "--customer", "ghost"}, 3, `customer "ghost": customer not found`},
		{"unknown plan", []string{"--env", "dev", "customers", "change-plan", "acme", "--plan", "gold"}, 2, `plan: unknown plan "gold"`},
		{"malformed CIDR", []string{"--env", "dev", "keys", "create", "--customer", "acme", "--allow-cidr", "10.0.0.0/33"}, 2, "allowedCidrs"},
		{"CIDR with host bits", []string{"--env", "dev", "keys", "create", "--customer", "acme", "--allow-cidr", "10.0.0.1/8"}, 2, `"10.0.0.1/8" has host bits set: write 10.0.0.0/8 for the network or 10.0.0.1/32 for the one address`},
		{"expiry in the past", []string{"--env", "dev", "keys", "create", "--customer", "acme", "--expires", "2001-01-01T00:00:00Z"}, 2, "expiresAt"},
		{"duplicate customer id", []string{"customers", "create", "acme", "--name", "Again"}, 1, "already exists"},
		{"bad customer id", []string{"customers", "create", "Bad Id!", "--name", "x"}, 2, "id:"},
		{"bad scope", []string{"--env", "dev", "keys", "create", "--customer", "acme", "--scopes", "a b"}, 2, "scopes[0]"},
		{"missing required flag", []string{"customers", "create", "x2"}, 2, `required flag(s) "name" not set`},
		{"wrong arg count", []string{"keys", "get"}, 2, "KEY_ID"},
		{"bad output format", []string{"-o", "yaml", "plans", "list"}, 2, "--output"},
		{"unknown key", []string{"keys", "revoke", "key_aaaaaaaaaaaaaaaa"}, 3, "not found"},
	}
	before := auditCount(t, table)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := run(t, table, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit = %d, want %d (stderr %q)", code, tc.wantCode, errOut)
			}
			if !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("stderr %q does not name %q", errOut, tc.wantErr)
			}
			if n := strings.Count(strings.TrimSpace(errOut), "\n"); n != 0 {
				t.Errorf("error is %d lines, want one: %q", n+1, errOut)
			}
		})
	}
	if after := auditCount(t, table); after != before {
		t.Errorf("bad input wrote %d audit entries", after-before)
	}
	out := mustRun(t, table, "--env", "dev", "keys", "list", "--customer", "acme")
	if strings.Count(out, "key_") != 0 {
		t.Errorf("bad input created keys:\n%s", out)
	}
}

func auditCount(t *testing.T, table string) int {
	t.Helper()
	var entries struct {
		Items []registry.AuditEntry `json:"items"`
	}
	out := mustRun(t, table, "-o", "json", "audit", "acme", "--limit", "1000")
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatal(err)
	}
	return len(entries.Items)
}

func TestHelpOnEveryCommand(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"customers", "--help"}, {"customers", "subscribe", "--help"}, {"keys", "create", "--help"},
		{"keys", "rotate", "--help"}, {"bindings", "create", "--help"}, {"audit", "--help"}, {"plans", "put", "--help"},
	} {
		var out, errb bytes.Buffer
		if code := cli.Execute(context.Background(), args, &out, &errb); code != 0 || !strings.Contains(out.String(), "Usage:") {
			t.Errorf("%v: exit %d, output %q", args, code, out.String())
		}
	}
}

// The built binary, run as an operator would, against DynamoDB Local.
func TestBinaryCreatesCustomerAndKey(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "stagehand")
	build := exec.Command("go", "build", "-o", bin, "../../scripts/stagehand")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	_, table := ddbtest.NewTable(t)
	gw := apigw.New(apigw.WithoutQuotas())
	env := append(os.Environ(), "STAGEHAND_TABLE="+table, "STAGEHAND_ENV=dev", "AWS_REGION=us-east-1",
		ddbtest.EnvEndpoint+"="+ddbtest.Endpoint(t), "STAGEHAND_APIGATEWAY_ENDPOINT="+gw.Start(t))
	sh := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("stagehand %v: %v: %s", args, err, stderr)
		}
		return string(out)
	}
	plan, err := gw.Client(t).CreateUsagePlan(context.Background(), &apigateway.CreateUsagePlanInput{Name: aws.String("basic")})
	if err != nil {
		t.Fatal(err)
	}
	sh("plans", "put", "basic", "--usage-plan-id", aws.ToString(plan.Id))
	sh("customers", "create", "acme", "--name", "Acme")
	sh("customers", "subscribe", "acme", "--plan", "basic")
	out := sh("keys", "create", "--customer", "acme")
	secret := ""
	for _, line := range strings.Split(out, "\n") {
		if i := strings.Index(line, "store it now): "); i >= 0 {
			secret = strings.TrimSpace(line[i+len("store it now): "):])
		}
	}
	if err := keys.ValidateFor(secret, "dev"); err != nil {
		t.Fatalf("binary printed %q, which does not validate: %v\n%s", secret, err, out)
	}
}
