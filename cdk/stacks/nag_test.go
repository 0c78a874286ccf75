package stacks_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"

	"github.com/stagehand-dev/stagehand/cdk/stacks"
)

// messages formats synthesis messages for a failure report.
func messages(ms *[]*cxapi.SynthesisMessage) string {
	var b strings.Builder
	for _, m := range *ms {
		fmt.Fprintf(&b, "\n  %s: %v", *m.Id, m.Entry.Data)
	}
	return b.String()
}

func TestCdkNagReportsNoErrorInAnyEnvironment(t *testing.T) {
	// given every stack of dev, staging, prod (and the qa fixture),
	// synthesized with the AwsSolutions pack as an aspect
	for _, st := range allStacks() {
		t.Run(*st.StackName(), func(t *testing.T) {
			ann := assertions.Annotations_FromStack(st)
			// then cdk-nag reported no error and no warning
			if errs := ann.FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))); len(*errs) > 0 {
				t.Errorf("cdk-nag errors:%s", messages(errs))
			}
			if warns := ann.FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String(".*"))); len(*warns) > 0 {
				t.Errorf("synthesis warnings:%s", messages(warns))
			}
			if errs := ann.FindError(jsii.String("*"), assertions.Match_AnyValue()); len(*errs) > 0 {
				t.Errorf("synthesis errors:%s", messages(errs))
			}
		})
	}
	// and the same check main uses to exit non-zero passes
	if err := stacks.SynthErrors(assembly); err != nil {
		t.Errorf("SynthErrors: %v", err)
	}
}

func TestSynthNeedsNoContextLookups(t *testing.T) {
	// A missing context value makes the CDK CLI call AWS (and fail without
	// credentials); qa pins an account and region, so it covers that case.
	if missing := assembly.Manifest().Missing; missing != nil && len(*missing) > 0 {
		for _, m := range *missing {
			t.Errorf("synth needs a context lookup: %s (%s)", *m.Key, m.Provider)
		}
	}
}

func TestCdkNagFailsSynthOnAFinding(t *testing.T) {
	// given an app with the same checks and a queue that breaks two rules
	// (no encryption, no TLS-only policy, no DLQ)
	a := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(filepath.Join(tmpRoot, "nag-negative"))})
	stacks.AddNagChecks(a, false)
	st := awscdk.NewStack(a, jsii.String("Negative"), nil)
	awssqs.NewQueue(st, jsii.String("Plain"), &awssqs.QueueProps{Encryption: awssqs.QueueEncryption_UNENCRYPTED})

	// when it is synthesized
	asm := a.Synth(nil)

	// then cdk-nag reports errors and SynthErrors (main's exit status) fails
	errs := assertions.Annotations_FromStack(st).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-SQS.*")))
	if len(*errs) == 0 {
		t.Error("cdk-nag reported no AwsSolutions-SQS error for an unencrypted queue without TLS policy or DLQ")
	}
	err := stacks.SynthErrors(asm)
	if err == nil || !strings.Contains(err.Error(), "AwsSolutions-SQS") {
		t.Errorf("SynthErrors = %v, want an error naming AwsSolutions-SQS findings", err)
	}
}

func TestNagReportsAreWritten(t *testing.T) {
	for _, st := range envs["dev"].Stacks() {
		path := filepath.Join(tmpRoot, "cdk.out", "AwsSolutions-"+*st.StackName()+"-NagReport.csv")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("report for %s: %v", *st.StackName(), err)
			continue
		}
		if strings.Contains(string(data), "Non-Compliant") {
			t.Errorf("%s has non-compliant findings:\n%s", path, data)
		}
	}
}

// suppressionsOf returns, per logical id, the cdk-nag rules suppressed on
// that resource of st, with their reasons.
func suppressionsOf(t *testing.T, st awscdk.Stack) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	res, _ := templateJSON(t, st)["Resources"].(map[string]any)
	for id, r := range res {
		rules, _ := get(r, "Metadata", "cdk_nag", "rules_to_suppress").([]any)
		for _, rule := range rules {
			rm := rule.(map[string]any)
			if out[id] == nil {
				out[id] = map[string]string{}
			}
			reason, _ := rm["reason"].(string)
			out[id][rm["id"].(string)] = reason
		}
	}
	return out
}

func TestNagSuppressionsAreReasonedAndNarrow(t *testing.T) {
	// given every stack of every environment
	total := 0
	for _, name := range sortedKeys(envs) {
		env := envs[name]
		for _, st := range env.Stacks() {
			t.Run(*st.StackName(), func(t *testing.T) {
				sup := suppressionsOf(t, st)
				total += len(sup)
				// then every suppression says why, in more than a phrase
				for id, rules := range sup {
					for rule, reason := range rules {
						if len(strings.Fields(reason)) < 12 {
							t.Errorf("%s: %s suppressed with a thin reason %q", id, rule, reason)
						}
					}
				}
			})
		}
		// and in the shared stack, only the JWT route's API may suppress
		// the missing-authorization rule: the key-admin API's methods are
		// IAM-authorized, never exempted
		t.Run("Shared-"+name+"/authorization is never suppressed on the IAM API", func(t *testing.T) {
			sh := env.Shared
			// Logical ids of an API's resources start with its construct id.
			jwt := ""
			if sh.KeyAdminJWTAPI != nil {
				jwt = *sh.KeyAdminJWTAPI.Node().Id()
			}
			// The console/portal API authenticates users itself (OIDC
			// session, role, form token): its own, reasoned exemption.
			portal := "\x00"
			if sh.Portal != nil {
				portal = *sh.Portal.API.Node().Id()
			}
			exempt := 0
			for id, rules := range suppressionsOf(t, sh.Stack) {
				if _, ok := rules["AwsSolutions-APIG4"]; !ok || strings.HasPrefix(id, portal) {
					continue
				}
				exempt++
				if jwt == "" || !strings.HasPrefix(id, jwt) {
					t.Errorf("%s suppresses AwsSolutions-APIG4 outside the JWT route's API", id)
				}
			}
			if (jwt != "") != (exempt > 0) {
				t.Errorf("JWT route configured = %v, resources exempt from APIG4 = %d", jwt != "", exempt)
			}
		})
	}
	if total < 20 {
		t.Errorf("found %d suppressed resources in all stacks: the metadata walk is broken", total)
	}
}
