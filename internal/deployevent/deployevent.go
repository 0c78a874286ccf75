// Package deployevent is the contract between CI and stagehand's deployment
// handler: the EventBridge events "API Deployment Completed" and "API Stack
// Retiring" that CI publishes, and "API Keys Associated" that stagehand
// publishes when every key of the environment can call the new stage.
//
// The detail is versioned JSON ("version": "1"). Parsing is strict: unknown
// fields, wrong types and out-of-range values are rejected with one
// FieldError per problem, so that a bad event fails with a reason a human
// can act on (and lands in the DLQ) instead of half-working. The JSON Schema
// in schema/deployment-event.schema.json describes the same rules for CI
// users; a test keeps the two in step.
package deployevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Version is the detail version this package reads and writes.
const Version = "1"

// DefaultSource is the EventBridge source of stagehand's deploy events
// unless configured otherwise (STAGEHAND_EVENT_SOURCE).
const DefaultSource = "stagehand.deployment"

// Detail types.
const (
	// DeploymentCompleted: CI deployed a new colour's stack; its stage must
	// join every usage plan of the environment.
	DeploymentCompleted = "API Deployment Completed"
	// StackRetiring: CI is about to delete an old colour's stack; its stage
	// must leave every usage plan first.
	StackRetiring = "API Stack Retiring"
	// KeysAssociated: stagehand finished re-associating a deployment; CI
	// may move traffic.
	KeysAssociated = "API Keys Associated"
)

// Colours of a blue/green deployment.
const (
	Blue  = "blue"
	Green = "green"
)

// OtherColour returns the colour that is not c ("" for an unknown colour).
func OtherColour(c string) string {
	switch c {
	case Blue:
		return Green
	case Green:
		return Blue
	}
	return ""
}

// ErrInvalid is wrapped by every validation failure (see ValidationError).
var ErrInvalid = errors.New("invalid deploy event")

// FieldError is one problem with one field. Field is the JSON name inside
// the detail ("sequence"), or an envelope name ("detail-type", "source").
type FieldError struct {
	Field   string `json:"field"`
	Problem string `json:"problem"`
}

func (f FieldError) String() string { return f.Field + ": " + f.Problem }

// ValidationError lists every problem found in an event, ordered by field.
type ValidationError struct {
	Problems []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return ErrInvalid.Error() + ": " + strings.Join(parts, "; ")
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Detail is the detail of DeploymentCompleted and StackRetiring.
//
// For StackRetiring, APIID/Stage/Colour/StackName name the stack being
// retired and Sequence is the sequence of the deployment that replaced it
// (the CI run's own sequence): stagehand applies the retirement only once
// that deployment is recorded, so a retire that overtakes its deploy event
// cannot leave the environment without a stage.
type Detail struct {
	Version     string    `json:"version"`
	Environment string    `json:"environment"`
	APIID       string    `json:"apiId"`
	Stage       string    `json:"stage"`
	Colour      string    `json:"colour"`
	StackName   string    `json:"stackName"`
	Sequence    int64     `json:"sequence"`
	GitSHA      string    `json:"gitSha"`
	Time        time.Time `json:"time"`
}

// Counts are what a re-association changed (the detail of KeysAssociated).
type Counts struct {
	PlansUpdated int   `json:"plansUpdated"`
	KeysAttached int   `json:"keysAttached"`
	KeysRemoved  int   `json:"keysRemoved"`
	Retries      int   `json:"retries"`
	DurationMS   int64 `json:"durationMs"`
}

// AssociatedDetail is the detail of KeysAssociated.
type AssociatedDetail struct {
	Version     string `json:"version"`
	Environment string `json:"environment"`
	APIID       string `json:"apiId"`
	Stage       string `json:"stage"`
	Colour      string `json:"colour,omitempty"`
	Sequence    int64  `json:"sequence"`
	Counts      Counts `json:"counts"`
}

// Event is a parsed, validated deploy event.
type Event struct {
	// ID is the EventBridge event id (for logs).
	ID         string
	DetailType string
	Detail     Detail
}

// Field rules, shared with the JSON Schema file.
var (
	reEnvironment = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	reAPIID       = regexp.MustCompile(`^[a-z0-9]{10}$`)
	reStage       = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	reStackName   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)
	reGitSHA      = regexp.MustCompile(`^[0-9a-f]{7,64}$`)
)

// maxSequence keeps sequences exact in every JSON consumer (2^53 - 1).
const maxSequence = 1<<53 - 1

var detailFields = []string{"version", "environment", "apiId", "stage", "colour", "stackName", "sequence", "gitSha", "time"}

