// Package stacks defines stagehand's CloudFormation stacks for one
// environment: Network-<env> (VPC, ECS Fargate service, internal NLB, VPC
// Link), Shared-<env> (registry table, usage plans, Lambdas, event rules,
// queues, alarms), Api-<env>-blue and Api-<env>-green (one REST API per
// colour) and, when configured, Domain-<env> (the custom domain, whose base
// path mapping belongs to `stagehand cutover`).
//
// BuildEnvironment wires them together; AddNagChecks runs cdk-nag's
// AwsSolutions pack over an app, and SynthErrors reads the errors it (or
// anything else) reported from a synthesized cloud assembly.
package stacks

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Tag keys stagehand puts on resources. The reconciler tags the usage
// plans it creates with TagEnv and TagPlan, and adopts existing ones (the
// CloudFormation-owned plans of earlier releases) by them.
const (
	TagEnv    = "stagehand:env"
	TagPlan   = "stagehand:plan"
	TagColour = "stagehand:colour"
)

// Colours are the two API stack colours.
var Colours = []string{"blue", "green"}

// retentionDays maps config retention (days) to CDK's enum; config
// validation guarantees the key exists.
var retentionDays = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS,
	5: awslogs.RetentionDays_FIVE_DAYS, 7: awslogs.RetentionDays_ONE_WEEK,
	14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS,
	120: awslogs.RetentionDays_FOUR_MONTHS, 150: awslogs.RetentionDays_FIVE_MONTHS,
	180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS,
	731: awslogs.RetentionDays_TWO_YEARS, 1096: awslogs.RetentionDays_THREE_YEARS,
	1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
	2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS,
	3288: awslogs.RetentionDays_NINE_YEARS, 3653: awslogs.RetentionDays_TEN_YEARS,
}

// retention returns the CDK retention for days; unknown values (which
// config validation rejects) fall back to one month rather than panicking.
func retention(days int) awslogs.RetentionDays {
	if r, ok := retentionDays[days]; ok {
		return r
	}
	return awslogs.RetentionDays_ONE_MONTH
}

// suppression is one cdk-nag rule suppression with its reason.
type suppression struct {
	id     string
	reason string
	// appliesTo narrows an IAM finding to exact findings
	// (e.g. "Resource::arn:<AWS::Partition>:...::/usageplans/*").
	appliesTo []string
}

// suppress records cdk-nag suppressions on a construct (and, when children
// is true, everything beneath it).
func suppress(c constructs.IConstruct, children bool, rules ...suppression) {
	out := make([]*cdknag.NagPackSuppression, 0, len(rules))
	for _, r := range rules {
		s := &cdknag.NagPackSuppression{Id: jsii.String(r.id), Reason: jsii.String(r.reason)}
		if len(r.appliesTo) > 0 {
			applies := make([]interface{}, len(r.appliesTo))
			for i, a := range r.appliesTo {
				applies[i] = a
			}
			s.AppliesTo = &applies
		}
		out = append(out, s)
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c, &out, jsii.Bool(children))
}

// AddNagChecks adds cdk-nag's AwsSolutions pack to every construct of app.
// Call it once per app, before synthesis.
func AddNagChecks(app awscdk.App, verbose bool) {
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{
		Verbose: jsii.Bool(verbose),
		Reports: jsii.Bool(true),
	}), nil)
}

// SynthErrors returns an error listing every error-level annotation in the
// synthesized assembly (cdk-nag findings included), or nil when there are
// none. The CDK CLI refuses such an assembly too; this lets `go run ./cdk`
// fail on its own.
func SynthErrors(asm cxapi.CloudAssembly) error {
	var problems []string
	for _, st := range *asm.Stacks() {
		for _, m := range *st.Messages() {
			if m.Level != cxapi.SynthesisMessageLevel_ERROR {
				continue
			}
			data := ""
			if m.Entry != nil && m.Entry.Data != nil {
				data = fmt.Sprint(m.Entry.Data)
			}
			problems = append(problems, fmt.Sprintf("%s: %s", *m.Id, data))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("synth reported %d error(s):\n  %s", len(problems), strings.Join(problems, "\n  "))
}

// stackName formats a stack name such as Network-dev.
func stackName(kind, env string, suffix ...string) string {
	return strings.Join(append([]string{kind, env}, suffix...), "-")
}

// exportName formats a stable export name such as stagehand-dev-blue-apiId.
func exportName(parts ...string) *string {
	return jsii.String("stagehand-" + strings.Join(parts, "-"))
}
