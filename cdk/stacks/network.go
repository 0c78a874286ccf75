package stacks

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecr"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	elbv2 "github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/stagehand-dev/stagehand/cdk/config"
	"github.com/stagehand-dev/stagehand/internal/originverify"
)

// OriginVerifyEnvVar is the container environment variable that carries the
// origin-verify secret's AWSCURRENT value at task start. A backend that
// checks the X-Origin-Verify header should instead read the secret named by
// originverify.EnvSecretARN (AWSCURRENT, AWSPENDING and AWSPREVIOUS, every
// originverify.EnvRefreshSeconds) so that rotation rejects nothing; see
// docs/cdk.md ("Origin verify").
const OriginVerifyEnvVar = "ORIGIN_VERIFY_SECRET"

// NetworkStackProps configures NewNetworkStack. The origin-verify secret's
// ARN is read from the shared stack's stable SSM parameter.
type NetworkStackProps struct {
	awscdk.StackProps
	Config *config.Config
}

// NetworkStack is the VPC, the ECS Fargate service, the internal NLB in
// front of it and the REST API VPC Link to that NLB.
type NetworkStack struct {
	awscdk.Stack
	Vpc                  awsec2.Vpc
	Cluster              awsecs.Cluster
	Service              awsecs.FargateService
	LoadBalancer         elbv2.NetworkLoadBalancer
	LoadBalancerSG       awsec2.SecurityGroup
	ServiceSecurityGroup awsec2.SecurityGroup
	VpcLink              awsapigateway.VpcLink
}

