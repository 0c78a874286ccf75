package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stagehand-dev/stagehand/internal/auth/jwtverify"
)

// fakeSecretsManager answers GetSecretValue (the JSON 1.1 protocol) from a
// map of ARN → SecretString on loopback, and records the ARNs asked for.
func fakeSecretsManager(t *testing.T, secrets map[string]string) (*httptest.Server, func() []string) {
	t.Helper()
	var (
		mu    sync.Mutex
		asked []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" {
			http.Error(w, "unexpected call "+r.Header.Get("X-Amz-Target"), http.StatusBadRequest)
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
			_, _ = w.Write([]byte(`{"__type":"ResourceNotFoundException","message":"no such secret"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"ARN": in.SecretId, "Name": "n", "SecretString": v})
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), asked...) }
}

// TestSetupReadsOneHS256SecretPerIssuer (issue 12 item 7): the cold start
// reads each HS256 issuer's own secret from Secrets Manager, and refuses to
// start when two issuers' secrets are the same bytes under different ARNs.
func TestSetupReadsOneHS256SecretPerIssuer(t *testing.T) {
	const (
		arnA = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stagehand/hs-a-AbC123"
		arnB = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stagehand/hs-b-XyZ789"
	)
	cfg := `{"issuers":[` +
		`{"issuer":"https://a/","hs256":true,"hs256SecretArn":"` + arnA + `","audiences":["api"]},` +
		`{"issuer":"https://b/","hs256":true,"hs256SecretArn":"` + arnB + `","audiences":["api"]}],` +
		`"routes":[{"method":"GET","path":"/*","scopes":[]}]}`
	tests := []struct {
		name    string
		secrets map[string]string
		wantErr error
	}{
		{name: "own secrets", secrets: map[string]string{arnA: strings.Repeat("a", 32), arnB: strings.Repeat("b", 32)}},
		{name: "same secret under two ARNs", secrets: map[string]string{arnA: strings.Repeat("s", 32), arnB: strings.Repeat("s", 32)}, wantErr: jwtverify.ErrSharedSecret},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, asked := fakeSecretsManager(t, tc.secrets)
			t.Setenv("AWS_ENDPOINT_URL", srv.URL)
			env := map[string]string{"STAGEHAND_ENV": "test", "STAGEHAND_TABLE": "t", "AUTHORIZER_CONFIG": cfg}
			_, err := setup(context.Background(), func(k string) string { return env[k] }, slog.New(slog.DiscardHandler))
			if tc.wantErr == nil && err != nil {
				t.Fatalf("setup: %v", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("setup error %v, want %v", err, tc.wantErr)
			}
			if got := asked(); len(got) != 2 || got[0] != arnA || got[1] != arnB {
				t.Errorf("secrets read: %v, want [%s %s]", got, arnA, arnB)
			}
		})
	}
}
