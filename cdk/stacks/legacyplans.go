package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/jsii-runtime-go"

	"github.com/stagehand-dev/stagehand/cdk/config"
)

// retainLegacyUsagePlans keeps, for one release, the usage plans earlier
// releases created in this stack, exactly as they were (same logical ids,
// same properties: a changed property would make CloudFormation update the
// plan and reset its stages, aws-cdk#32544), with DeletionPolicy and
// UpdateReplacePolicy Retain. The release after drops them from the
// template and CloudFormation leaves them in place; the reconciler has
// adopted them by tag meanwhile. See docs/cdk.md, "Migrating usage plans to
// the registry".
func (ss *SharedStack) retainLegacyUsagePlans(cfg *config.Config) {
	for _, p := range cfg.Plans {
		props := &awsapigateway.UsagePlanProps{
			Name:        jsii.String("stagehand-" + cfg.Env + "-" + p.Name),
			Description: jsii.String(p.Description),
			Throttle: &awsapigateway.ThrottleSettings{
				RateLimit:  jsii.Number(p.RateLimit),
				BurstLimit: jsii.Number(p.BurstLimit),
			},
		}
		if p.QuotaLimit > 0 {
			props.Quota = &awsapigateway.QuotaSettings{
				Limit:  jsii.Number(p.QuotaLimit),
				Period: awsapigateway.Period(p.QuotaPeriod),
			}
		}
		plan := awsapigateway.NewUsagePlan(ss.Stack, jsii.String("UsagePlan-"+p.Name), props)
		awscdk.Tags_Of(plan).Add(jsii.String(TagEnv), jsii.String(cfg.Env), nil)
		awscdk.Tags_Of(plan).Add(jsii.String(TagPlan), jsii.String(p.Name), nil)
		plan.ApplyRemovalPolicy(awscdk.RemovalPolicy_RETAIN)
		ss.LegacyUsagePlans[p.Name] = plan
	}
}
