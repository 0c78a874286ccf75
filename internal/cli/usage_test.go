package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stagehand-dev/stagehand/internal/cli"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// offline runs the CLI with nothing reachable: a usage error must be found
// before any AWS call (every endpoint is a closed port, see init).
func offline(args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	full := append([]string{"--table", "t", "--endpoint", "http://127.0.0.1:9", "--apigateway-endpoint", "http://127.0.0.1:9",
		"--events-endpoint", "http://127.0.0.1:9", "--region", "us-east-1"}, args...)
	code = cli.Execute(context.Background(), full, &out, &errb)
	return out.String(), errb.String(), code
}

// commandTree lists every command of the real tree (help and completion
// included), so a group added later is covered without editing this test.
func commandTree(t *testing.T) []*cobra.Command {
	t.Helper()
	root := cli.NewRootCommand(&cli.App{})
	var all []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		all = append(all, c)
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	if len(all) < 20 {
		t.Fatalf("the command tree has %d commands; expected the whole CLI", len(all))
	}
	return all
}

// path is a command's words after "stagehand".
func path(c *cobra.Command) []string { return strings.Fields(c.CommandPath())[1:] }

func wantUsage(t *testing.T, args []string, wantErr string) {
	t.Helper()
	out, errOut, code := offline(args...)
	if code != cli.ExitUsage {
		t.Errorf("stagehand %s: exit %d, want %d (stdout %q, stderr %q)", strings.Join(args, " "), code, cli.ExitUsage, out, errOut)
	}
	if !strings.HasPrefix(errOut, "stagehand: ") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("stagehand %s: stderr %q, want one line", strings.Join(args, " "), errOut)
	}
	if !strings.Contains(errOut, wantErr) {
		t.Errorf("stagehand %s: stderr %q does not mention %q", strings.Join(args, " "), errOut, wantErr)
	}
	if out != "" {
		t.Errorf("stagehand %s: a usage error printed on stdout: %q", strings.Join(args, " "), out)
	}
}

// Every command of the tree: an unknown flag, a bad --output and a bad
// --env are usage errors (exit 2, one line on stderr); every group refuses
// a missing or unknown subcommand; every command with a --limit refuses 0
// and negatives; every required flag left out is a usage error.
func TestUsageErrorsOnEveryCommand(t *testing.T) {
	for _, c := range commandTree(t) {
		p := path(c)
		name := strings.Join(append([]string{"stagehand"}, p...), " ")
		t.Run(name, func(t *testing.T) {
			wantUsage(t, append(append([]string{}, p...), "--no-such-flag"), "unknown flag: --no-such-flag")
			if c.Name() == "help" {
				return // help takes any topic
			}
			wantUsage(t, append([]string{"-o", "yaml"}, p...), "--output must be table or json")
			wantUsage(t, append([]string{"--env", "PROD"}, p...), `--env (or STAGEHAND_ENV) "PROD"`)
			if c.HasSubCommands() {
				// A group alone or with an unknown subcommand is refused
				// (cutover, runnable itself, refuses the extra argument).
				wantUsage(t, p, "")
				wantUsage(t, append(append([]string{}, p...), "nosuch"), "")
				if _, errOut, _ := offline(append(append([]string{}, p...), "nosuch")...); strings.Contains(errOut, "unknown command") {
					sub := c.Commands()[0].Name() // a typo gets a suggestion
					wantUsage(t, append(append([]string{}, p...), sub[:len(sub)-1]+"x"), "did you mean")
				}
			}
			if c.Flags().Lookup("limit") != nil {
				for _, bad := range []string{"0", "-3", "1001", "ten"} {
					wantUsage(t, append(append([]string{}, p...), "--limit", bad), `invalid argument "`+bad+`" for "--limit"`)
				}
			}
			if required := requiredFlags(c); len(required) > 0 {
				// The positional count is unknown here: one of 0-2
				// arguments gets past the argument check to the flags.
				found := false
				for n := 0; n <= 2 && !found; n++ {
					args := append(append([]string{"--env", "dev"}, p...), strings.Fields(strings.Repeat("x1 ", n))...)
					_, errOut, code := offline(args...)
					if strings.Contains(errOut, "required flag(s)") {
						found = true
						if code != cli.ExitUsage || strings.Count(errOut, "\n") != 1 {
							t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
						}
						for _, f := range required {
							if !strings.Contains(errOut, `"`+f+`"`) {
								t.Errorf("%v: stderr %q does not name required flag %s", args, errOut, f)
							}
						}
					}
				}
				if !found {
					t.Errorf("required flags %v: no call reached the required-flag check", required)
				}
			}
		})
	}
}

func requiredFlags(c *cobra.Command) []string {
	var names []string
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if v, ok := f.Annotations[cobra.BashCompOneRequiredFlag]; ok && len(v) > 0 && v[0] == "true" {
			names = append(names, f.Name)
		}
	})
	return names
}

