package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stagehand-dev/stagehand/internal/cli"
	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/rotation"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
)

// runAt runs the CLI in-process on clock clk.
func runAt(t *testing.T, table string, clk clock.Clock, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	app := &cli.App{Out: &out, Err: &errb, Clock: clk}
	root := cli.NewRootCommand(app)
	full := []string{"--table", table, "--endpoint", ddbtest.Endpoint(t), "--region", "us-east-1"}
	if gw, ok := gateways.Load(table); ok {
		full = append(full, "--apigateway-endpoint", gw.(string))
	}
	root.SetArgs(append(full, args...))
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("stagehand %s: %v (%s)", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

func TestRotationCommands(t *testing.T) {
	table, _, _ := seedTable(t)
	mustRun(t, table, "--env", "dev", "keys", "create", "--customer", "acme")
	mustRun(t, table, "--env", "dev", "rotation", "policy", "set", "--plan", "basic", "--max-age", "2h", "--warning", "1h", "--grace", "1h", "--mode", "auto")
	var pols struct {
		Items []struct{ Plan, Mode string }
	}
	if err := json.Unmarshal([]byte(mustRun(t, table, "--env", "dev", "-o", "json", "rotation", "policy", "list")), &pols); err != nil || len(pols.Items) != 1 || pols.Items[0].Mode != "auto" {
		t.Fatalf("policy list: %v %+v", err, pols)
	}
	// Three hours on, the key is due: a dry run plans its rotation.
	later := clock.NewVirtual(time.Now().Add(3 * time.Hour))
	var rep rotation.Report
	out := runAt(t, table, later, "--env", "dev", "-o", "json", "rotation", "run", "--dry-run")
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Scanned != 1 || rep.Count(rotation.ActionRotate, rotation.ResultPlanned) != 1 {
		t.Errorf("dry run report %s, want the key's rotation planned", out)
	}
	// The dry run wrote nothing: a second one plans the same rotation.
	out = runAt(t, table, later, "--env", "dev", "rotation", "run", "--dry-run")
	if !strings.Contains(out, "rotate") || !strings.Contains(out, "planned") {
		t.Errorf("table output:\n%s", out)
	}

	usage := []struct {
		name string
		args []string
	}{
		{"run without a KMS key", []string{"--env", "dev", "rotation", "run"}},
		{"run without an env", []string{"rotation", "run", "--dry-run"}},
		{"policy for plan and customer", []string{"--env", "dev", "rotation", "policy", "set", "--plan", "basic", "--customer", "acme"}},
		{"policy with an unknown mode", []string{"--env", "dev", "rotation", "policy", "set", "--plan", "basic", "--mode", "sometimes"}},
		{"policy warning longer than max age", []string{"--env", "dev", "rotation", "policy", "set", "--plan", "basic", "--max-age", "24h", "--warning", "48h"}},
	}
	for _, tc := range usage {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("STAGEHAND_ROTATION_KMS_KEY", "")
			_, errOut, code := run(t, table, tc.args...)
			if code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Errorf("exit %d, stderr %q; want 2 and one line", code, errOut)
			}
		})
	}
}
