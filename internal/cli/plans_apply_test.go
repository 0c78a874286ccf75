package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
)

// configWithPlans writes a copy of cdk/config/dev.json whose plans are
// plans, and returns its path.
func configWithPlans(t *testing.T, plans []map[string]any) string {
	t.Helper()
	data, err := os.ReadFile("../../cdk/config/dev.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["plans"] = plans
	out, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dev.json")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPlansApply(t *testing.T) {
	db, table := ddbtest.NewTable(t)
	basic := map[string]any{"name": "basic", "rateLimit": 10, "burstLimit": 20, "quotaLimit": 1000, "quotaPeriod": "MONTH",
		"methodThrottles": map[string]any{"/pets/GET": map[string]any{"rateLimit": 5, "burstLimit": 10}}}
	gold := map[string]any{"name": "gold", "rateLimit": 100, "burstLimit": 200, "quotaLimit": 0}
	both := configWithPlans(t, []map[string]any{basic, gold})

	out := mustRun(t, table, "--env", "dev", "plans", "apply", "--file", both)
	if !strings.Contains(out, "basic") || !strings.Contains(out, "created") {
		t.Errorf("apply output:\n%s", out)
	}
	var page struct{ Items []registry.Plan }
	if err := json.Unmarshal([]byte(mustRun(t, table, "--env", "dev", "-o", "json", "plans", "list")), &page); err != nil {
		t.Fatal(err)
	}
	listed := page.Items
	if len(listed) != 2 || listed[0].Name != "basic" || listed[0].MethodThrottles["/pets/GET"] != (registry.MethodThrottle{RateLimit: 5, BurstLimit: 10}) {
		t.Errorf("plans after apply: %+v", listed)
	}

	// acme subscribes to gold (a metering key is created in API Gateway:
	// the CLI needs an emulator for that, so write the subscription
	// directly through the registry instead).
	mustRun(t, table, "customers", "create", "acme", "--name", "Acme")
	store := registry.New(db, table)
	if _, err := store.Subscribe(t.Context(), registry.Subscription{CustomerID: "acme", Env: "dev", Plan: "gold", UsageKeyID: "k", UsageKeyValue: "v"}, "test"); err != nil {
		t.Fatal(err)
	}
	onlyBasic := configWithPlans(t, []map[string]any{basic})
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no file", []string{"--env", "dev", "plans", "apply"}, 2, "--file is required"},
		{"no env", []string{"plans", "apply", "--file", both}, 2, "--env"},
		{"file of another environment", []string{"--env", "prod", "plans", "apply", "--file", both}, 1, `declares environment "dev", not "prod"`},
		{"invalid file", []string{"--env", "dev", "plans", "apply", "--file", configWithPlans(t, []map[string]any{{"name": "Bad!"}})}, 1, "plans[0].name"},
		{"removing a plan with a subscriber", []string{"--env", "dev", "plans", "apply", "--file", onlyBasic}, 1, "gold (1 subscriber(s))"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := run(t, table, tc.args...)
			if code != tc.wantCode || !strings.Contains(errOut, tc.wantErr) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Errorf("exit %d stderr %q; want exit %d, one line naming %q", code, errOut, tc.wantCode, tc.wantErr)
			}
		})
	}
	if _, err := store.GetPlan(t.Context(), "dev", "gold"); err != nil {
		t.Errorf("gold after the refused apply: %v", err)
	}
	if _, _, err := store.ChangePlan(t.Context(), "acme", "dev", "basic", "test"); err != nil {
		t.Fatal(err)
	}
	out = mustRun(t, table, "--env", "dev", "plans", "apply", "--file", onlyBasic, "--dry-run")
	if !strings.Contains(out, "deleted") {
		t.Errorf("dry run output:\n%s", out)
	}
	mustRun(t, table, "--env", "dev", "plans", "apply", "--file", onlyBasic)
	if _, err := store.GetPlan(t.Context(), "dev", "gold"); err == nil {
		t.Error("gold still in the registry after apply without it")
	}
}
