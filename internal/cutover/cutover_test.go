package cutover_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/cutover"
	"github.com/stagehand-dev/stagehand/test/apigw"
)

const domain = "api.example.com"

// world is one emulator with a regional custom domain and two colour APIs,
// each with stage "dev".
type world struct {
	gw          *apigw.Emulator
	client      *apigateway.Client
	blue, green string
}

func newWorld(t testing.TB) world {
	t.Helper()
	gw := apigw.New(apigw.WithoutQuotas())
	c := gw.Client(t)
	_, err := c.CreateDomainName(context.Background(), &apigateway.CreateDomainNameInput{
		DomainName:             aws.String(domain),
		RegionalCertificateArn: aws.String("arn:aws:acm:us-east-1:123456789012:certificate/abc"),
		EndpointConfiguration:  &types.EndpointConfiguration{Types: []types.EndpointType{types.EndpointTypeRegional}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return world{gw: gw, client: c, blue: gw.SeedRestAPI("stagehand-dev-blue", "dev"), green: gw.SeedRestAPI("stagehand-dev-green", "dev")}
}

// mapTo creates basePath's mapping directly through the API.
func (w world) mapTo(t testing.TB, basePath, apiID string) {
	t.Helper()
	in := &apigateway.CreateBasePathMappingInput{DomainName: aws.String(domain), RestApiId: aws.String(apiID), Stage: aws.String("dev")}
	if basePath != "" {
		in.BasePath = aws.String(basePath)
	}
	if _, err := w.client.CreateBasePathMapping(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	w.gw.ResetCounters()
}

// mapping reads the mapping as the data plane sees it ("" when none).
func (w world) mapping(basePath string) string {
	api, stage, ok := w.gw.BasePathMapping(domain, basePath)
	if !ok {
		return ""
	}
	return api + "/" + stage
}

func TestCutover(t *testing.T) {
	tests := []struct {
		name string
		// setup maps the domain before the cutover; colour ids are filled in.
		setup   func(t *testing.T, w world)
		req     func(w world) cutover.Request
		wantErr error
		want    func(w world) cutover.Result
		// wantMapping is where the root mapping points afterwards ("" none).
		wantMapping func(w world) string
		wantWrites  int
	}{
		{
			name:  "first cutover creates the mapping",
			setup: func(*testing.T, world) {},
			req: func(w world) cutover.Request {
				return cutover.Request{Domain: domain, To: cutover.Target{APIID: w.blue, Stage: "dev"}}
			},
			want: func(w world) cutover.Result {
				return cutover.Result{Domain: domain, BasePath: "(none)", Current: cutover.Target{APIID: w.blue, Stage: "dev"}, Action: cutover.ActionCreated}
			},
			wantMapping: func(w world) string { return w.blue + "/dev" },
			wantWrites:  1,
		},
		{
			name:  "blue to green updates the mapping",
			setup: func(t *testing.T, w world) { w.mapTo(t, "", w.blue) },
			req: func(w world) cutover.Request {
				return cutover.Request{Domain: domain, To: cutover.Target{APIID: w.green, Stage: "dev"}}
			},
			want: func(w world) cutover.Result {
				return cutover.Result{Domain: domain, BasePath: "(none)", Previous: &cutover.Target{APIID: w.blue, Stage: "dev"},
					Current: cutover.Target{APIID: w.green, Stage: "dev"}, Action: cutover.ActionUpdated}
			},
			wantMapping: func(w world) string { return w.green + "/dev" },
			wantWrites:  1,
		},
		{
			name:  "expect-current that matches lets the cutover through",
			setup: func(t *testing.T, w world) { w.mapTo(t, "", w.blue) },
			req: func(w world) cutover.Request {
				return cutover.Request{Domain: domain, To: cutover.Target{APIID: w.green, Stage: "dev"}, ExpectCurrent: w.blue}
			},
			want: func(w world) cutover.Result {
				return cutover.Result{Domain: domain, BasePath: "(none)", Previous: &cutover.Target{APIID: w.blue, Stage: "dev"},
					Current: cutover.Target{APIID: w.green, Stage: "dev"}, Action: cutover.ActionUpdated}
			},
			wantMapping: func(w world) string { return w.green + "/dev" },
			wantWrites:  1,
		},
		{
			name:  "a re-run when already at the target changes nothing, guard or not",
			setup: func(t *testing.T, w world) { w.mapTo(t, "", w.green) },
			req: func(w world) cutover.Request {
				return cutover.Request{Domain: domain, To: cutover.Target{APIID: w.green, Stage: "dev"}, ExpectCurrent: w.blue}
			},
			want: func(w world) cutover.Result {
				return cutover.Result{Domain: domain, BasePath: "(none)", Previous: &cutover.Target{APIID: w.green, Stage: "dev"},
					Current: cutover.Target{APIID: w.green, Stage: "dev"}, Action: cutover.ActionUnchanged}
			},
			wantMapping: func(w world) string { return w.green + "/dev" },
		},
		{
			name:  "dry run of an update reports it and changes nothing",
			setup: func(t *testing.T, w world) { w.mapTo(t, "", w.blue) },
			req: func(w world) cutover.Request {
				return cutover.Request{Domain: domain, To: cutover.Target{APIID: w.green, Stage: "dev"}, DryRun: true}
			},
			want: func(w world) cutover.Result {
				return cutover.Result{Domain: domain, BasePath: "(none)", Previous: &cutover.Target{APIID: w.blue, Stage: "dev"},
					Current: cutover.Target{APIID: w.green, Stage: "dev"}, Action: cutover.ActionUpdated, DryRun: true}
			},
			wantMapping: func(w world) string { return w.blue + "/dev" },
		},
		{
			name:  "dry run of a create reports it and creates nothing",
			setup: func(*testing.T, world) {},
			req: func(w world) cutover.Request {
				return cutover.Request{Domain: domain, To: cutover.Target{APIID: w.green, Stage: "dev"}, DryRun: true}
			},
			want: func(w world) cutover.Result {
				return cutover.Result{Domain: domain, BasePath: "(none)", Current: cutover.Target{APIID: w.green, Stage: "dev"}, Action: cutover.ActionCreated, DryRun: true}
			},
			wantMapping: func(world) string { return "" },
		},
		{
			name:  "expect-current guard refuses a mapping that points elsewhere",
			setup: func(t *testing.T, w world) { w.mapTo(t, "", w.blue) },
			req: func(w world) cutover.Request {
				return cutover.Request{Domain: domain, To: cutover.Target{APIID: w.green, Stage: "dev"}, ExpectCurrent: "someoneelse"}
			},
			wantErr:     cutover.ErrUnexpectedTarget,
			wantMapping: func(w world) string { return w.blue + "/dev" },
		},
		{
			name:  "expect-current guard refuses when there is no mapping yet",
			setup: func(*testing.T, world) {},
			req: func(w world) cutover.Request {
				return cutover.Request{Domain: domain, To: cutover.Target{APIID: w.green, Stage: "dev"}, ExpectCurrent: w.blue}
			},
			wantErr:     cutover.ErrUnexpectedTarget,
			wantMapping: func(world) string { return "" },
		},
		{
			name:  "the guard also holds in a dry run",
			setup: func(t *testing.T, w world) { w.mapTo(t, "", w.blue) },
			req: func(w world) cutover.Request {
				return cutover.Request{Domain: domain, To: cutover.Target{APIID: w.green, Stage: "dev"}, ExpectCurrent: w.green, DryRun: true}
			},
			wantErr:     cutover.ErrUnexpectedTarget,
			wantMapping: func(w world) string { return w.blue + "/dev" },
		},
		{
			name:  "unknown domain",
			setup: func(*testing.T, world) {},
			req: func(w world) cutover.Request {
				return cutover.Request{Domain: "nope.example.com", To: cutover.Target{APIID: w.green, Stage: "dev"}}
			},
			wantErr:     cutover.ErrDomainNotFound,
			wantMapping: func(world) string { return "" },
		},
		{
			name:  "unknown target stage is refused before any write, dry run too",
			setup: func(t *testing.T, w world) { w.mapTo(t, "", w.blue) },
			req: func(w world) cutover.Request {
				return cutover.Request{Domain: domain, To: cutover.Target{APIID: w.green, Stage: "prod"}, DryRun: true}
			},
			wantErr:     cutover.ErrTargetNotFound,
			wantMapping: func(w world) string { return w.blue + "/dev" },
		},
		{
			name:  "unknown target API",
			setup: func(t *testing.T, w world) { w.mapTo(t, "", w.blue) },
			req: func(world) cutover.Request {
				return cutover.Request{Domain: domain, To: cutover.Target{APIID: "zzzzzzzzzz", Stage: "dev"}}
			},
			wantErr:     cutover.ErrTargetNotFound,
			wantMapping: func(w world) string { return w.blue + "/dev" },
		},
		{
			name:  "invalid request is refused before any write",
			setup: func(*testing.T, world) {},
			req: func(world) cutover.Request {
				return cutover.Request{Domain: domain, To: cutover.Target{APIID: "Bad Id", Stage: ""}}
			},
			wantErr: cutover.ErrInvalidRequest,
			wantMapping: func(world) string {
				return ""
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			tc.setup(t, w)
			w.gw.ResetCounters()
			got, err := cutover.New(w.client).Cutover(context.Background(), tc.req(w))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.want != nil {
				if diff := cmp.Diff(tc.want(w), got); diff != "" {
					t.Errorf("result (-want +got):\n%s", diff)
				}
			}
			if got, want := w.mapping(""), tc.wantMapping(w); got != want {
				t.Errorf("mapping afterwards = %q, want %q", got, want)
			}
			writes := w.gw.Calls("CreateBasePathMapping") + w.gw.Calls("UpdateBasePathMapping")
			if writes != tc.wantWrites {
				t.Errorf("mapping writes = %d, want %d", writes, tc.wantWrites)
			}
		})
	}
}

// Base paths are independent mappings of one domain; the update goes to the
// named one only.
func TestCutoverNamedBasePath(t *testing.T) {
	w := newWorld(t)
	w.mapTo(t, "", w.blue)
	w.mapTo(t, "v1", w.blue)
	c := cutover.New(w.client)
	res, err := c.Cutover(context.Background(), cutover.Request{Domain: domain, BasePath: "v1", To: cutover.Target{APIID: w.green, Stage: "dev"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.BasePath != "v1" || res.Action != cutover.ActionUpdated {
		t.Errorf("result = %+v", res)
	}
	if got := w.mapping("v1"); got != w.green+"/dev" {
		t.Errorf("v1 -> %s, want green", got)
	}
	if got := w.mapping(""); got != w.blue+"/dev" {
		t.Errorf("root mapping moved too: %s", got)
	}
	cur, err := c.Current(context.Background(), domain, "v2")
	if err != nil || cur != nil {
		t.Errorf("Current(v2) = %v, %v; want nil, nil", cur, err)
	}
	cur, err = c.Current(context.Background(), domain, "(none)")
	if err != nil || cur == nil || *cur != (cutover.Target{APIID: w.blue, Stage: "dev"}) {
		t.Errorf("Current((none)) = %v, %v; want blue/dev", cur, err)
	}
}

// A failed update (a 500 from API Gateway) is an error that names the move,
// and the mapping stays where it was.
func TestCutoverUpdateFails(t *testing.T) {
	w := newWorld(t)
	w.mapTo(t, "", w.blue)
	w.gw.FailNext("UpdateBasePathMapping", 1, http.StatusInternalServerError)
	res, err := cutover.New(w.client).Cutover(context.Background(), cutover.Request{Domain: domain, To: cutover.Target{APIID: w.green, Stage: "dev"}})
	if err == nil {
		t.Fatal("cutover succeeded over a failing UpdateBasePathMapping")
	}
	for _, sentinel := range []error{cutover.ErrUnexpectedTarget, cutover.ErrDomainNotFound, cutover.ErrTargetNotFound} {
		if errors.Is(err, sentinel) {
			t.Errorf("a server error was reported as %v", sentinel)
		}
	}
	if res.Current != (cutover.Target{APIID: w.blue, Stage: "dev"}) {
		t.Errorf("result says current = %v after a failed update, want blue", res.Current)
	}
	if got := w.mapping(""); got != w.blue+"/dev" {
		t.Errorf("mapping = %s, want still blue", got)
	}
}

// Two pipelines racing: each guards with the API it saw as live; only the
// first move wins, the second is refused instead of flipping traffic back.
func TestCutoverTwoPipelinesCannotFight(t *testing.T) {
	w := newWorld(t)
	w.mapTo(t, "", w.blue)
	third := w.gw.SeedRestAPI("stagehand-dev-hotfix", "dev")
	c := cutover.New(w.client)
	if _, err := c.Cutover(context.Background(), cutover.Request{Domain: domain, To: cutover.Target{APIID: w.green, Stage: "dev"}, ExpectCurrent: w.blue}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Cutover(context.Background(), cutover.Request{Domain: domain, To: cutover.Target{APIID: third, Stage: "dev"}, ExpectCurrent: w.blue})
	if !errors.Is(err, cutover.ErrUnexpectedTarget) {
		t.Fatalf("second pipeline: err = %v, want ErrUnexpectedTarget", err)
	}
	if got := w.mapping(""); got != w.green+"/dev" {
		t.Errorf("mapping = %s, want the first pipeline's green", got)
	}
}
