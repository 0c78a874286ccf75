package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/test/apigw"
)

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"arn:aws:execute-api:us-east-1:1:a/dev/GET/orders/*", "arn:aws:execute-api:us-east-1:1:a/dev/GET/orders/42", true},
		{"arn:aws:execute-api:us-east-1:1:a/dev/GET/orders/*", "arn:aws:execute-api:us-east-1:1:a/dev/POST/orders/42", false},
		{"arn:aws:execute-api:us-east-1:1:a/dev/*/*", "arn:aws:execute-api:us-east-1:1:a/dev/DELETE/x/y", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*", "", true},
		{"", "x", false},
		{"execute-api:*", "execute-api:Invoke", true},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+" "+tc.s, func(t *testing.T) {
			if got := globMatch(tc.pattern, tc.s); got != tc.want {
				t.Errorf("globMatch = %v, want %v", got, tc.want)
			}
		})
	}
}

// fixture: an emulator with API "a" stage "dev", a usage plan that holds
// that stage and an enabled key; the domain mapped to a/dev.
type fixture struct {
	emu      *apigw.Emulator
	client   *apigateway.Client
	keyValue string
	planID   string
	backend  *httptest.Server
	seen     chan http.Header
	clk      *clock.Virtual
	auth     Authorizer // what the gateway calls; tests swap it per request
	gw       *Gateway
}

