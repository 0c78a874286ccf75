package emf_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/emf"
)

func TestCount(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	emf.Count(context.Background(), log, at, "usage plans failing", emf.FailingUsagePlans, 2, map[string]string{emf.DimEnvironment: "prod"})

	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("not one JSON object: %v: %s", err, buf.String())
	}
	delete(got, "time")
	want := map[string]any{
		"level": "INFO",
		"msg":   "usage plans failing",
		"_aws": map[string]any{
			"Timestamp": float64(at.UnixMilli()),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  "Stagehand",
				"Dimensions": []any{[]any{"Environment"}},
				"Metrics":    []any{map[string]any{"Name": "FailingUsagePlans", "Unit": "Count"}},
			}},
		},
		"FailingUsagePlans": float64(2),
		"Environment":       "prod",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EMF record (-want +got):\n%s", diff)
	}
}
