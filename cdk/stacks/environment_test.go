package stacks_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/cdk/config"
	"github.com/stagehand-dev/stagehand/cdk/stacks"
)

func TestStackNames(t *testing.T) {
	for _, name := range sortedKeys(envs) {
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, st := range envs[name].Stacks() {
				got = append(got, *st.StackName())
			}
			want := []string{"Shared-" + name, "Network-" + name, "Api-" + name + "-blue", "Api-" + name + "-green"}
			if envs[name].Config.HasDomain() {
				want = append(want, "Domain-"+name)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("stacks (-want +got):\n%s", diff)
			}
		})
	}
}

// TestProdDiffersFromDevWhereConfigSays reads each setting back from the
// synthesized templates of dev and prod and checks it against that
// environment's configuration, and that the shipped configurations do
// differ on it.
func TestProdDiffersFromDevWhereConfigSays(t *testing.T) {
	type setting struct {
		name   string
		config func(*config.Config) string
		synth  func(*testing.T, *stacks.Environment) string
	}
	settings := []setting{
		{"table deletion protection",
			func(c *config.Config) string { return render(c.Registry.DeletionProtection) },
			func(t *testing.T, e *stacks.Environment) string {
				return render(resources(t, e.Shared.Stack, "AWS::DynamoDB::Table")[0].Props["DeletionProtectionEnabled"])
			}},
		{"table encryption key",
			func(c *config.Config) string { return render(c.Registry.CustomerManagedKey) },
			func(t *testing.T, e *stacks.Environment) string {
				return render(get(resources(t, e.Shared.Stack, "AWS::DynamoDB::Table")[0].Props, "SSESpecification", "KMSMasterKeyId") != nil)
			}},
		{"stage throttle rate",
			func(c *config.Config) string { return render(c.API.MethodThrottle.RateLimit) },
			func(t *testing.T, e *stacks.Environment) string {
				return render(get(resources(t, e.Apis["blue"].Stack, "AWS::ApiGateway::Stage")[0].Props["MethodSettings"].([]any)[0], "ThrottlingRateLimit"))
			}},
		{"NAT gateways",
			func(c *config.Config) string { return render(float64(c.Network.NatGateways)) },
			func(t *testing.T, e *stacks.Environment) string {
				return render(float64(len(resources(t, e.Network.Stack, "AWS::EC2::NatGateway"))))
			}},
		{"service desired count",
			func(c *config.Config) string { return render(float64(c.Service.DesiredCount)) },
			func(t *testing.T, e *stacks.Environment) string {
				return render(resources(t, e.Network.Stack, "AWS::ECS::Service")[0].Props["DesiredCount"])
			}},
		{"lambda log retention",
			func(c *config.Config) string { return render(float64(c.Lambdas.LogRetentionDays)) },
			func(t *testing.T, e *stacks.Environment) string {
				fn := resourceByID(t, e.Shared.Stack, logicalID(t, e.Shared.Stack, e.Shared.Deployment)).Props
				lg := strings.Trim(render(get(fn, "LoggingConfig", "LogGroup")), "${}")
				return render(resourceByID(t, e.Shared.Stack, lg).Props["RetentionInDays"])
			}},
		{"authorizer p99 alarm threshold",
			func(c *config.Config) string { return render(float64(c.Alarms.AuthorizerP99LatencyMs)) },
			func(t *testing.T, e *stacks.Environment) string {
				for _, a := range e.Shared.Alarms {
					if *a.Node().Id() == "AuthorizerP99Latency" {
						return render(resourceByID(t, e.Shared.Stack, logicalID(t, e.Shared.Stack, a)).Props["Threshold"])
					}
				}
				return "missing"
			}},
		{"key-admin stage throttle rate",
			func(c *config.Config) string { return render(c.KeyAdmin.Throttle.RateLimit) },
			func(t *testing.T, e *stacks.Environment) string {
				st := resourceByID(t, e.Shared.Stack, logicalID(t, e.Shared.Stack, e.Shared.KeyAdminAPI.DeploymentStage())).Props
				return render(get(st["MethodSettings"].([]any)[0], "ThrottlingRateLimit"))
			}},
		{"key-admin function memory",
			func(c *config.Config) string { return render(float64(c.Lambdas.KeyAdmin.MemoryMiB)) },
			func(t *testing.T, e *stacks.Environment) string {
				return render(resourceByID(t, e.Shared.Stack, logicalID(t, e.Shared.Stack, e.Shared.KeyAdmin)).Props["MemorySize"])
			}},
		{"termination protection of the shared stack",
			func(c *config.Config) string { return render(c.TerminationProtection) },
			func(t *testing.T, e *stacks.Environment) string { return render(*e.Shared.TerminationProtection()) }},
	}
	for _, s := range settings {
		t.Run(s.name, func(t *testing.T) {
			dev, prod := envs["dev"], envs["prod"]
			if s.config(dev.Config) == s.config(prod.Config) {
				t.Fatalf("shipped configs do not differ on %s (both %s)", s.name, s.config(dev.Config))
			}
			for _, e := range []*stacks.Environment{dev, prod} {
				if got, want := s.synth(t, e), s.config(e.Config); got != want {
					t.Errorf("%s: synthesized %s, config says %s", e.Config.Env, got, want)
				}
			}
		})
	}
}

func TestBuildEnvironmentErrors(t *testing.T) {
	emptyRoot := filepath.Join(tmpRoot, "empty-lambda-root")
	if err := os.MkdirAll(emptyRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		mutate   func(*config.Config)
		wantErr  error
		wantText []string
	}{
		{
			name:     "missing lambda binaries tell the user to run make lambdas",
			mutate:   func(c *config.Config) { c.LambdaAssetRoot = emptyRoot },
			wantErr:  stacks.ErrLambdaBinaryMissing,
			wantText: []string{"make lambdas", filepath.Join(emptyRoot, "authorizer", "bootstrap")},
		},
		{
			name: "authorizer caching with two identity sources",
			mutate: func(c *config.Config) {
				c.API.AuthorizerResultTTLSeconds = 300
				c.API.IdentitySources = []string{"method.request.header.x-api-key", "method.request.header.Authorization"}
			},
			wantErr:  config.ErrInvalid,
			wantText: []string{"api.identitySources", "exactly one identity source", "authorizerResultTtlSeconds"},
		},
		{
			name:     "authorizer caching with no identity source",
			mutate:   func(c *config.Config) { c.API.AuthorizerResultTTLSeconds = 60 },
			wantErr:  config.ErrInvalid,
			wantText: []string{"api.identitySources"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// given a valid dev config with one change
			cfg, err := config.Load("dev")
			if err != nil {
				t.Fatal(err)
			}
			cfg.LambdaAssetRoot = lambdaRoot
			tc.mutate(cfg)
			a := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(filepath.Join(tmpRoot, "errors"))})

			// when the environment is built
			env, err := stacks.BuildEnvironment(a, cfg)

			// then it fails before adding any stack, with a clear error
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			for _, s := range tc.wantText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if env != nil {
				t.Errorf("got an environment with the error")
			}
			if n := len(*a.Node().Children()); n != 0 {
				t.Errorf("app has %d children after a failed build, want 0", n)
			}
		})
	}
}
