package keyadmin_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/keyadmin"
)

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    keyadmin.Config
		wantErr bool
	}{
		{
			name: "IAM only",
			env: map[string]string{"STAGEHAND_ENV": "prod", "STAGEHAND_TABLE": "stagehand-registry-prod",
				"KEYADMIN_API_ID": "abcdef1234", "KEYADMIN_API_STAGE": "v1"},
			want: keyadmin.Config{Env: "prod", Table: "stagehand-registry-prod", Origin: keyadmin.Origin{APIID: "abcdef1234", Stage: "v1"}},
		},
		{
			name: "with the JWT route",
			env: map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t", "KEYADMIN_JWT_ISSUER": "https://idp.example.com/",
				"KEYADMIN_JWT_JWKS_URL": "https://idp.example.com/.well-known/jwks.json", "KEYADMIN_JWT_AUDIENCE": "keyadmin, portal",
				"KEYADMIN_API_ID": "abcdef1234", "KEYADMIN_JWT_API_ID": "ghijk56789", "KEYADMIN_API_STAGE": "v1"},
			want: keyadmin.Config{Env: "dev", Table: "t", Origin: keyadmin.Origin{APIID: "abcdef1234", JWTAPIID: "ghijk56789", Stage: "v1"}, JWT: keyadmin.JWTConfig{Issuer: "https://idp.example.com/",
				JWKSURL: "https://idp.example.com/.well-known/jwks.json", Audiences: []string{"keyadmin", "portal"}, Scope: "stagehand:admin"}},
		},
		{
			name: "local endpoints",
			env: map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t", "KEYADMIN_API_ID": "abcdef1234", "KEYADMIN_API_STAGE": "v1",
				"STAGEHAND_DYNAMODB_ENDPOINT": "http://127.0.0.1:8000", "STAGEHAND_APIGATEWAY_ENDPOINT": "http://127.0.0.1:4566"},
			want: keyadmin.Config{Env: "dev", Table: "t", Origin: keyadmin.Origin{APIID: "abcdef1234", Stage: "v1"}, DynamoDBEndpoint: "http://127.0.0.1:8000", APIGatewayEndpoint: "http://127.0.0.1:4566"},
		},
		{name: "no API id", env: map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t", "KEYADMIN_API_STAGE": "v1"}, wantErr: true},
		{name: "no stage", env: map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t", "KEYADMIN_API_ID": "abcdef1234"}, wantErr: true},
		{name: "not an API id", env: map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t", "KEYADMIN_API_ID": "${Token[1]}", "KEYADMIN_API_STAGE": "v1"}, wantErr: true},
		{name: "JWT route API without the issuer", env: map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t",
			"KEYADMIN_API_ID": "abcdef1234", "KEYADMIN_JWT_API_ID": "ghijk56789", "KEYADMIN_API_STAGE": "v1"}, wantErr: true},
		{name: "issuer without the JWT route API", env: map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t",
			"KEYADMIN_API_ID": "abcdef1234", "KEYADMIN_API_STAGE": "v1", "KEYADMIN_JWT_ISSUER": "https://idp/",
			"KEYADMIN_JWT_JWKS_URL": "https://idp/jwks", "KEYADMIN_JWT_AUDIENCE": "a"}, wantErr: true},
		{name: "one API for both routes", env: map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t",
			"KEYADMIN_API_ID": "abcdef1234", "KEYADMIN_JWT_API_ID": "abcdef1234", "KEYADMIN_API_STAGE": "v1", "KEYADMIN_JWT_ISSUER": "https://idp/",
			"KEYADMIN_JWT_JWKS_URL": "https://idp/jwks", "KEYADMIN_JWT_AUDIENCE": "a"}, wantErr: true},
		{name: "no environment", env: map[string]string{"STAGEHAND_TABLE": "t"}, wantErr: true},
		{name: "bad environment", env: map[string]string{"STAGEHAND_ENV": "Prod", "STAGEHAND_TABLE": "t"}, wantErr: true},
		{name: "no table", env: map[string]string{"STAGEHAND_ENV": "dev"}, wantErr: true},
		{name: "relative endpoint", env: map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t", "STAGEHAND_DYNAMODB_ENDPOINT": "localhost"}, wantErr: true},
		{name: "issuer without audience", env: map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t",
			"KEYADMIN_JWT_ISSUER": "https://idp/", "KEYADMIN_JWT_JWKS_URL": "https://idp/jwks"}, wantErr: true},
		{name: "plain http JWKS", env: map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t",
			"KEYADMIN_JWT_ISSUER": "https://idp/", "KEYADMIN_JWT_JWKS_URL": "http://idp/jwks", "KEYADMIN_JWT_AUDIENCE": "a"}, wantErr: true},
		{name: "JWT settings without an issuer", env: map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t",
			"KEYADMIN_JWT_AUDIENCE": "a"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := keyadmin.ConfigFromEnv(func(k string) string { return tc.env[k] })
			if tc.wantErr {
				if !errors.Is(err, keyadmin.ErrConfig) {
					t.Fatalf("err = %v, want ErrConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("config (-want +got):\n%s", d)
			}
		})
	}
}
