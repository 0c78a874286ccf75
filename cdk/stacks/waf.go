package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awswafv2"
	"github.com/aws/jsii-runtime-go"

	"github.com/stagehand-dev/stagehand/cdk/config"
)

// newRateLimitWebACL builds the regional web ACL of api.webAclRateLimit:
// everything allowed except a source IP above the limit of requests per
// five minutes, which is blocked (a WAF rate-based rule, aggregated per IP).
// It sits in front of the authorizer: a caller minting well-formed but
// unknown API keys (each one a registry read, see docs/authorizer.md) is
// cut off by IP before the authorizer runs. It returns the ACL's ARN.
func newRateLimitWebACL(stack awscdk.Stack, cfg *config.Config) *string {
	visibility := func(metric string) *awswafv2.CfnWebACL_VisibilityConfigProperty {
		return &awswafv2.CfnWebACL_VisibilityConfigProperty{
			CloudWatchMetricsEnabled: jsii.Bool(true),
			MetricName:               jsii.String(metric),
			SampledRequestsEnabled:   jsii.Bool(true),
		}
	}
	acl := awswafv2.NewCfnWebACL(stack, jsii.String("RateLimitWebAcl"), &awswafv2.CfnWebACLProps{
		Scope:            jsii.String("REGIONAL"),
		Description:      jsii.String("stagehand " + cfg.Env + ": per-IP request rate limit in front of the API authorizer"),
		DefaultAction:    &awswafv2.CfnWebACL_DefaultActionProperty{Allow: &awswafv2.CfnWebACL_AllowActionProperty{}},
		VisibilityConfig: visibility("stagehand-" + cfg.Env + "-web-acl"),
		Rules: []any{&awswafv2.CfnWebACL_RuleProperty{
			Name:     jsii.String("rate-per-ip"),
			Priority: jsii.Number(0),
			Action:   &awswafv2.CfnWebACL_RuleActionProperty{Block: &awswafv2.CfnWebACL_BlockActionProperty{}},
			Statement: &awswafv2.CfnWebACL_StatementProperty{
				RateBasedStatement: &awswafv2.CfnWebACL_RateBasedStatementProperty{
					Limit:               jsii.Number(float64(cfg.API.WebACLRateLimit)),
					AggregateKeyType:    jsii.String("IP"),
					EvaluationWindowSec: jsii.Number(300),
				},
			},
			VisibilityConfig: visibility("stagehand-" + cfg.Env + "-rate-per-ip"),
		}},
	})
	return acl.AttrArn()
}
