package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
	"github.com/stagehand-dev/stagehand/internal/usage"
)

func TestUsageCommands(t *testing.T) {
	table, gw, planID := seedTable(t)
	ctx := context.Background()
	store := registry.New(ddbtest.Client(t), table)
	sub, err := store.GetSubscription(ctx, "acme", "dev")
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC)
	for range 7 {
		gw.RecordUsage(sub.UsageKeyID, planID, day)
	}
	at := clock.NewVirtual(day.AddDate(0, 0, 1).Add(time.Hour))

	// collect: yesterday by default
	var rep usage.CollectReport
	if err := json.Unmarshal([]byte(runAt(t, table, at, "--env", "dev", "-o", "json", "usage", "collect")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Start != "2026-06-10" || rep.Customers != 1 || rep.Days != 1 {
		t.Errorf("collect report %+v", rep)
	}
	days, err := store.ListUsageDays(ctx, "dev", "acme", "2026-06-10", "2026-06-10")
	if err != nil || len(days) != 1 || days[0].Used != 7 {
		t.Errorf("stored %+v, %v", days, err)
	}
	// anomalies: too little history for a judgement, and none
	var an struct{ Items []usage.Anomaly }
	if err := json.Unmarshal([]byte(runAt(t, table, at, "--env", "dev", "-o", "json", "usage", "anomalies")), &an); err != nil || an.Items == nil || len(an.Items) != 0 {
		t.Errorf("anomalies %+v, %v; want an empty list", an, err)
	}
	// export: the day's billing records (none yet: just the header)
	if out := mustRun(t, table, "--env", "dev", "usage", "export", "--day", "2026-06-10"); !strings.HasPrefix(out, "id,env,date,customer_id") {
		t.Errorf("export:\n%s", out)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"collect with a bad date", []string{"--env", "dev", "usage", "collect", "--from", "June"}},
		{"collect backwards", []string{"--env", "dev", "usage", "collect", "--from", "2026-06-10", "--to", "2026-06-01"}},
		{"export without a day", []string{"--env", "dev", "usage", "export"}},
		{"export in xml", []string{"--env", "dev", "usage", "export", "--day", "2026-06-10", "--format", "xml"}},
		{"anomalies without env", []string{"usage", "anomalies"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := run(t, table, tc.args...)
			if code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Errorf("exit %d, stderr %q; want 2 and one line", code, errOut)
			}
		})
	}
}
