package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/stagehand-dev/stagehand/cdk/config"
)

// DomainStackProps configures NewDomainStack.
type DomainStackProps struct {
	awscdk.StackProps
	Config *config.Config
}

// DomainStack is the regional custom domain of an environment.
//
// It deliberately declares no base path mapping: `stagehand cutover`
// creates the mapping and moves it between the blue and green APIs. Were
// the mapping a CloudFormation resource, every deploy of this stack would
// put it back where the template says, undoing the last cutover.
type DomainStack struct {
	awscdk.Stack
	Domain awsapigateway.DomainName
}

// NewDomainStack builds the Domain-<env> stack.
func NewDomainStack(scope constructs.Construct, id string, props *DomainStackProps) *DomainStack {
	cfg := props.Config
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	ds := &DomainStack{Stack: stack}
	ds.Domain = awsapigateway.NewDomainName(stack, jsii.String("Domain"), &awsapigateway.DomainNameProps{
		DomainName:     jsii.String(cfg.DomainName),
		Certificate:    awscertificatemanager.Certificate_FromCertificateArn(stack, jsii.String("Certificate"), jsii.String(cfg.CertificateArn)),
		EndpointType:   awsapigateway.EndpointType_REGIONAL,
		SecurityPolicy: awsapigateway.SecurityPolicy_TLS_1_2,
	})
	out := func(id string, value *string, export string) {
		awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{
			Value:      value,
			ExportName: exportName(cfg.Env, export),
		})
	}
	out("DomainName", ds.Domain.DomainName(), "domainName")
	// Point a DNS alias (A/AAAA) at these.
	out("RegionalDomainName", ds.Domain.DomainNameAliasDomainName(), "regionalDomainName")
	out("RegionalHostedZoneId", ds.Domain.DomainNameAliasHostedZoneId(), "regionalHostedZoneId")
	return ds
}
