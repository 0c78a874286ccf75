package stacks

import (
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/stagehand-dev/stagehand/cdk/config"
)

// ErrLambdaBinaryMissing is returned when a function's bootstrap binary is
// not in the asset root; run `make lambdas`.
var ErrLambdaBinaryMissing = errors.New("lambda binary missing")

// Environment is every stack of one environment.
type Environment struct {
	Config  *config.Config
	Network *NetworkStack
	Shared  *SharedStack
	// Apis is keyed by colour.
	Apis map[string]*ApiStack
	// Domain is nil unless the config has a domain and a certificate.
	Domain *DomainStack
}

// Stacks lists the environment's stacks in dependency order.
func (e *Environment) Stacks() []awscdk.Stack {
	out := []awscdk.Stack{e.Shared.Stack, e.Network.Stack}
	for _, c := range Colours {
		out = append(out, e.Apis[c].Stack)
	}
	if e.Domain != nil {
		out = append(out, e.Domain.Stack)
	}
	return out
}

// BuildEnvironment validates cfg and adds the environment's stacks to app:
// Shared-<env>, Network-<env>, Api-<env>-blue, Api-<env>-green and, when
// configured, Domain-<env>. A construct error raised by the CDK (a jsii
// panic) is returned as an error.
func BuildEnvironment(app awscdk.App, cfg *config.Config) (env *Environment, err error) {
	if cfg == nil {
		return nil, fmt.Errorf("build environment: %w: nil config", config.ErrInvalid)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("build environment %s: %w", cfg.Env, err)
	}
	defer func() {
		if r := recover(); r != nil {
			env, err = nil, fmt.Errorf("build environment %s: CDK construct error: %v", cfg.Env, r)
		}
	}()

	props := func(description string, protect bool) awscdk.StackProps {
		p := awscdk.StackProps{
			Description:           jsii.String(description),
			TerminationProtection: jsii.Bool(protect),
			Tags:                  &map[string]*string{TagEnv: jsii.String(cfg.Env)},
		}
		if cfg.Pinned() {
			p.Env = &awscdk.Environment{Account: jsii.String(cfg.Account), Region: jsii.String(cfg.Region)}
		}
		return p
	}

	env = &Environment{Config: cfg, Apis: map[string]*ApiStack{}}
	env.Shared, err = NewSharedStack(app, stackName("Shared", cfg.Env), &SharedStackProps{
		StackProps: props("stagehand "+cfg.Env+": registry, usage plans, Lambdas, event wiring, alarms (long-lived)", cfg.TerminationProtection),
		Config:     cfg,
	})
	if err != nil {
		return nil, fmt.Errorf("build environment %s: %w", cfg.Env, err)
	}
	env.Network = NewNetworkStack(app, stackName("Network", cfg.Env), &NetworkStackProps{
		StackProps: props("stagehand "+cfg.Env+": VPC, ECS Fargate service, internal NLB, VPC Link", cfg.TerminationProtection),
		Config:     cfg,
	})
	// Network reads the secret's ARN and the colours read the authorizer,
	// VPC Link and NLB from stable SSM parameters (wiring.go): no
	// CloudFormation export ties them together. The dependencies below only
	// order deploys (`cdk deploy --all`): the parameters exist before a
	// stack that reads them is deployed.
	env.Network.AddDependency(env.Shared.Stack, jsii.String("reads the origin-verify secret ARN parameter"))
	for _, colour := range Colours {
		env.Apis[colour] = NewApiStack(app, stackName("Api", cfg.Env, colour), &ApiStackProps{
			StackProps: props("stagehand "+cfg.Env+": REST API, "+colour, false),
			Config:     cfg,
			Colour:     colour,
		})
		env.Apis[colour].AddDependency(env.Shared.Stack, jsii.String("reads the authorizer ARN parameter"))
		env.Apis[colour].AddDependency(env.Network.Stack, jsii.String("reads the VPC Link and NLB parameters"))
	}
	if cfg.HasDomain() {
		env.Domain = NewDomainStack(app, stackName("Domain", cfg.Env), &DomainStackProps{
			StackProps: props("stagehand "+cfg.Env+": custom domain (base path mapping owned by stagehand cutover)", cfg.TerminationProtection),
			Config:     cfg,
		})
	}
	return env, nil
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