// ParseDetail decodes and validates a detail strictly. On a validation
// failure it returns a *ValidationError (wrapping ErrInvalid) together with
// the fields that were valid, so that a caller can still identify the
// deployment (environment and sequence) to mark it failed.
func ParseDetail(raw []byte) (Detail, error) {
	var d Detail
	var problems []FieldError
	bad := func(field, format string, a ...any) {
		problems = append(problems, FieldError{Field: field, Problem: fmt.Sprintf(format, a...)})
	}
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return d, &ValidationError{Problems: []FieldError{{Field: "detail", Problem: "must be a JSON object"}}}
	}
	for name := range fields {
		if !slices.Contains(detailFields, name) {
			bad(name, "unknown field")
		}
	}
	str := func(name string, re *regexp.Regexp, rule string) string {
		v, ok := fields[name]
		if !ok {
			bad(name, "required")
			return ""
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			bad(name, "must be a string")
			return ""
		}
		if re != nil && !re.MatchString(s) {
			bad(name, "%q does not match %s", s, rule)
			return ""
		}
		return s
	}
	if v := str("version", nil, ""); v != "" && v != Version {
		bad("version", "unsupported version %q (this stagehand reads %q)", v, Version)
	} else {
		d.Version = v
	}
	d.Environment = str("environment", reEnvironment, "a lowercase name of at most 32 characters ([a-z][a-z0-9-]*)")
	d.APIID = str("apiId", reAPIID, "a REST API id (10 lowercase letters or digits)")
	d.Stage = str("stage", reStage, "a stage name (letters, digits, '-' or '_', at most 128)")
	if c := str("colour", nil, ""); c != "" && c != Blue && c != Green {
		bad("colour", "must be %q or %q, not %q", Blue, Green, c)
	} else {
		d.Colour = c
	}
	d.StackName = str("stackName", reStackName, "a CloudFormation stack name")
	d.GitSHA = str("gitSha", reGitSHA, "a lowercase hex commit id of 7 to 64 characters")
	if v, ok := fields["sequence"]; !ok {
		bad("sequence", "required")
	} else {
		var n json.Number
		trimmed := bytes.TrimSpace(v)
		if len(trimmed) == 0 || (trimmed[0] != '-' && (trimmed[0] < '0' || trimmed[0] > '9')) {
			bad("sequence", "must be an integer")
		} else if err := json.Unmarshal(trimmed, &n); err != nil {
			bad("sequence", "must be an integer")
		} else if i, err := n.Int64(); err != nil || strings.ContainsAny(n.String(), ".eE") {
			bad("sequence", "must be an integer, not %s", n)
		} else if i < 1 || i > maxSequence {
			bad("sequence", "must be between 1 and %d, not %d", int64(maxSequence), i)
		} else {
			d.Sequence = i
		}
	}
	if ts := str("time", nil, ""); ts != "" {
		t, err := time.Parse(time.RFC3339, ts)
		if err != nil {
			bad("time", "must be an RFC 3339 timestamp, not %q", ts)
		} else {
			d.Time = t.UTC()
		}
	}
	if len(problems) > 0 {
		sort.SliceStable(problems, func(i, j int) bool { return problems[i].Field < problems[j].Field })
		return d, &ValidationError{Problems: problems}
	}
	return d, nil
}

// Validate checks a Detail built in Go (for example by the CLI before it
// publishes) against the same rules ParseDetail applies.
func (d Detail) Validate() error {
	raw, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode detail: %w", err)
	}
	_, err = ParseDetail(raw)
	return err
}

// MarshalJSON writes the time in RFC 3339 UTC with second precision, as
// the schema expects.
func (d Detail) MarshalJSON() ([]byte, error) {
	type plain Detail
	return json.Marshal(struct {
		plain
		Time string `json:"time"`
	}{plain: plain(d), Time: d.Time.UTC().Format(time.RFC3339)})
}

// Parse validates an EventBridge envelope (its source must be source and
// its detail type one of DeploymentCompleted or StackRetiring) and its
// detail. The returned Event carries the valid fields even on error (see
// ParseDetail).
func Parse(ev events.CloudWatchEvent, source string) (Event, error) {
	out := Event{ID: ev.ID, DetailType: ev.DetailType}
	var envelope []FieldError
	if ev.Source != source {
		envelope = append(envelope, FieldError{Field: "source", Problem: fmt.Sprintf("must be %q, not %q", source, ev.Source)})
	}
	if ev.DetailType != DeploymentCompleted && ev.DetailType != StackRetiring {
		envelope = append(envelope, FieldError{Field: "detail-type", Problem: fmt.Sprintf("must be %q or %q, not %q", DeploymentCompleted, StackRetiring, ev.DetailType)})
	}
	d, err := ParseDetail(ev.Detail)
	out.Detail = d
	var ve *ValidationError
	switch {
	case err == nil && len(envelope) == 0:
		return out, nil
	case errors.As(err, &ve):
		return out, &ValidationError{Problems: append(envelope, ve.Problems...)}
	case err != nil:
		return out, err
	default:
		return out, &ValidationError{Problems: envelope}
	}
}
