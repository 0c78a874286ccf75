package stacks_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/cdk/stacks"
)

// TestNoSecretInAnyColourTemplate: the origin-verify value reaches the
// backend through the authorizer's context, so no colour template resolves
// a secret (anyone with apigateway:GET would read a resolved value in the
// integration, and an in-place update would keep an old one).
func TestNoSecretInAnyColourTemplate(t *testing.T) {
	forEachApi(t, func(t *testing.T, env *stacks.Environment, colour string, api *stacks.ApiStack) {
		raw, err := json.Marshal(templateJSON(t, api.Stack))
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"{{resolve:secretsmanager", "{{resolve:ssm-secure", "OriginVerifySecret"} {
			if strings.Contains(string(raw), bad) {
				t.Errorf("template contains %q", bad)
			}
		}
		// The value travels in the authorizer context: neither the access
		// log nor data trace (which logs integration request headers) may
		// record it.
		stage := resourceByID(t, api.Stack, logicalID(t, api.Stack, api.Api.DeploymentStage())).Props
		if f := render(get(stage, "AccessLogSetting", "Format")); f == "" || strings.Contains(f, "originVerify") {
			t.Errorf("access log format %q records the origin-verify value (or is missing)", f)
		}
		for _, ms := range get(stage, "MethodSettings").([]any) {
			if get(ms, "DataTraceEnabled") != false {
				t.Errorf("method setting %v: DataTraceEnabled must be false", ms)
			}
		}
	})
}

// TestExecutionLogGroupHasRetention: API Gateway's execution log group of
// the stage is created by the stack, with the configured retention, before
// the stage.
func TestExecutionLogGroupHasRetention(t *testing.T) {
	forEachApi(t, func(t *testing.T, env *stacks.Environment, colour string, api *stacks.ApiStack) {
		st := api.Stack
		lg := resourceByID(t, st, logicalID(t, st, api.ExecutionLogs))
		apiID := logicalID(t, st, api.Api)
		got := []string{render(lg.Props["LogGroupName"]), render(lg.Props["RetentionInDays"])}
		want := []string{"API-Gateway-Execution-Logs_${" + apiID + "}/" + env.Config.Env, render(float64(env.Config.API.AccessLogRetentionDays))}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("execution log group (-want +got):\n%s", diff)
		}
		stage := resourceByID(t, st, logicalID(t, st, api.Api.DeploymentStage()))
		if deps := strs(stage.Raw["DependsOn"]); !containsStr(deps, lg.ID) {
			t.Errorf("stage DependsOn %v, want the execution log group %s", deps, lg.ID)
		}
	})
}

func containsStr(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// TestContinuationMappingIsNeverThrottled: an SQS event source mapping
// ignores the function's reserved concurrency, so a mapping allowed more
// concurrent invocations than the function may run gets throttled, and a
// throttled message returns to the queue and, after maxReceiveCount
// receives, lands in the DLQ. The mapping's MaximumConcurrency (at least 2
// for SQS) must not exceed the function's reserved concurrency, if any.
func TestContinuationMappingIsNeverThrottled(t *testing.T) {
	for _, name := range sortedKeys(envs) {
		sh := envs[name].Shared
		t.Run(name, func(t *testing.T) {
			for _, m := range resources(t, sh.Stack, "AWS::Lambda::EventSourceMapping") {
				maxConc, ok := get(m.Props, "ScalingConfig", "MaximumConcurrency").(float64)
				if !ok || maxConc < 2 || maxConc != stacks.ContinuationMaxConcurrency {
					t.Errorf("mapping %s: MaximumConcurrency = %v, want %d", m.ID, get(m.Props, "ScalingConfig", "MaximumConcurrency"), stacks.ContinuationMaxConcurrency)
				}
				fnID := strings.Trim(render(m.Props["FunctionName"]), "${}")
				fn := resourceByID(t, sh.Stack, fnID).Props
				if reserved, ok := fn["ReservedConcurrentExecutions"].(float64); ok && reserved < maxConc {
					t.Errorf("mapping %s: MaximumConcurrency %v exceeds %s's reserved concurrency %v", m.ID, maxConc, fnID, reserved)
				}
			}
		})
	}
}

// TestAccountCloudWatchRoleFollowsConfig: the account-level setting is made
// by exactly the environments that say so (one per account: dev for the
// dev/staging account, prod for its own).
func TestAccountCloudWatchRoleFollowsConfig(t *testing.T) {
	got := map[string]bool{}
	for _, name := range shippedEnvs {
		env := envs[name]
		n := len(resources(t, env.Shared.Stack, "AWS::ApiGateway::Account"))
		if want := map[bool]int{true: 1, false: 0}[env.Config.API.ManageAccountCloudWatchRole]; n != want {
			t.Errorf("%s: %d AWS::ApiGateway::Account, want %d", name, n, want)
		}
		got[name] = n == 1
	}
	if diff := cmp.Diff(map[string]bool{"dev": true, "staging": false, "prod": true}, got); diff != "" {
		t.Errorf("environments managing the account role (-want +got):\n%s", diff)
	}
}

// TestLoadBalancerDeletionProtection: on in prod (config), off elsewhere.
func TestLoadBalancerDeletionProtection(t *testing.T) {
	got := map[string]string{}
	for _, name := range sortedKeys(envs) {
		st := envs[name].Network.Stack
		lb := resourceByID(t, st, logicalID(t, st, envs[name].Network.LoadBalancer)).Props
		got[name] = "false"
		for _, a := range lb["LoadBalancerAttributes"].([]any) {
			if get(a, "Key") == "deletion_protection.enabled" {
				got[name] = render(get(a, "Value"))
			}
		}
	}
	if diff := cmp.Diff(map[string]string{"dev": "false", "staging": "false", "prod": "true", "qa": "false"}, got); diff != "" {
		t.Errorf("NLB deletion protection (-want +got):\n%s", diff)
	}
}