// NewNetworkStack builds the Network-<env> stack.
func NewNetworkStack(scope constructs.Construct, id string, props *NetworkStackProps) *NetworkStack {
	cfg := props.Config
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	ns := &NetworkStack{Stack: stack}
	if cfg.Pinned() {
		// A stack pinned to an account and region asks the account for its
		// availability zones (the VPC checks the configured ones against
		// them), which needs credentials at synth. The configured zones
		// answer that lookup instead.
		stack.Node().SetContext(
			jsii.String(fmt.Sprintf("availability-zones:account=%s:region=%s", cfg.Account, cfg.Region)),
			cfg.AvailabilityZones)
	}

	ns.Vpc = newVpc(stack, cfg)
	privateSubnets := &awsec2.SubnetSelection{SubnetGroupName: jsii.String("Private")}

	ns.Cluster = awsecs.NewCluster(stack, jsii.String("Cluster"), &awsecs.ClusterProps{
		Vpc:                 ns.Vpc,
		ContainerInsightsV2: awsecs.ContainerInsights_ENABLED,
	})

	// Security groups: the NLB's admits nothing from inside the VPC (no
	// ingress rule) and, with inbound enforcement off for PrivateLink
	// traffic, only the VPC Link path reaches it. The service's admits only
	// the NLB's, on the container port (traffic and health checks).
	ns.LoadBalancerSG = awsec2.NewSecurityGroup(stack, jsii.String("LoadBalancerSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:              ns.Vpc,
		Description:      jsii.String("stagehand " + cfg.Env + " internal NLB: reached only through the API Gateway VPC Link (PrivateLink)"),
		AllowAllOutbound: jsii.Bool(false),
	})
	ns.ServiceSecurityGroup = awsec2.NewSecurityGroup(stack, jsii.String("ServiceSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:              ns.Vpc,
		Description:      jsii.String("stagehand " + cfg.Env + " Fargate service: admits only the NLB"),
		AllowAllOutbound: jsii.Bool(true),
	})
	port := awsec2.Port_Tcp(jsii.Number(cfg.Service.ContainerPort))
	ns.ServiceSecurityGroup.AddIngressRule(ns.LoadBalancerSG, port, jsii.String("from the internal NLB only"), jsii.Bool(false))
	ns.LoadBalancerSG.AddEgressRule(ns.ServiceSecurityGroup, port, jsii.String("to the Fargate service"), jsii.Bool(false))

	// Interface endpoints so that tasks pull images, write logs and read
	// their secret without leaving the VPC (and without NAT when there is
	// none). S3 (ECR layers) and DynamoDB are gateway endpoints on the VPC.
	// Their security group admits HTTPS from the service only.
	endpointSG := awsec2.NewSecurityGroup(stack, jsii.String("EndpointSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:              ns.Vpc,
		Description:      jsii.String("stagehand " + cfg.Env + " interface VPC endpoints: HTTPS from the Fargate service"),
		AllowAllOutbound: jsii.Bool(false),
	})
	endpointSG.AddIngressRule(ns.ServiceSecurityGroup, awsec2.Port_Tcp(jsii.Number(443)), jsii.String("HTTPS from the Fargate service"), jsii.Bool(false))
	for _, ep := range []struct {
		name string
		svc  awsec2.InterfaceVpcEndpointAwsService
	}{
		{"EcrApiEndpoint", awsec2.InterfaceVpcEndpointAwsService_ECR()},
		{"EcrDockerEndpoint", awsec2.InterfaceVpcEndpointAwsService_ECR_DOCKER()},
		{"LogsEndpoint", awsec2.InterfaceVpcEndpointAwsService_CLOUDWATCH_LOGS()},
		{"SecretsManagerEndpoint", awsec2.InterfaceVpcEndpointAwsService_SECRETS_MANAGER()},
	} {
		ns.Vpc.AddInterfaceEndpoint(jsii.String(ep.name), &awsec2.InterfaceVpcEndpointOptions{
			Service:           ep.svc,
			Subnets:           privateSubnets,
			PrivateDnsEnabled: jsii.Bool(true),
			SecurityGroups:    &[]awsec2.ISecurityGroup{endpointSG},
			Open:              jsii.Bool(false),
		})
	}

	secret := awssecretsmanager.Secret_FromSecretCompleteArn(stack, jsii.String("OriginVerifySecret"),
		readParameter(stack, cfg.Env, ParamOriginVerifySecretArn))
	ns.Service = newService(stack, cfg, ns.Cluster, ns.ServiceSecurityGroup, privateSubnets, secret)

	ns.LoadBalancer = elbv2.NewNetworkLoadBalancer(stack, jsii.String("LoadBalancer"), &elbv2.NetworkLoadBalancerProps{
		Vpc:            ns.Vpc,
		InternetFacing: jsii.Bool(false),
		VpcSubnets:     privateSubnets,
		SecurityGroups: &[]awsec2.ISecurityGroup{ns.LoadBalancerSG},
		// PrivateLink (VPC Link) traffic bypasses the inbound rules, and
		// there are none: nothing else in the VPC can reach the NLB.
		EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic: jsii.Bool(false),
		CrossZoneEnabled:   jsii.Bool(true),
		DeletionProtection: jsii.Bool(cfg.Network.LoadBalancerDeletionProtection),
	})
	listener := ns.LoadBalancer.AddListener(jsii.String("Tcp"), &elbv2.BaseNetworkListenerProps{
		Port:     jsii.Number(cfg.Service.ListenerPort),
		Protocol: elbv2.Protocol_TCP,
	})
	health := &elbv2.HealthCheck{
		Enabled:                 jsii.Bool(true),
		Protocol:                elbv2.Protocol_TCP,
		Interval:                awscdk.Duration_Seconds(jsii.Number(cfg.Service.HealthCheckIntervalSeconds)),
		HealthyThresholdCount:   jsii.Number(cfg.Service.HealthyThresholdCount),
		UnhealthyThresholdCount: jsii.Number(cfg.Service.UnhealthyThresholdCount),
	}
	if cfg.Service.HealthCheckPath != "" {
		health.Protocol = elbv2.Protocol_HTTP
		health.Path = jsii.String(cfg.Service.HealthCheckPath)
	}
	listener.AddTargets(jsii.String("Service"), &elbv2.AddNetworkTargetsProps{
		Port:                jsii.Number(cfg.Service.ContainerPort),
		Protocol:            elbv2.Protocol_TCP,
		DeregistrationDelay: awscdk.Duration_Seconds(jsii.Number(cfg.Service.DeregistrationDelaySeconds)),
		HealthCheck:         health,
		Targets: &[]elbv2.INetworkLoadBalancerTarget{ns.Service.LoadBalancerTarget(&awsecs.LoadBalancerTargetOptions{
			ContainerName: jsii.String("app"),
			ContainerPort: jsii.Number(cfg.Service.ContainerPort),
		})},
	})
	suppress(ns.LoadBalancer, false, suppression{
		id:     "AwsSolutions-ELB2",
		reason: "The NLB has only a TCP listener, for which Network Load Balancers write no access logs (they exist for TLS listeners only). Every request is logged by the API Gateway stage's JSON access log instead.",
	})

	ns.VpcLink = awsapigateway.NewVpcLink(stack, jsii.String("VpcLink"), &awsapigateway.VpcLinkProps{
		VpcLinkName: jsii.String("stagehand-" + cfg.Env),
		Description: jsii.String("stagehand " + cfg.Env + ": REST API (blue and green) to the internal NLB"),
		Targets:     &[]elbv2.INetworkLoadBalancer{ns.LoadBalancer},
	})

	if cfg.LegacyColourExports {
		// The exports colour stacks deployed before the SSM wiring import
		// (same names: CDK derives them from the construct path).
		stack.ExportValue(ns.VpcLink.VpcLinkId(), nil)
		stack.ExportValue(ns.LoadBalancer.LoadBalancerDnsName(), nil)
	}
	publishParameter(stack, "VpcLinkIdParameter", cfg.Env, ParamVpcLinkID, *ns.VpcLink.VpcLinkId(),
		"stagehand "+cfg.Env+": VPC Link id the colour stacks integrate through")
	publishParameter(stack, "NlbDnsParameter", cfg.Env, ParamNlbDNS, *ns.LoadBalancer.LoadBalancerDnsName(),
		"stagehand "+cfg.Env+": internal NLB DNS name the colour stacks' integrations call")
	awscdk.NewCfnOutput(stack, jsii.String("LoadBalancerDns"), &awscdk.CfnOutputProps{
		Value:      ns.LoadBalancer.LoadBalancerDnsName(),
		ExportName: exportName(cfg.Env, "nlbDns"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("VpcLinkId"), &awscdk.CfnOutputProps{
		Value:      ns.VpcLink.VpcLinkId(),
		ExportName: exportName(cfg.Env, "vpcLinkId"),
	})
	return ns
}

// newVpc builds a two-AZ VPC with private subnets, flow logs and gateway
// endpoints. Without NAT the private subnets are isolated; with NAT they
// get egress through public subnets.
func newVpc(stack awscdk.Stack, cfg *config.Config) awsec2.Vpc {
	flowLogs := awslogs.NewLogGroup(stack, jsii.String("FlowLogs"), &awslogs.LogGroupProps{
		Retention:     retention(cfg.Network.FlowLogRetentionDays),
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	subnets := []*awsec2.SubnetConfiguration{{
		Name:       jsii.String("Private"),
		SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED,
		CidrMask:   jsii.Number(20),
	}}
	if cfg.Network.NatGateways > 0 {
		subnets = []*awsec2.SubnetConfiguration{
			{Name: jsii.String("Public"), SubnetType: awsec2.SubnetType_PUBLIC, CidrMask: jsii.Number(24), MapPublicIpOnLaunch: jsii.Bool(false)},
			{Name: jsii.String("Private"), SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS, CidrMask: jsii.Number(20)},
		}
	}
	props := &awsec2.VpcProps{
		IpAddresses:         awsec2.IpAddresses_Cidr(jsii.String(cfg.Network.CIDR)),
		NatGateways:         jsii.Number(cfg.Network.NatGateways),
		SubnetConfiguration: &subnets,
		FlowLogs: &map[string]*awsec2.FlowLogOptions{
			"All": {
				Destination: awsec2.FlowLogDestination_ToCloudWatchLogs(flowLogs, nil),
				TrafficType: awsec2.FlowLogTrafficType_ALL,
			},
		},
		GatewayEndpoints: &map[string]*awsec2.GatewayVpcEndpointOptions{
			"S3":       {Service: awsec2.GatewayVpcEndpointAwsService_S3()},
			"DynamoDB": {Service: awsec2.GatewayVpcEndpointAwsService_DYNAMODB()},
		},
	}
	if len(cfg.AvailabilityZones) > 0 {
		props.AvailabilityZones = jsii.Strings(cfg.AvailabilityZones...)
	} else {
		props.MaxAzs = jsii.Number(2)
	}
	return awsec2.NewVpc(stack, jsii.String("Vpc"), props)
}

// newService builds the Fargate task definition and service. The container
// gets the origin-verify secret from Secrets Manager (never a plain
// environment variable).
func newService(stack awscdk.Stack, cfg *config.Config, cluster awsecs.Cluster, sg awsec2.SecurityGroup, subnets *awsec2.SubnetSelection, secret awssecretsmanager.ISecret) awsecs.FargateService {
	arch := awsecs.CpuArchitecture_X86_64()
	if cfg.Service.CPUArchitecture == "ARM64" {
		arch = awsecs.CpuArchitecture_ARM64()
	}
	task := awsecs.NewFargateTaskDefinition(stack, jsii.String("TaskDefinition"), &awsecs.FargateTaskDefinitionProps{
		Cpu:            jsii.Number(cfg.Service.CPU),
		MemoryLimitMiB: jsii.Number(cfg.Service.MemoryMiB),
		RuntimePlatform: &awsecs.RuntimePlatform{
			CpuArchitecture:       arch,
			OperatingSystemFamily: awsecs.OperatingSystemFamily_LINUX(),
		},
	})
	appLogs := awslogs.NewLogGroup(stack, jsii.String("ServiceLogs"), &awslogs.LogGroupProps{
		Retention:     retention(cfg.Service.LogRetentionDays),
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	container := &awsecs.ContainerDefinitionOptions{
		ContainerName: jsii.String("app"),
		Image:         containerImage(stack, cfg.Service.Image),
		Essential:     jsii.Bool(true),
		Logging: awsecs.LogDriver_AwsLogs(&awsecs.AwsLogDriverProps{
			StreamPrefix: jsii.String("app"),
			LogGroup:     appLogs,
		}),
		PortMappings: &[]*awsecs.PortMapping{{
			ContainerPort: jsii.Number(cfg.Service.ContainerPort),
			Protocol:      awsecs.Protocol_TCP,
		}},
	}
	if secret != nil {
		container.Secrets = &map[string]awsecs.Secret{
			OriginVerifyEnvVar: awsecs.Secret_FromSecretsManager(secret, nil),
		}
		// What a rotation-aware backend needs (internal/originverify's
		// Checker and Middleware): the secret, how often to re-read it,
		// and the health check path, which carries no header.
		env := map[string]*string{
			originverify.EnvSecretARN:      secret.SecretArn(),
			originverify.EnvRefreshSeconds: jsii.String(fmt.Sprint(int(originverify.DefaultRefresh.Seconds()))),
		}
		if cfg.Service.HealthCheckPath != "" {
			env[originverify.EnvExemptPath] = jsii.String(cfg.Service.HealthCheckPath)
		}
		container.Environment = &env
		suppress(task, false, suppression{
			id:     "AwsSolutions-ECS2",
			reason: "The environment holds no secret: the origin-verify secret's ARN (not its value), its refresh interval in seconds and the health check path. The value itself reaches the container only as an ECS secret (ORIGIN_VERIFY_SECRET) or through GetSecretValue with the task role.",
		})
		// Exactly the call the Checker makes, on exactly this secret.
		task.AddToTaskRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
			Resources: jsii.Strings(*secret.SecretArn()),
		}))
	}
	task.AddContainer(jsii.String("app"), container)
	if _, ok := parsePrivateECR(cfg.Service.Image); ok {
		suppress(task, true, suppression{
			id:        "AwsSolutions-IAM5",
			reason:    "ecr:GetAuthorizationToken does not support resource-level permissions; the image pull actions themselves are scoped to the one repository.",
			appliesTo: []string{"Resource::*"},
		})
	}

	return awsecs.NewFargateService(stack, jsii.String("Service"), &awsecs.FargateServiceProps{
		Cluster:                cluster,
		TaskDefinition:         task,
		DesiredCount:           jsii.Number(cfg.Service.DesiredCount),
		MinHealthyPercent:      jsii.Number(100),
		MaxHealthyPercent:      jsii.Number(200),
		AssignPublicIp:         jsii.Bool(false),
		VpcSubnets:             subnets,
		SecurityGroups:         &[]awsec2.ISecurityGroup{sg},
		HealthCheckGracePeriod: awscdk.Duration_Seconds(jsii.Number(60)),
		CircuitBreaker:         &awsecs.DeploymentCircuitBreaker{Enable: jsii.Bool(true), Rollback: jsii.Bool(true)},
	})
}

// privateECRImage is an image reference in a private ECR repository.
type privateECRImage struct {
	account, region, repository, tagOrDigest string
}

// privateECRRef matches <account>.dkr.ecr.<region>.amazonaws.com/<repo>
// followed by :<tag> or @<digest>.
var privateECRRef = regexp.MustCompile(`^([0-9]{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([a-z0-9._/-]+?)(?::([A-Za-z0-9._-]+)|@(sha256:[a-f0-9]{64}))?$`)

// parsePrivateECR recognizes a private ECR image reference.
func parsePrivateECR(image string) (privateECRImage, bool) {
	m := privateECRRef.FindStringSubmatch(image)
	if m == nil {
		return privateECRImage{}, false
	}
	ref := privateECRImage{account: m[1], region: m[2], repository: m[3], tagOrDigest: m[4]}
	if m[5] != "" {
		ref.tagOrDigest = m[5]
	}
	if ref.tagOrDigest == "" {
		ref.tagOrDigest = "latest"
	}
	return ref, true
}

// containerImage returns a private ECR image through the repository (so
// the execution role gets exactly that repository's pull permissions) and
// any other image by name.
func containerImage(stack awscdk.Stack, image string) awsecs.ContainerImage {
	ref, ok := parsePrivateECR(image)
	if !ok {
		return awsecs.ContainerImage_FromRegistry(jsii.String(image), nil)
	}
	arn := fmt.Sprintf("arn:%s:ecr:%s:%s:repository/%s", partitionOf(ref.region), ref.region, ref.account, ref.repository)
	repo := awsecr.Repository_FromRepositoryArn(stack, jsii.String("ImageRepository"), jsii.String(arn))
	return awsecs.ContainerImage_FromEcrRepository(repo, jsii.String(ref.tagOrDigest))
}

// partitionOf returns the AWS partition of a region.
func partitionOf(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	default:
		return "aws"
	}
}
