package stacks_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/cdk/stacks"
	"github.com/stagehand-dev/stagehand/internal/originverify"
)

func TestLoadBalancerIsInternalAndReachableOnlyThroughTheVpcLink(t *testing.T) {
	for _, name := range sortedKeys(envs) {
		t.Run(name, func(t *testing.T) {
			env := envs[name]
			nw := env.Network
			st := nw.Stack
			nlbSG := logicalID(t, st, nw.LoadBalancerSG)
			svcSG := logicalID(t, st, nw.ServiceSecurityGroup)

			lbs := resources(t, st, "AWS::ElasticLoadBalancingV2::LoadBalancer")
			if len(lbs) != 1 {
				t.Fatalf("got %d load balancers, want 1", len(lbs))
			}
			lb := lbs[0].Props
			got := []string{
				render(lb["Type"]), render(lb["Scheme"]),
				strings.Join(strs(lb["SecurityGroups"]), ","),
				render(lb["EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"]),
			}
			want := []string{"network", "internal", "${" + nlbSG + ".GroupId}", "off"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("NLB (-want +got):\n%s", diff)
			}

			// No ingress rule anywhere targets the NLB's security group;
			// the service's admits exactly the NLB's, on the container port.
			sg := resourceByID(t, st, nlbSG).Props
			if in := sg["SecurityGroupIngress"]; in != nil {
				t.Errorf("NLB security group has inline ingress %v", in)
			}
			var svcIngress []string
			for _, r := range resources(t, st, "AWS::EC2::SecurityGroupIngress") {
				group := render(r.Props["GroupId"])
				if group == "${"+nlbSG+".GroupId}" {
					t.Errorf("ingress rule %s opens the NLB security group", r.ID)
				}
				if group == "${"+svcSG+".GroupId}" {
					svcIngress = append(svcIngress, render(r.Props["SourceSecurityGroupId"])+" tcp "+render(r.Props["FromPort"])+"-"+render(r.Props["ToPort"]))
				}
			}
			port := render(float64(env.Config.Service.ContainerPort))
			if diff := cmp.Diff([]string{"${" + nlbSG + ".GroupId} tcp " + port + "-" + port}, svcIngress); diff != "" {
				t.Errorf("service ingress (-want +got):\n%s", diff)
			}
			if in := resourceByID(t, st, svcSG).Props["SecurityGroupIngress"]; in != nil {
				t.Errorf("service security group has inline ingress %v", in)
			}
		})
	}
}

