package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsssm"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Cross-stack wiring. The colour stacks (and Network, for the secret) read
// what Network and Shared publish through SSM String parameters with stable
// names, resolved by CloudFormation when the reading stack is deployed
// (AWS::SSM::Parameter::Value<String> template parameters). Nothing is a
// CloudFormation export/import, so Network and Shared can update or replace
// any resource while a colour is live: CloudFormation never refuses with
// "Export ... cannot be updated as it is in use". A live colour keeps the
// values it was deployed with until the next colour deploy (docs/cdk.md,
// "Cross-stack wiring").
const (
	// Published by Shared-<env>.
	ParamAuthorizerArn         = "authorizer-arn"
	ParamOriginVerifySecretArn = "origin-verify-secret-arn"
	// Published by Network-<env>.
	ParamVpcLinkID = "vpc-link-id"
	ParamNlbDNS    = "nlb-dns"
)

// ParameterName is the SSM parameter name of a wired value:
// /stagehand/<env>/<key>.
func ParameterName(env, key string) string {
	return "/stagehand/" + env + "/" + key
}

// publishParameter writes value to the stable parameter env/key.
func publishParameter(scope constructs.Construct, id, env, key, value, description string) awsssm.StringParameter {
	return awsssm.NewStringParameter(scope, jsii.String(id), &awsssm.StringParameterProps{
		ParameterName: jsii.String(ParameterName(env, key)),
		StringValue:   jsii.String(value),
		Description:   jsii.String(description),
		Tier:          awsssm.ParameterTier_STANDARD,
	})
}

// readParameter returns the value of the stable parameter env/key, resolved
// when the reading stack is deployed.
func readParameter(scope constructs.Construct, env, key string) *string {
	return awsssm.StringParameter_ValueForStringParameter(scope, jsii.String(ParameterName(env, key)), nil)
}
