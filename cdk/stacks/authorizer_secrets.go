package stacks

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/stagehand-dev/stagehand/cdk/config"
	"github.com/stagehand-dev/stagehand/internal/auth"
)

// grantHS256Secrets lets the authorizer read each HS256 issuer's own
// secret (issuers[].hs256SecretArn in the authorizer settings): one
// statement, secretsmanager:GetSecretValue — the one call the authorizer
// makes, once per issuer at cold start — on exactly those ARNs. Nothing is
// granted when no issuer uses HS256. The settings were validated with the
// config (complete ARNs, one per issuer, none shared). A secret encrypted
// with a customer managed KMS key also needs kms:Decrypt for the
// authorizer role in that key's policy, which lives with the secret.
func (ss *SharedStack) grantHS256Secrets(cfg *config.Config) error {
	s, err := auth.ParseSettings(cfg.Authorizer)
	if err != nil {
		return fmt.Errorf("authorizer settings: %w", err)
	}
	arns := s.HS256SecretARNs()
	if len(arns) == 0 {
		return nil
	}
	ss.Roles[FnAuthorizer].AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("ReadIssuerHS256Secrets"),
		Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
		Resources: jsii.Strings(arns...),
	}))
	return nil
}