func TestTargetGroupHealthCheckAndDeregistration(t *testing.T) {
	for _, name := range sortedKeys(envs) {
		t.Run(name, func(t *testing.T) {
			cfg := envs[name].Config
			tgs := resources(t, envs[name].Network.Stack, "AWS::ElasticLoadBalancingV2::TargetGroup")
			if len(tgs) != 1 {
				t.Fatalf("got %d target groups, want 1", len(tgs))
			}
			tg := tgs[0].Props
			attrs := map[string]string{}
			for _, a := range tg["TargetGroupAttributes"].([]any) {
				am := a.(map[string]any)
				attrs[am["Key"].(string)] = render(am["Value"])
			}
			protocol, path := "TCP", ""
			if cfg.Service.HealthCheckPath != "" {
				protocol, path = "HTTP", cfg.Service.HealthCheckPath
			}
			hcPath, _ := tg["HealthCheckPath"].(string)
			got := []string{
				render(tg["TargetType"]), render(tg["Port"]), render(tg["HealthCheckEnabled"]), render(tg["HealthCheckProtocol"]), hcPath,
				render(tg["HealthCheckIntervalSeconds"]), render(tg["HealthyThresholdCount"]), render(tg["UnhealthyThresholdCount"]),
				attrs["deregistration_delay.timeout_seconds"],
			}
			want := []string{
				"ip", render(float64(cfg.Service.ContainerPort)), "true", protocol, path,
				render(float64(cfg.Service.HealthCheckIntervalSeconds)), render(float64(cfg.Service.HealthyThresholdCount)), render(float64(cfg.Service.UnhealthyThresholdCount)),
				render(float64(cfg.Service.DeregistrationDelaySeconds)),
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("target group (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVpcEndpointsClusterAndService(t *testing.T) {
	for _, name := range sortedKeys(envs) {
		t.Run(name, func(t *testing.T) {
			env := envs[name]
			st := env.Network.Stack

			var services []string
			for _, e := range resources(t, st, "AWS::EC2::VPCEndpoint") {
				svc := render(e.Props["ServiceName"])
				svc = svc[strings.LastIndex(svc, ".")+1:]
				services = append(services, render(e.Props["VpcEndpointType"])+" "+svc)
			}
			want := []string{"Gateway dynamodb", "Gateway s3", "Interface api", "Interface dkr", "Interface logs", "Interface secretsmanager"}
			if diff := cmp.Diff(want, sortStrings(services)); diff != "" {
				t.Errorf("VPC endpoints (-want +got):\n%s", diff)
			}

			if got := len(resources(t, st, "AWS::EC2::NatGateway")); got != env.Config.Network.NatGateways {
				t.Errorf("NAT gateways = %d, want %d", got, env.Config.Network.NatGateways)
			}
			wantSubnets := 2
			if env.Config.Network.NatGateways > 0 {
				wantSubnets = 4 // plus two public subnets for the NAT gateways
			}
			if got := len(resources(t, st, "AWS::EC2::Subnet")); got != wantSubnets {
				t.Errorf("subnets = %d, want %d", got, wantSubnets)
			}

			clusters := resources(t, st, "AWS::ECS::Cluster")
			if len(clusters) != 1 {
				t.Fatalf("got %d clusters", len(clusters))
			}
			if diff := cmp.Diff(`[{"Name":"containerInsights","Value":"enabled"}]`, render(clusters[0].Props["ClusterSettings"])); diff != "" {
				t.Errorf("cluster settings (-want +got):\n%s", diff)
			}

			svc := resources(t, st, "AWS::ECS::Service")[0].Props
			got := []string{
				render(svc["LaunchType"]), render(svc["DesiredCount"]),
				render(get(svc, "NetworkConfiguration", "AwsvpcConfiguration", "AssignPublicIp")),
				render(get(svc, "DeploymentConfiguration", "DeploymentCircuitBreaker", "Rollback")),
			}
			if diff := cmp.Diff([]string{"FARGATE", render(float64(env.Config.Service.DesiredCount)), "DISABLED", "true"}, got); diff != "" {
				t.Errorf("service (-want +got):\n%s", diff)
			}

			// The container gets the origin-verify secret from Secrets
			// Manager, never as a plain environment variable: the
			// environment holds its ARN (read from Shared's stable
			// parameter), the refresh interval and the exempt health path.
			secretArn := ssmParam(t, st, stacks.ParameterName(env.Config.Env, stacks.ParamOriginVerifySecretArn))
			task := resources(t, st, "AWS::ECS::TaskDefinition")[0].Props
			c := task["ContainerDefinitions"].([]any)[0].(map[string]any)
			gotEnv := map[string]string{}
			for _, e := range c["Environment"].([]any) {
				gotEnv[render(get(e, "Name"))] = render(get(e, "Value"))
			}
			wantEnv := map[string]string{
				originverify.EnvSecretARN:      secretArn,
				originverify.EnvRefreshSeconds: "300",
			}
			if p := env.Config.Service.HealthCheckPath; p != "" {
				wantEnv[originverify.EnvExemptPath] = p
			}
			if diff := cmp.Diff(wantEnv, gotEnv); diff != "" {
				t.Errorf("container environment (-want +got):\n%s", diff)
			}
			secrets := c["Secrets"].([]any)
			if len(secrets) != 1 || get(secrets[0], "Name") != "ORIGIN_VERIFY_SECRET" ||
				render(get(secrets[0], "ValueFrom")) != secretArn {
				t.Errorf("container secrets = %s, want ORIGIN_VERIFY_SECRET from the shared stack's secret", render(secrets))
			}
			// The task role may read exactly that secret (the rotation-aware
			// check), nothing else.
			taskRole := render(task["TaskRoleArn"])
			var stmts []string
			for _, p := range resources(t, st, "AWS::IAM::Policy") {
				if roles := strs(p.Props["Roles"]); len(roles) == 1 && strings.TrimSuffix(taskRole, ".Arn}") == strings.TrimSuffix(roles[0], "}") {
					for _, s := range get(p.Props, "PolicyDocument", "Statement").([]any) {
						stmts = append(stmts, strings.Join(strs(get(s, "Action")), ",")+" on "+strings.Join(strs(get(s, "Resource")), " "))
					}
				}
			}
			if diff := cmp.Diff([]string{"secretsmanager:GetSecretValue on " + secretArn}, stmts); diff != "" {
				t.Errorf("task role statements (-want +got):\n%s", diff)
			}
			if got, want := render(get(c, "LogConfiguration", "LogDriver")), "awslogs"; got != want {
				t.Errorf("log driver = %s, want %s", got, want)
			}
		})
	}
}

func TestPrivateEcrImageIsPulledThroughItsRepository(t *testing.T) {
	// given qa, which has no NAT and an image in private ECR
	st := envs["qa"].Network.Stack
	task := resources(t, st, "AWS::ECS::TaskDefinition")[0].Props
	image := render(get(task["ContainerDefinitions"].([]any)[0], "Image"))
	if want := "123456789012.dkr.ecr.eu-west-1." + "${AWS::URLSuffix}" + "/stagehand/sample-backend:1.4.2"; image != want {
		t.Errorf("image = %s, want %s", image, want)
	}
	// then the execution role may pull from exactly that repository
	var pull []string
	for _, p := range resources(t, st, "AWS::IAM::Policy") {
		for _, s := range get(p.Props, "PolicyDocument", "Statement").([]any) {
			if strings.Contains(render(get(s, "Action")), "ecr:BatchGetImage") {
				pull = append(pull, strs(get(s, "Resource"))...)
			}
		}
	}
	if diff := cmp.Diff([]string{"arn:aws:ecr:eu-west-1:123456789012:repository/stagehand/sample-backend"}, pull); diff != "" {
		t.Errorf("ECR pull resources (-want +got):\n%s", diff)
	}
}

func TestVpcLinkTargetsTheLoadBalancer(t *testing.T) {
	nw := envs["dev"].Network
	links := resources(t, nw.Stack, "AWS::ApiGateway::VpcLink")
	if len(links) != 1 {
		t.Fatalf("got %d VPC links, want 1", len(links))
	}
	want := []string{"${" + logicalID(t, nw.Stack, nw.LoadBalancer) + "}"}
	if diff := cmp.Diff(want, strs(links[0].Props["TargetArns"])); diff != "" {
		t.Errorf("VPC link targets (-want +got):\n%s", diff)
	}
}

func sortStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
