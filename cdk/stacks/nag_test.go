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
