package main

import (
	"errors"
	"os"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/cdk/config"
)

func TestMain(m *testing.M) {
	os.Setenv("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	code := m.Run()
	// jsii.Close() races under -race (see cdk/stacks/main_test.go).
	if !raceEnabled {
		jsii.Close()
	}
	os.Exit(code)
}

func TestLoadConfigFromContext(t *testing.T) {
	tests := []struct {
		name      string
		context   map[string]interface{}
		wantEnv   string
		wantRoot  string
		wantError error
	}{
		{"default is dev", map[string]interface{}{}, "dev", "build/lambda", nil},
		{"env from context", map[string]interface{}{"env": "prod"}, "prod", "build/lambda", nil},
		{"asset root override", map[string]interface{}{"env": "staging", "lambdaAssetRoot": "/tmp/bin"}, "staging", "/tmp/bin", nil},
		{"config file", map[string]interface{}{"configFile": "stacks/testdata/qa.json"}, "qa", "build/lambda", nil},
		{"unknown environment", map[string]interface{}{"env": "qa"}, "", "", config.ErrUnknownEnvironment},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.context
			app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
			cfg, err := loadConfig(app)
			if tc.wantError != nil {
				if !errors.Is(err, tc.wantError) {
					t.Fatalf("err = %v, want %v", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{tc.wantEnv, tc.wantRoot}, []string{cfg.Env, cfg.LambdaAssetRoot}); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}