func TestUnknownTopLevelCommand(t *testing.T) {
	wantUsage(t, []string{"custmers", "list"}, `unknown command "custmers" for "stagehand"; did you mean "customers"?`)
	wantUsage(t, []string{"frobnicate"}, `unknown command "frobnicate"`)
	wantUsage(t, []string{"keys", "revok", "key_x"}, `unknown command "revok" for "stagehand keys"; did you mean "revoke"?`)
	wantUsage(t, nil, "stagehand needs a command")
	wantUsage(t, []string{"help", "nosuch"}, `unknown help topic "nosuch"`)
	if out, errOut, code := offline("help", "keys", "create"); code != 0 || !strings.Contains(out, "Usage:") {
		t.Errorf("help keys create: exit %d, %q %q", code, out, errOut)
	}
	wantUsage(t, []string{"keys"}, "stagehand keys needs a command: one of create, expire, get, list, resume, revoke, rotate, suspend")
}

func TestVersion(t *testing.T) {
	out, errOut, code := offline("--version")
	if code != 0 || errOut != "" {
		t.Fatalf("--version: exit %d, stderr %q", code, errOut)
	}
	want := "stagehand version " + cli.Version + " (commit " + cli.Commit + ", built " + cli.BuildDate + ")\n"
	if out != want {
		t.Errorf("--version = %q, want %q", out, want)
	}
}

// A registry record that does not exist exits 3, distinct from a failure.
func TestNotFoundExitCode(t *testing.T) {
	table, _, _ := seedTable(t)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"audit of an unknown customer", []string{"audit", "nosuch"}, `customer "nosuch": customer not found`},
		{"customers get", []string{"customers", "get", "nosuch"}, `customer "nosuch": customer not found`},
		{"keys get", []string{"keys", "get", "key_aaaaaaaaaaaaaaaa"}, "key not found"},
		{"change-plan of an unknown customer", []string{"--env", "dev", "customers", "change-plan", "ghost", "--plan", "basic"}, `customer "ghost": customer not found`},
		{"key for an unsubscribed customer", []string{"--env", "staging", "keys", "create", "--customer", "acme"}, `customer "acme" has no subscription in staging`},
		{"binding for an unknown customer", []string{"--env", "dev", "bindings", "create", "--issuer", "https://idp.example.com/", "--subject", "s", "--customer", "ghost"}, `customer "ghost": customer not found`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := run(t, table, tc.args...)
			if code != cli.ExitNotFound || !strings.Contains(errOut, tc.wantErr) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want %d and one line mentioning %q", code, errOut, cli.ExitNotFound, tc.wantErr)
			}
		})
	}
	// env:<env> subjects stay valid; a bad env name is a usage error.
	mustRun(t, table, "audit", "env:dev")
	if _, errOut, code := run(t, table, "audit", "env:PROD"); code != cli.ExitUsage {
		t.Errorf("audit env:PROD: exit %d, %q", code, errOut)
	}
}

// A suspended customer's key is refused with an error that names the
// customer and its state, and no key id (none was created).
func TestKeyForSuspendedCustomer(t *testing.T) {
	table, _, _ := seedTable(t)
	mustRun(t, table, "customers", "suspend", "acme")
	_, errOut, code := run(t, table, "--env", "dev", "keys", "create", "--customer", "acme")
	if code != cli.ExitError || !strings.Contains(errOut, `customer "acme" is suspended`) || strings.Contains(errOut, "key_") {
		t.Errorf("exit %d, stderr %q; want 1, the customer suspended and no key id", code, errOut)
	}
}

