package integration_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/golang-jwt/jwt/v5"

	"github.com/stagehand-dev/stagehand/internal/auth"
	"github.com/stagehand-dev/stagehand/internal/auth/jwtverify"
	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
)

func TestMain(m *testing.M) { os.Exit(ddbtest.Run(m)) }

const (
	env      = "test"
	customer = "cust_acme"
	issuer   = "https://auth.example.com/"
	audience = "https://api.example.com"
	client   = "client-acme-1"
	arn      = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/GET/orders/42"
)

// countingDB counts GetItem calls on the real client.
type countingDB struct {
	*dynamodb.Client
	getItems atomic.Int32
}

func (c *countingDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.getItems.Add(1)
	return c.Client.GetItem(ctx, in, opts...)
}

type env_ struct {
	store  *registry.Store
	db     *countingDB
	a      *auth.Authorizer
	clk    *clock.Virtual
	key    keys.Secret
	token  string
	rsaKey *rsa.PrivateKey
}

func setup(t *testing.T) *env_ {
	t.Helper()
	ctx := context.Background()
	client0, table := ddbtest.NewTable(t)
	db := &countingDB{Client: client0}
	store := registry.New(db, table)
	if _, err := store.PutPlan(ctx, registry.Plan{Env: env, Name: "standard", UsagePlanID: "up1", RateLimit: 10, BurstLimit: 20}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateCustomer(ctx, registry.Customer{ID: customer, Name: "Acme"}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Subscribe(ctx, registry.Subscription{CustomerID: customer, Env: env, Plan: "standard", UsageKeyID: "uk1", UsageKeyValue: "usage-key-acme-0123456789abcdef"}, "test"); err != nil {
		t.Fatal(err)
	}
	secret, err := keys.New(env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateKey(ctx, registry.Key{ID: secret.ID, Hash: secret.Hash.String(), CustomerID: customer, Env: env,
		DisplayPrefix: secret.DisplayPrefix, Scopes: []string{"orders:read"}, AllowedCIDRs: []string{"203.0.113.0/24", "2001:db8::/32"}}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.PutBinding(ctx, registry.ClientBinding{Env: env, Issuer: issuer, Subject: client, CustomerID: customer}, "test"); err != nil {
		t.Fatal(err)
	}

	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]any{{"kty": "RSA", "kid": "k1", "n": b64(rk.N.Bytes()), "e": b64(big.NewInt(int64(rk.E)).Bytes())}}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(jwks) }))
	t.Cleanup(srv.Close)

	now := time.Now().Truncate(time.Second)
	clk := clock.NewVirtual(now)
	settings, err := auth.ParseSettings([]byte(`{"clientIdClaims":["client_id"],
		"issuers":[{"issuer":"` + issuer + `","jwksUrl":"` + srv.URL + `","audiences":["` + audience + `"]}],
		"routes":[{"method":"GET","path":"/orders/*","scopes":["orders:read"]},{"method":"*","path":"/admin/*","scopes":["admin"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	vctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	v, err := jwtverify.New(vctx, settings.VerifierIssuers(), jwtverify.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Config{Env: env, Table: table, Settings: settings}, store, auth.WithVerifier(v), auth.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": issuer, "aud": audience, "sub": client, "client_id": client, "scope": "orders:read",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = "k1"
	signed, err := tok.SignedString(rk)
	if err != nil {
		t.Fatal(err)
	}
	db.getItems.Store(0) // count only the authorizer's reads
	return &env_{store: store, db: db, a: a, clk: clk, key: secret, token: signed, rsaKey: rk}
}

func event(headers map[string]string, sourceIP string) events.APIGatewayCustomAuthorizerRequestTypeRequest {
	ev := events.APIGatewayCustomAuthorizerRequestTypeRequest{Type: "REQUEST", MethodArn: arn, Headers: headers}
	ev.RequestContext.Identity.SourceIP = sourceIP
	return ev
}

func TestAPIKeyAgainstRegistry(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	ev := event(map[string]string{"x-api-key": e.key.Plaintext}, "203.0.113.9")
	resp, err := e.a.Handle(ctx, ev)
	if err != nil {
		t.Fatalf("first request: %v", err)
	}
	if resp.PrincipalID != customer || resp.UsageIdentifierKey != "usage-key-acme-0123456789abcdef" ||
		resp.Context["keyId"] != e.key.ID || resp.Context["plan"] != "standard" || resp.Context["authMethod"] != "api_key" {
		t.Fatalf("response %+v", resp)
	}
	if n := e.db.getItems.Load(); n != 2 {
		t.Errorf("GetItem calls = %d, want 2 (key by id, subscription)", n)
	}
	if _, err := e.a.Handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if n := e.db.getItems.Load(); n != 2 {
		t.Errorf("GetItem calls after a cached decision = %d, want 2", n)
	}
	// Outside the allowlist (IPv6 outside 2001:db8::/32).
	if _, err := e.a.Handle(ctx, event(map[string]string{"x-api-key": e.key.Plaintext}, "2001:db9::1")); err != auth.ErrUnauthorized {
		t.Errorf("source outside allowlist: %v, want Unauthorized", err)
	}
	// Revocation takes effect once the decision's TTL has passed.
	if _, err := e.store.SetKeyStatus(ctx, e.key.ID, registry.KeyRevoked, "test"); err != nil {
		t.Fatal(err)
	}
	e.db.getItems.Store(0)
	if _, err := e.a.Handle(ctx, ev); err != nil {
		t.Fatalf("within TTL, cached: %v", err)
	}
	e.clk.Advance(30 * time.Second)
	if _, err := e.a.Handle(ctx, ev); err != auth.ErrUnauthorized {
		t.Fatalf("revoked after TTL: %v, want Unauthorized", err)
	}
	if n := e.db.getItems.Load(); n != 2 {
		t.Errorf("GetItem calls = %d, want 2 (key and subscription re-read after the TTL)", n)
	}
}

func TestJWTAgainstRegistry(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	ev := event(map[string]string{"Authorization": "Bearer " + e.token}, "198.51.100.7")
	resp, err := e.a.Handle(ctx, ev)
	if err != nil {
		t.Fatalf("jwt: %v", err)
	}
	if resp.PrincipalID != customer || resp.Context["authMethod"] != "jwt" || resp.Context["clientId"] != client ||
		!strings.HasSuffix(resp.PolicyDocument.Statement[0].Resource[0], "/prod/GET/orders/*") {
		t.Fatalf("response %+v", resp)
	}
	// Suspending the customer (kept in step on the subscription) shuts the
	// client out once the TTL has passed.
	if _, err := e.store.SetCustomerStatus(ctx, customer, registry.CustomerSuspended, "test"); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(30 * time.Second)
	if _, err := e.a.Handle(ctx, ev); err != auth.ErrUnauthorized {
		t.Fatalf("suspended customer: %v, want Unauthorized", err)
	}
}

func TestUnknownKeyAgainstRegistry(t *testing.T) {
	e := setup(t)
	other, err := keys.New(env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.Handle(context.Background(), event(map[string]string{"x-api-key": other.Plaintext}, "203.0.113.9")); err != auth.ErrUnauthorized {
		t.Fatalf("unknown key: %v", err)
	}
	if n := e.db.getItems.Load(); n != 1 {
		t.Errorf("GetItem calls = %d, want exactly 1", n)
	}
}
