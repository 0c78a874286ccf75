// Command cdk is stagehand's AWS CDK app. cdk.json runs it (`go run ./cdk`)
// for `cdk synth` and `cdk deploy`:
//
//	npx cdk synth                      # default environment (dev)
//	npx cdk synth -c env=prod          # another environment
//	npx cdk synth -c lambdaAssetRoot=DIR
//	npx cdk synth -c configFile=path/to/extra.json
//
// It loads cdk/config/<env>.json, builds the environment's stacks, runs
// cdk-nag's AwsSolutions checks and exits non-zero when synthesis reports
// an error (a cdk-nag finding included). It needs no AWS credentials.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/stagehand-dev/stagehand/cdk/config"
	"github.com/stagehand-dev/stagehand/cdk/stacks"
)

func main() {
	err := run()
	jsii.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "stagehand cdk:", err)
		os.Exit(1)
	}
}

func run() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("synth: %v", r)
		}
	}()
	app := awscdk.NewApp(nil)
	cfg, err := loadConfig(app)
	if err != nil {
		return err
	}
	stacks.AddNagChecks(app, contextString(app, "nagVerbose") == "true")
	if _, err := stacks.BuildEnvironment(app, cfg); err != nil {
		return err
	}
	return stacks.SynthErrors(app.Synth(nil))
}

// loadConfig picks the configuration from the context: configFile (a path)
// or env (an embedded environment, default dev); lambdaAssetRoot overrides
// the config's asset root.
func loadConfig(app awscdk.App) (*config.Config, error) {
	var (
		cfg *config.Config
		err error
	)
	if path := contextString(app, "configFile"); path != "" {
		cfg, err = config.LoadFile(path)
	} else {
		env := contextString(app, "env")
		if env == "" {
			env = "dev"
		}
		cfg, err = config.Load(env)
	}
	if err != nil {
		return nil, err
	}
	if root := contextString(app, "lambdaAssetRoot"); root != "" {
		cfg.LambdaAssetRoot = root
	}
	return cfg, nil
}

// contextString returns a context value as a string ("" when unset).
func contextString(app awscdk.App, key string) string {
	v := app.Node().TryGetContext(jsii.String(key))
	if v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}