// plans put validates every field with registry.Plan.Validate and names the
// flag; nothing is written.
func TestPlansPutValidation(t *testing.T) {
	table, _, _ := seedTable(t)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"negative quota", []string{"bronze", "--quota", "-5", "--quota-period", "DAY"}, "--quota: must be 0 (no quota) or more, got -5"},
		{"negative rate", []string{"bronze", "--rate", "-1", "--burst", "-20"}, "--rate: must be a number of requests per second, 0 or more, got -1"},
		{"negative burst", []string{"bronze", "--rate", "1", "--burst", "-20"}, "--burst: must be 0 or more, got -20"},
		{"rate without burst", []string{"bronze", "--rate", "5"}, "--burst: must be above 0 when rateLimit is set"},
		{"burst without rate", []string{"bronze", "--burst", "5"}, "--rate: must be above 0 when burstLimit is set"},
		{"quota without period", []string{"bronze", "--quota", "100"}, "--quota-period: must be DAY, WEEK or MONTH"},
		{"period without quota", []string{"bronze", "--quota-period", "DAY"}, "--quota-period: must be empty when quotaLimit is 0"},
		{"lower-case period", []string{"bronze", "--quota", "100", "--quota-period", "day"}, "--quota-period: must be DAY, WEEK or MONTH"},
		{"bad name", []string{"Bad_Name"}, `NAME: "Bad_Name" must be a lower-case letter`},
		{"NaN rate", []string{"bronze", "--rate", "NaN", "--burst", "1"}, "--rate: must be a number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := run(t, table, append([]string{"--env", "dev", "plans", "put"}, tc.args...)...)
			if code != cli.ExitUsage || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want 2 mentioning %q", code, errOut, tc.wantErr)
			}
		})
	}
	var plans struct {
		Items []registry.Plan `json:"items"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, table, "--env", "dev", "-o", "json", "plans", "list")), &plans); err != nil {
		t.Fatal(err)
	}
	if len(plans.Items) != 1 || plans.Items[0].Name != "basic" {
		t.Errorf("bad plans were stored: %+v", plans.Items)
	}
	mustRun(t, table, "--env", "dev", "plans", "put", "gold", "--rate", "100", "--burst", "200", "--quota", "1000000", "--quota-period", "MONTH")
	mustRun(t, table, "--env", "dev", "plans", "put", "free") // no throttle, no quota
}

// Every list command prints {"items": [...], "next": "..."} in JSON: items
// always an array, next only when another page follows.
func TestListJSONShape(t *testing.T) {
	table, _, _ := seedTable(t)
	mustRun(t, table, "--env", "dev", "keys", "create", "--customer", "acme")
	mustRun(t, table, "--env", "dev", "keys", "create", "--customer", "acme")
	mustRun(t, table, "--env", "dev", "bindings", "create", "--issuer", "https://idp.example.com/", "--subject", "svc-1", "--customer", "acme")
	type shape struct {
		Items []json.RawMessage `json:"items"`
		Next  *string           `json:"next"`
	}
	tests := []struct {
		name      string
		args      []string
		wantItems int
		wantNext  bool
	}{
		{"customers list", []string{"customers", "list"}, 1, false},
		{"keys list by customer", []string{"--env", "dev", "keys", "list", "--customer", "acme"}, 2, false},
		{"keys list by env, paged", []string{"--env", "dev", "keys", "list", "--limit", "1"}, 1, true},
		{"keys list of nobody", []string{"--env", "staging", "keys", "list"}, 0, false},
		{"plans list", []string{"--env", "dev", "plans", "list"}, 1, false},
		{"plans list, empty", []string{"--env", "staging", "plans", "list"}, 0, false},
		{"bindings list", []string{"bindings", "list", "acme"}, 1, false},
		{"audit", []string{"audit", "acme", "--limit", "2"}, 2, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := mustRun(t, table, append([]string{"-o", "json"}, tc.args...)...)
			dec := json.NewDecoder(strings.NewReader(out))
			dec.DisallowUnknownFields()
			var got shape
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("%s: not the list shape: %v\n%s", tc.name, err, out)
			}
			if got.Items == nil {
				t.Errorf("items is missing or null:\n%s", out)
			}
			if len(got.Items) != tc.wantItems || (got.Next != nil) != tc.wantNext {
				t.Errorf("%d items, next %v; want %d, next %v\n%s", len(got.Items), got.Next, tc.wantItems, tc.wantNext, out)
			}
			for _, it := range got.Items {
				var m map[string]any
				if err := json.Unmarshal(it, &m); err != nil {
					t.Fatal(err)
				}
				for k := range m {
					if k[:1] != strings.ToLower(k[:1]) {
						t.Errorf("item field %q is not camelCase", k)
					}
				}
			}
			if got.Next != nil { // the cursor works
				next := mustRun(t, table, append(append([]string{"-o", "json"}, tc.args...), "--next", *got.Next)...)
				var page shape
				if err := json.Unmarshal([]byte(next), &page); err != nil || len(page.Items) == 0 {
					t.Errorf("next page: %v %s", err, next)
				}
				if diff := cmp.Diff(got.Items[0], page.Items[0]); diff == "" {
					t.Errorf("the next page repeats the first item")
				}
			}
		})
	}
}

// Each global flag's help names the variable it defaults from.
func TestGlobalFlagHelpNamesItsVariable(t *testing.T) {
	root := cli.NewRootCommand(&cli.App{})
	for flag, variable := range map[string]string{
		"env": "STAGEHAND_ENV", "table": "STAGEHAND_TABLE", "region": "AWS_REGION",
		"endpoint": "STAGEHAND_DYNAMODB_ENDPOINT", "apigateway-endpoint": "STAGEHAND_APIGATEWAY_ENDPOINT",
		"events-endpoint": "STAGEHAND_EVENTS_ENDPOINT",
	} {
		f := root.PersistentFlags().Lookup(flag)
		if f == nil {
			t.Errorf("no global flag --%s", flag)
			continue
		}
		if !strings.Contains(f.Usage, variable) {
			t.Errorf("--%s: help %q does not name %s", flag, f.Usage, variable)
		}
	}
}
