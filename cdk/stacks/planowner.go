package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/stagehand-dev/stagehand/cdk/config"
)

// usagePlanTagsPath is the tags resource of every usage plan: /tags/ and
// the plan's URL-encoded ARN (arn%3A...%3A%3A%2Fusageplans%2F<id>).
const usagePlanTagsPath = "/tags/*usageplans*"

// grantPlanCreation gives a reconciling function the one call the registry's
// ownership of usage plans adds: CreateUsagePlan (POST /usageplans) with the
// tags stagehand:env and stagehand:plan. Creating with tags is also
// authorized as tagging the new plan (PUT on its tags resource, checked
// before the plan exists, as for keyadmin's CreateApiKey), so both grants
// require the request to tag the plan with this environment and only with
// stagehand's tag keys: the role cannot create or tag another
// environment's plans this way.
func (ss *SharedStack) grantPlanCreation(cfg *config.Config, name string) {
	role := ss.Roles[name]
	cond := &map[string]any{
		"StringEquals":            map[string]any{"aws:RequestTag/" + TagEnv: cfg.Env},
		"ForAllValues:StringLike": map[string]any{"aws:TagKeys": []string{"stagehand:*"}},
	}
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("apigateway:POST"),
		Resources:  jsii.Strings(*apiGatewayArn(ss.Stack, "/usageplans")),
		Conditions: cond,
	}))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("apigateway:PUT"),
		Resources:  jsii.Strings(*apiGatewayArn(ss.Stack, usagePlanTagsPath)),
		Conditions: cond,
	}))
	suppress(role, true, suppression{
		id:        "AwsSolutions-IAM5",
		reason:    "CreateUsagePlan with tags is authorized as tagging the new plan, whose id (and so its tags resource) does not exist at synth time; the grant is limited to usage plan tag resources, to requests tagging the plan stagehand:env=<this environment>, and to stagehand:* tag keys.",
		appliesTo: []string{"Resource::arn:<AWS::Partition>:apigateway:<AWS::Region>::" + usagePlanTagsPath},
	})
}