func newFixture(t *testing.T, throttle *types.ThrottleSettings, quota *types.QuotaSettings) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{emu: apigw.New(apigw.WithoutQuotas()), seen: make(chan http.Header, 100), clk: clock.NewVirtual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
	f.client = f.emu.Client(t)
	api, err := f.client.CreateRestApi(ctx, &apigateway.CreateRestApiInput{Name: aws.String("a")})
	if err != nil {
		t.Fatal(err)
	}
	apiID := aws.ToString(api.Id)
	dep, err := f.client.CreateDeployment(ctx, &apigateway.CreateDeploymentInput{RestApiId: api.Id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.CreateStage(ctx, &apigateway.CreateStageInput{RestApiId: api.Id, StageName: aws.String("dev"), DeploymentId: dep.Id}); err != nil {
		t.Fatal(err)
	}
	plan, err := f.client.CreateUsagePlan(ctx, &apigateway.CreateUsagePlanInput{Name: aws.String("basic"), Throttle: throttle, Quota: quota,
		ApiStages: []types.ApiStage{{ApiId: api.Id, Stage: aws.String("dev")}}})
	if err != nil {
		t.Fatal(err)
	}
	f.planID = aws.ToString(plan.Id)
	key, err := f.client.CreateApiKey(ctx, &apigateway.CreateApiKeyInput{Name: aws.String("acme"), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	f.keyValue = aws.ToString(key.Value)
	if _, err := f.client.CreateUsagePlanKey(ctx, &apigateway.CreateUsagePlanKeyInput{UsagePlanId: plan.Id, KeyId: key.Id, KeyType: aws.String("API_KEY")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.CreateDomainName(ctx, &apigateway.CreateDomainNameInput{DomainName: aws.String("api.example.com"),
		RegionalCertificateArn: aws.String("arn:aws:acm:us-east-1:1:certificate/x"), EndpointConfiguration: &types.EndpointConfiguration{Types: []types.EndpointType{types.EndpointTypeRegional}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.CreateBasePathMapping(ctx, &apigateway.CreateBasePathMappingInput{DomainName: aws.String("api.example.com"), RestApiId: aws.String(apiID), Stage: aws.String("dev")}); err != nil {
		t.Fatal(err)
	}
	f.backend = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.seen <- r.Header.Clone()
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(f.backend.Close)
	u, _ := url.Parse(f.backend.URL)
	f.gw = New(f.emu, "api.example.com", func(ctx context.Context, r events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
		return f.auth(ctx, r)
	}, u, f.clk)
	return f
}

func (f *fixture) serve(t *testing.T, auth Authorizer, req *http.Request) *http.Response {
	t.Helper()
	f.auth = auth
	rec := httptest.NewRecorder()
	f.gw.ServeHTTP(rec, req)
	return rec.Result()
}

func allowAll(usageKey string) Authorizer {
	return func(_ context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
		return events.APIGatewayCustomAuthorizerResponse{
			PrincipalID: "acme",
			PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{Version: "2012-10-17", Statement: []events.IAMPolicyStatement{
				{Action: []string{"execute-api:Invoke"}, Effect: "Allow", Resource: []string{"arn:aws:execute-api:*:*:*/*/GET/orders/*"}},
			}},
			Context:            map[string]any{"customerId": "acme", "plan": "basic", "authMethod": "api_key"},
			UsageIdentifierKey: usageKey,
		}, nil
	}
}

func TestDecisions(t *testing.T) {
	f := newFixture(t, nil, nil)
	get := func(path string) *http.Request {
		return httptest.NewRequest(http.MethodGet, "http://api.example.com"+path, nil)
	}
	tests := []struct {
		name string
		auth Authorizer
		req  *http.Request
		want int
	}{
		{"allowed and metered", allowAll(f.keyValue), get("/orders/1"), http.StatusOK},
		{"unauthorized error is 401", func(context.Context, events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
			return events.APIGatewayCustomAuthorizerResponse{}, errors.New("Unauthorized")
		}, get("/orders/1"), http.StatusUnauthorized},
		{"other authorizer error is 500", func(context.Context, events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
			return events.APIGatewayCustomAuthorizerResponse{}, errors.New("boom")
		}, get("/orders/1"), http.StatusInternalServerError},
		{"route outside the policy is 403", allowAll(f.keyValue), get("/admin/1"), http.StatusForbidden},
		{"usage key in no plan with this stage is 403", allowAll("not-a-key"), get("/orders/1"), http.StatusForbidden},
		{"empty usage key is 403", allowAll(""), get("/orders/1"), http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := f.serve(t, tc.auth, tc.req)
			if res.StatusCode != tc.want {
				t.Fatalf("status = %d, want %d", res.StatusCode, tc.want)
			}
			if res.Header.Get(HeaderStage) == "" {
				t.Error("response does not say which stage served it")
			}
		})
	}

	t.Run("explicit deny wins over allow", func(t *testing.T) {
		auth := func(ctx context.Context, r events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
			resp, _ := allowAll(f.keyValue)(ctx, r)
			resp.PolicyDocument.Statement = append(resp.PolicyDocument.Statement, events.IAMPolicyStatement{
				Action: []string{"execute-api:Invoke"}, Effect: "Deny", Resource: []string{r.MethodArn}})
			return resp, nil
		}
		if res := f.serve(t, auth, get("/orders/1")); res.StatusCode != http.StatusForbidden {
			t.Errorf("status = %d, want 403", res.StatusCode)
		}
	})

	t.Run("backend sees the authorizer's context, not the client's", func(t *testing.T) {
		for len(f.seen) > 0 {
			<-f.seen
		}
		req := get("/orders/9")
		req.Header.Set(HeaderCustomerID, "forged")
		if res := f.serve(t, allowAll(f.keyValue), req); res.StatusCode != http.StatusOK {
			t.Fatalf("status = %d", res.StatusCode)
		}
		h := <-f.seen
		if h.Get(HeaderCustomerID) != "acme" || h.Get(HeaderPlan) != "basic" {
			t.Errorf("backend headers = %v", h)
		}
	})

	t.Run("a retired stage stops serving once unmapped", func(t *testing.T) {
		if _, err := f.client.DeleteBasePathMapping(context.Background(), &apigateway.DeleteBasePathMappingInput{
			DomainName: aws.String("api.example.com"), BasePath: aws.String("(none)")}); err != nil {
			t.Fatal(err)
		}
		if res := f.serve(t, allowAll(f.keyValue), get("/orders/1")); res.StatusCode != http.StatusForbidden {
			t.Errorf("status = %d, want 403 with no mapping", res.StatusCode)
		}
	})
}

func TestThrottleAndQuota(t *testing.T) {
	get := func() *http.Request {
		return httptest.NewRequest(http.MethodGet, "http://api.example.com/orders/1", nil)
	}
	t.Run("burst then 429 until tokens refill", func(t *testing.T) {
		f := newFixture(t, &types.ThrottleSettings{RateLimit: 1, BurstLimit: 2}, nil)
		var got []int
		for range 3 {
			got = append(got, f.serve(t, allowAll(f.keyValue), get()).StatusCode)
		}
		f.clk.Advance(time.Second)
		got = append(got, f.serve(t, allowAll(f.keyValue), get()).StatusCode)
		want := []int{200, 200, 429, 200}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("statuses = %v, want %v", got, want)
			}
		}
	})
	t.Run("quota per day", func(t *testing.T) {
		f := newFixture(t, nil, &types.QuotaSettings{Limit: 2, Period: types.QuotaPeriodTypeDay})
		var got []int
		for range 3 {
			got = append(got, f.serve(t, allowAll(f.keyValue), get()).StatusCode)
		}
		f.clk.Advance(24 * time.Hour)
		got = append(got, f.serve(t, allowAll(f.keyValue), get()).StatusCode)
		want := []int{200, 200, 429, 200}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("statuses = %v, want %v", got, want)
			}
		}
	})
}
