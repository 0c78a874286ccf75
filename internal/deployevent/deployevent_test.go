package deployevent_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/deployevent"
)

func loadEvent(t *testing.T, name string) events.CloudWatchEvent {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.CloudWatchEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}

func validDetail() deployevent.Detail {
	return deployevent.Detail{
		Version: "1", Environment: "prod", APIID: "a1b2c3d4e5", Stage: "prod", Colour: "green",
		StackName: "Api-prod-green", Sequence: 42, GitSHA: "9f2c1e0b7d4a5c6e8f9a0b1c2d3e4f5a6b7c8d9e",
		Time: time.Date(2026, 11, 21, 11, 59, 58, 0, time.UTC),
	}
}

func TestParseFixtures(t *testing.T) {
	retiring := validDetail()
	retiring.APIID, retiring.Colour, retiring.StackName = "z9y8x7w6v5", "blue", "Api-prod-blue"
	retiring.Time = time.Date(2026, 11, 21, 12, 29, 59, 0, time.UTC)
	tests := []struct {
		name     string
		file     string
		want     deployevent.Event
		problems []deployevent.FieldError
	}{
		{
			name: "deployment completed",
			file: "deployment-completed.json",
			want: deployevent.Event{ID: "6a7e8feb-b491-4cf7-a9f1-bf3703467718", DetailType: deployevent.DeploymentCompleted, Detail: validDetail()},
		},
		{
			name: "stack retiring",
			file: "stack-retiring.json",
			want: deployevent.Event{ID: "0d079340-135a-c8c6-95c2-41fb8f496c53", DetailType: deployevent.StackRetiring, Detail: retiring},
		},
		{
			name: "invalid detail keeps the identifying fields and lists every problem",
			file: "invalid-deployment.json",
			want: deployevent.Event{ID: "e2b1b7c4-4a8c-4f0e-9c53-0f3e7f9a1d21", DetailType: deployevent.DeploymentCompleted, Detail: deployevent.Detail{
				Version: "1", Environment: "prod", Stage: "prod", StackName: "Api-prod-green", Sequence: 43, GitSHA: "9f2c1e0b",
			}},
			problems: []deployevent.FieldError{
				{Field: "apiId", Problem: `"A1B2" does not match a REST API id (10 lowercase letters or digits)`},
				{Field: "colour", Problem: `must be "blue" or "green", not "purple"`},
				{Field: "deployedBy", Problem: "unknown field"},
				{Field: "time", Problem: `must be an RFC 3339 timestamp, not "yesterday"`},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := deployevent.Parse(loadEvent(t, tc.file), deployevent.DefaultSource)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("Parse (-want +got):\n%s", d)
			}
			checkProblems(t, err, tc.problems)
		})
	}
}

func checkProblems(t *testing.T, err error, want []deployevent.FieldError) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var ve *deployevent.ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, deployevent.ErrInvalid) {
		t.Fatalf("err = %v, want a ValidationError wrapping ErrInvalid", err)
	}
	if d := cmp.Diff(want, ve.Problems); d != "" {
		t.Errorf("problems (-want +got):\n%s", d)
	}
}

