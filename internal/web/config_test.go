package web

import (
	"errors"
	"strings"
	"testing"
)

func TestSettingsFromEnv(t *testing.T) {
	base := map[string]string{
		EnvStage: "dev", EnvTable: "t", EnvPublicURL: "https://console.example.com", EnvIssuer: "https://issuer",
		EnvClientID: "c", EnvSecretARN: "arn:aws:secretsmanager:us-east-1:1:secret:x",
	}
	tests := []struct {
		name    string
		change  map[string]string
		wantErr string
	}{
		{"valid", nil, ""},
		{"missing table", map[string]string{EnvTable: ""}, EnvTable},
		{"both secret sources", map[string]string{EnvSecretJSON: "{}"}, "exactly one"},
		{"plain http outside loopback", map[string]string{EnvPublicURL: "http://console.example.com"}, "https"},
		{"insecure cookies outside loopback", map[string]string{EnvInsecureCookie: "1"}, "loopback"},
		{"insecure cookies on loopback", map[string]string{EnvPublicURL: "http://127.0.0.1:8080", EnvInsecureCookie: "1"}, ""},
		{"operator session TTL", map[string]string{EnvOperatorSessionTTL: "30m"}, ""},
		{"operator session TTL not a duration", map[string]string{EnvOperatorSessionTTL: "1 hour"}, EnvOperatorSessionTTL},
		{"operator session TTL above 8h", map[string]string{EnvOperatorSessionTTL: "24h"}, EnvOperatorSessionTTL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.change {
				env[k] = v
			}
			s, err := SettingsFromEnv(func(k string) string { return env[k] })
			if tc.wantErr == "" {
				if err != nil || s.GroupsClaim != "cognito:groups" || s.OperatorGroup != "stagehand-operators" {
					t.Fatalf("= %+v, %v", s, err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want ErrConfig mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseSecrets(t *testing.T) {
	s, err := ParseSecrets(NewSecretsJSON("shh"))
	if err != nil || s.ClientSecret != "shh" || len(s.HashKey) != 32 || len(s.BlockKey) != 32 || string(s.HashKey) == string(s.BlockKey) {
		t.Fatalf("round trip: %v", err)
	}
	for _, raw := range []string{"", "{", `{"clientSecret":"shh","sessionKey":"short"}`} {
		if _, err := ParseSecrets(raw); !errors.Is(err, ErrConfig) || strings.Contains(err.Error(), "shh") {
			t.Errorf("ParseSecrets(%q) err = %v", raw, err)
		}
	}
}
