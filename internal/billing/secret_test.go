package billing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/stagehand-dev/stagehand/internal/billing"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
	"github.com/stagehand-dev/stagehand/test/eventbus"
)

const stripeSecretARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:stagehand/dev/stripe-AbC123"

// fakeSecretsManager answers GetSecretValue in Secrets Manager's wire
// protocol (awsJson1_1: POST /, X-Amz-Target secretsmanager.GetSecretValue,
// errors as {"__type": ...}) from a map of ARN → SecretString on loopback,
// and records the ARNs asked for.
func fakeSecretsManager(t *testing.T, secrets map[string]string) (string, func() []string) {
	t.Helper()
	var (
		mu    sync.Mutex
		asked []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" ||
			r.Header.Get("Content-Type") != "application/x-amz-json-1.1" || !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
			http.Error(w, "unexpected call "+r.Method+" "+r.Header.Get("X-Amz-Target"), http.StatusBadRequest)
			return
		}
		var in struct{ SecretId string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		asked = append(asked, in.SecretId)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		v, ok := secrets[in.SecretId]
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ARN": in.SecretId, "Name": "stagehand/dev/stripe", "SecretString": v,
			"VersionId": "v1", "VersionStages": []string{"AWSCURRENT"}, "CreatedDate": 1.7e9})
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), asked...) }
}

// smClient is the real SDK client pointed at ep.
func smClient(ep string) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(ep),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}

func TestReadStripeKey(t *testing.T) {
	secrets := map[string]string{
		"ok": "sk_test_fromsecret\n", "restricted": "rk_test_r", "empty": "  \n",
		"json": `{"key":"sk_test_json"}`, "two": "sk_test_one sk_test_two", "other": "hunter2-password",
	}
	ep, _ := fakeSecretsManager(t, secrets)
	sm := smClient(ep)
	for _, tc := range []struct {
		name, arn, want string
		notFound        bool
	}{
		{name: "trimmed", arn: "ok", want: "sk_test_fromsecret"},
		{name: "restricted key", arn: "restricted", want: "rk_test_r"},
		{name: "missing secret", arn: "missing", notFound: true},
		{name: "empty", arn: "empty"},
		{name: "json secret", arn: "json"},
		{name: "two keys", arn: "two"},
		{name: "not a Stripe key", arn: "other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := billing.ReadStripeKey(context.Background(), sm, tc.arn)
			if tc.want != "" {
				if err != nil || got != tc.want {
					t.Fatalf("got %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, billing.ErrStripeKey) || got != "" {
				t.Fatalf("got %q, %v; want ErrStripeKey", got, err)
			}
			var nf *smtypes.ResourceNotFoundException
			if errors.As(err, &nf) != tc.notFound {
				t.Errorf("error %v: ResourceNotFoundException %v, want %v", err, !tc.notFound, tc.notFound)
			}
			if v := strings.TrimSpace(secrets[tc.arn]); v != "" && strings.Contains(err.Error(), v) {
				t.Errorf("error quotes the secret: %v", err)
			}
		})
	}
}

// authRecorder forwards to a Stripe endpoint and records the API keys the
// requests carried.
type authRecorder struct {
	mu    sync.Mutex
	keys  map[string]int
	proxy *httputil.ReverseProxy
}

func (a *authRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.keys[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]++
	a.mu.Unlock()
	a.proxy.ServeHTTP(w, r)
}

// TestLambdaWiringWithStripe builds the handler as the Lambda main does with
// STAGEHAND_STRIPE_SECRET_ARN set: the key is read once from Secrets
// Manager (the real SDK client against a loopback server speaking its wire
// protocol), the Stripe sink is on (stripe-mock) and sends the mapped
// customer's usage with that key, and the key appears in no log line.
func TestLambdaWiringWithStripe(t *testing.T) {
	const key = "sk_test_fromsecret0123456789"
	ctx := context.Background()
	store := newStore(t)
	if err := store.PutBillingAccount(ctx, registry.BillingAccount{CustomerID: "a", System: billing.StripeSystem, AccountID: "cus_A"}); err != nil {
		t.Fatal(err)
	}
	if err := store.PutBillingAccount(ctx, registry.BillingAccount{CustomerID: "b", System: billing.StripeSystem, AccountID: "cus_B"}); err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse(stripeMock(t))
	stripeSrv := &authRecorder{keys: map[string]int{}, proxy: httputil.NewSingleHostReverseProxy(target)}
	stripe := httptest.NewServer(stripeSrv)
	defer stripe.Close()
	smEndpoint, asked := fakeSecretsManager(t, map[string]string{stripeSecretARN: key + "\n"})
	s3srv := httptest.NewServer(&fakeS3{objects: map[string][]byte{}})
	defer s3srv.Close()
	bus := eventbus.New()
	env := map[string]string{
		"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": store.Table(), "STAGEHAND_BILLING_BUCKET": "exports",
		"STAGEHAND_DYNAMODB_ENDPOINT": ddbtest.Endpoint(t), "STAGEHAND_S3_ENDPOINT": s3srv.URL, "STAGEHAND_EVENTBRIDGE_ENDPOINT": bus.Start(t),
		billing.EnvStripeSecretARN: stripeSecretARN, "STAGEHAND_SECRETSMANAGER_ENDPOINT": smEndpoint, "STAGEHAND_STRIPE_URL": stripe.URL,
	}
	var logs bytes.Buffer
	h, err := billing.NewHandlerFromEnv(ctx, func(k string) string { return env[k] }, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := h.HandleScheduled(ctx, lambdaevents.CloudWatchEvent{Time: day.AddDate(0, 0, 2).Add(time.Hour)})
	if err != nil || rep.Created != 2 || rep.Sent[billing.StripeSystem] != 2 {
		t.Fatalf("run: %v, %+v; want 2 records sent to Stripe", err, rep)
	}
	if got := asked(); len(got) != 1 || got[0] != stripeSecretARN {
		t.Errorf("Secrets Manager asked for %q, want the configured ARN once", got)
	}
	stripeSrv.mu.Lock()
	if len(stripeSrv.keys) != 1 || stripeSrv.keys[key] != 2 {
		t.Errorf("Stripe requests by key %v; want 2 with the key from the secret", stripeSrv.keys)
	}
	stripeSrv.mu.Unlock()
	bus.Wait()
	if strings.Contains(logs.String(), key) || !strings.Contains(logs.String(), "Stripe sink enabled") {
		t.Errorf("logs: key logged, or the sink not reported:\n%s", logs.String())
	}
}

// TestLambdaWiringStripeKeyUnreadable: a configured secret that cannot be
// read stops the cold start (the sink is never silently off).
func TestLambdaWiringStripeKeyUnreadable(t *testing.T) {
	smEndpoint, asked := fakeSecretsManager(t, map[string]string{})
	env := map[string]string{
		"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t", "STAGEHAND_BILLING_BUCKET": "exports",
		billing.EnvStripeSecretARN: stripeSecretARN, "STAGEHAND_SECRETSMANAGER_ENDPOINT": smEndpoint,
	}
	_, err := billing.NewHandlerFromEnv(context.Background(), func(k string) string { return env[k] }, slog.New(slog.DiscardHandler))
	if !errors.Is(err, billing.ErrStripeKey) || len(asked()) != 1 {
		t.Errorf("err = %v after %d reads; want ErrStripeKey after one read", err, len(asked()))
	}
}