func TestParseDetailRules(t *testing.T) {
	base := func(mut func(m map[string]any)) []byte {
		m := map[string]any{
			"version": "1", "environment": "prod", "apiId": "a1b2c3d4e5", "stage": "prod", "colour": "green",
			"stackName": "Api-prod-green", "sequence": 42, "gitSha": "9f2c1e0b", "time": "2026-11-21T11:59:58Z",
		}
		mut(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name     string
		raw      []byte
		problems []deployevent.FieldError
	}{
		{name: "valid", raw: base(func(map[string]any) {})},
		{name: "time with offset", raw: base(func(m map[string]any) { m["time"] = "2026-11-21T13:59:58+02:00" })},
		{name: "missing sequence", raw: base(func(m map[string]any) { delete(m, "sequence") }),
			problems: []deployevent.FieldError{{Field: "sequence", Problem: "required"}}},
		{name: "sequence as string", raw: base(func(m map[string]any) { m["sequence"] = "42" }),
			problems: []deployevent.FieldError{{Field: "sequence", Problem: "must be an integer"}}},
		{name: "fractional sequence", raw: base(func(m map[string]any) { m["sequence"] = 4.5 }),
			problems: []deployevent.FieldError{{Field: "sequence", Problem: "must be an integer, not 4.5"}}},
		{name: "zero sequence", raw: base(func(m map[string]any) { m["sequence"] = 0 }),
			problems: []deployevent.FieldError{{Field: "sequence", Problem: "must be between 1 and 9007199254740991, not 0"}}},
		{name: "sequence beyond 2^53", raw: base(func(m map[string]any) { m["sequence"] = json.Number("9007199254740992") }),
			problems: []deployevent.FieldError{{Field: "sequence", Problem: "must be between 1 and 9007199254740991, not 9007199254740992"}}},
		{name: "future version", raw: base(func(m map[string]any) { m["version"] = "2" }),
			problems: []deployevent.FieldError{{Field: "version", Problem: `unsupported version "2" (this stagehand reads "1")`}}},
		{name: "environment upper case", raw: base(func(m map[string]any) { m["environment"] = "Prod" }),
			problems: []deployevent.FieldError{{Field: "environment", Problem: `"Prod" does not match a lowercase name of at most 32 characters ([a-z][a-z0-9-]*)`}}},
		{name: "stage with a slash", raw: base(func(m map[string]any) { m["stage"] = "a/b" }),
			problems: []deployevent.FieldError{{Field: "stage", Problem: `"a/b" does not match a stage name (letters, digits, '-' or '_', at most 128)`}}},
		{name: "number where a string belongs", raw: base(func(m map[string]any) { m["gitSha"] = 12345678 }),
			problems: []deployevent.FieldError{{Field: "gitSha", Problem: "must be a string"}}},
		{name: "not an object", raw: []byte(`[1,2]`),
			problems: []deployevent.FieldError{{Field: "detail", Problem: "must be a JSON object"}}},
		{name: "empty", raw: nil,
			problems: []deployevent.FieldError{{Field: "detail", Problem: "must be a JSON object"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := deployevent.ParseDetail(tc.raw)
			checkProblems(t, err, tc.problems)
		})
	}
}

func TestParseEnvelope(t *testing.T) {
	ev := loadEvent(t, "deployment-completed.json")
	ev.Source, ev.DetailType = "someone.else", "Something Happened"
	_, err := deployevent.Parse(ev, deployevent.DefaultSource)
	checkProblems(t, err, []deployevent.FieldError{
		{Field: "source", Problem: `must be "stagehand.deployment", not "someone.else"`},
		{Field: "detail-type", Problem: `must be "API Deployment Completed" or "API Stack Retiring", not "Something Happened"`},
	})
	ev = loadEvent(t, "deployment-completed.json")
	ev.Source = "custom.source"
	if _, err := deployevent.Parse(ev, "custom.source"); err != nil {
		t.Errorf("configured source refused: %v", err)
	}
}

func TestDetailRoundTrip(t *testing.T) {
	d := validDetail()
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := deployevent.ParseDetail(raw)
	if err != nil {
		t.Fatalf("ParseDetail(Marshal(d)): %v\n%s", err, raw)
	}
	if diff := cmp.Diff(d, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	d.Colour = "red"
	if err := d.Validate(); !errors.Is(err, deployevent.ErrInvalid) {
		t.Errorf("Validate(colour red) = %v, want ErrInvalid", err)
	}
}

func TestAssociatedFixture(t *testing.T) {
	ev := loadEvent(t, "keys-associated.json")
	var got deployevent.AssociatedDetail
	dec := json.NewDecoder(bytesReader(ev.Detail))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := deployevent.AssociatedDetail{Version: "1", Environment: "prod", APIID: "a1b2c3d4e5", Stage: "prod", Colour: "green", Sequence: 42,
		Counts: deployevent.Counts{PlansUpdated: 3, Retries: 1, DurationMS: 40250}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestOtherColour(t *testing.T) {
	for in, want := range map[string]string{"blue": "green", "green": "blue", "": "", "red": ""} {
		if got := deployevent.OtherColour(in); got != want {
			t.Errorf("OtherColour(%q) = %q, want %q", in, got, want)
		}
	}
}
