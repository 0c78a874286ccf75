package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/stagehand-dev/stagehand/internal/cli"
	"github.com/stagehand-dev/stagehand/internal/e2echeck"
	"github.com/stagehand-dev/stagehand/internal/e2echeck/e2echecktest"
)

// setE2ESecrets puts the fake environment's credentials where the workflow
// puts the real ones: in STAGEHAND_E2E_* variables.
func setE2ESecrets(t *testing.T, c e2echeck.Credentials) {
	t.Setenv(e2echeck.EnvKey, c.Key)
	t.Setenv(e2echeck.EnvJWT, c.JWT)
	t.Setenv(e2echeck.EnvRevokedKey, c.RevokedKey)
	t.Setenv(e2echeck.EnvNoScopeKey, c.NoScopeKey)
	t.Setenv(e2echeck.EnvBasicKey, c.BasicKey)
}

func e2eCLI(args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := cli.Execute(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func noSecrets(t *testing.T, texts ...string) {
	t.Helper()
	c := e2echecktest.Creds
	for _, text := range texts {
		for _, s := range []string{c.Key, c.JWT, c.RevokedKey, c.NoScopeKey, c.BasicKey, e2echecktest.OriginSecret} {
			if strings.Contains(text, s) {
				t.Errorf("output holds a secret (%.8s…)", s)
			}
		}
	}
}

func TestE2ECommand(t *testing.T) {
	tests := []struct {
		name       string
		faults     e2echecktest.Faults
		wantCode   int
		wantFailed []string
	}{
		{"healthy environment", e2echecktest.Faults{}, 0, []string{}},
		{"gateway open without credentials", e2echecktest.Faults{OpenWithoutCredentials: true}, 1, []string{"no-credentials"}},
		{"basic plan not throttled", e2echecktest.Faults{NoThrottle: true}, 1, []string{"rate-limit"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := e2echecktest.Start(t, tc.faults)
			setE2ESecrets(t, e2echecktest.Creds)
			args := []string{"e2e", "--base-url", env.GatewayURL, "--backend-url", env.BackendURL, "--expect-customer", e2echecktest.CustomerID,
				"--rate-max-requests", "50", "--rate-concurrency", "4"}

			out, errOut, code := e2eCLI(append([]string{"-o", "json"}, args...)...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.wantCode, errOut)
			}
			var rep e2echeck.Report
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("decode %q: %v", out, err)
			}
			if len(rep.Checks) != len(e2echeck.AllChecks) || strings.Join(rep.Failed, ",") != strings.Join(tc.wantFailed, ",") {
				t.Errorf("ran %d checks, failed %v; want %d, %v", len(rep.Checks), rep.Failed, len(e2echeck.AllChecks), tc.wantFailed)
			}
			if tc.wantCode != 0 && !strings.Contains(errOut, tc.wantFailed[0]) {
				t.Errorf("stderr %q does not name the failed check", errOut)
			}

			table, errOut2, _ := e2eCLI(args...)
			wantVerdict := "all passed"
			if tc.wantCode != 0 {
				wantVerdict = strconv.Itoa(len(tc.wantFailed)) + " failed"
			}
			if !strings.Contains(table, "CHECK") || !strings.Contains(table, wantVerdict) {
				t.Errorf("table output lacks the header or %q:\n%s", wantVerdict, table)
			}
			noSecrets(t, out, errOut, table, errOut2)
		})
	}
}

// A selected check without its secret is a usage error before any request;
// --checks narrows the run to what the secrets given allow (the smoke test).
func TestE2ECommandInputs(t *testing.T) {
	env := e2echecktest.Start(t, e2echecktest.Faults{})
	setE2ESecrets(t, e2echeck.Credentials{Key: e2echecktest.Creds.Key})

	_, errOut, code := e2eCLI("e2e", "--base-url", env.GatewayURL)
	if code != 2 || !strings.Contains(errOut, "check jwt needs STAGEHAND_E2E_JWT") {
		t.Errorf("missing JWT: exit %d, stderr %q; want 2 naming STAGEHAND_E2E_JWT", code, errOut)
	}
	if env.Calls() != 0 {
		t.Errorf("a refused configuration sent %d requests", env.Calls())
	}
	out, errOut, code := e2eCLI("e2e", "--base-url", env.GatewayURL, "--checks", "key,no-credentials")
	if code != 0 || !strings.Contains(out, "2 checks, 2 requests, all passed") {
		t.Errorf("smoke subset: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, errOut, code := e2eCLI("e2e", "--key", "sh_dev_x", "--base-url", env.GatewayURL); code == 0 || !strings.Contains(errOut, "unknown flag: --key") {
		t.Errorf("a secret flag was accepted: exit %d %q", code, errOut)
	}
}
