package devstack_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
	"github.com/stagehand-dev/stagehand/test/devstack"
	"github.com/stagehand-dev/stagehand/test/e2e/gateway"
)

func TestMain(m *testing.M) { os.Exit(ddbtest.Run(m)) }

func get(t *testing.T, url, key string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// The stack comes up seeded and serving; a blue/green deploy under traffic
// moves the domain to green without rejecting a request.
func TestDevStack(t *testing.T) {
	ctx := context.Background()
	s, err := devstack.Start(ctx, devstack.Options{DynamoDBEndpoint: ddbtest.Endpoint(t), ControlAddr: "127.0.0.1:0", Traffic: true, UpdateUsagePlanEvery: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if res, body := get(t, s.PortalURL+"/", ""); res.StatusCode != http.StatusOK || !strings.Contains(body, "/portal/login") {
		t.Fatalf("portal home = %d", res.StatusCode)
	}
	if res, _ := get(t, s.IssuerURL+"/.well-known/openid-configuration", ""); res.StatusCode != http.StatusOK {
		t.Fatalf("issuer discovery = %d", res.StatusCode)
	}
	res, _ := get(t, s.APIURL+"/orders/1", s.DemoKeys["acme"])
	blue := res.Header.Get(gateway.HeaderStage)
	if res.StatusCode != http.StatusOK || blue == "" {
		t.Fatalf("API with a demo key = %d (stage %q)", res.StatusCode, blue)
	}
	if res, _ := get(t, s.APIURL+"/orders/1", "sh_dev_nonsense"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("API with a bad key = %d, want 401", res.StatusCode)
	}
	time.Sleep(300 * time.Millisecond) // traffic on blue
	req, _ := http.NewRequest(http.MethodPost, s.ControlURL+"/deploy", nil)
	dres, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(dres.Body)
	dres.Body.Close()
	t.Logf("deploy:\n%s", out)
	if !strings.Contains(string(out), "cut over") || strings.Contains(string(out), "failed") {
		t.Fatalf("deploy output:\n%s", out)
	}
	time.Sleep(300 * time.Millisecond) // traffic on green
	res, _ = get(t, s.APIURL+"/orders/1", s.DemoKeys["globex"])
	if green := res.Header.Get(gateway.HeaderStage); res.StatusCode != http.StatusOK || green == blue {
		t.Errorf("after the deploy: %d from %q, want 200 from a new stage (blue was %q)", res.StatusCode, green, blue)
	}
	sum := s.TrafficSummary()
	t.Logf("traffic: %s", sum)
	if !strings.Contains(sum, " 0 rejected") {
		t.Errorf("requests were rejected during the deploy: %s", sum)
	}
}
