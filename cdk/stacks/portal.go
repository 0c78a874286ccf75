package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awswafv2"
	"github.com/aws/jsii-runtime-go"

	"github.com/stagehand-dev/stagehand/cdk/config"
	"github.com/stagehand-dev/stagehand/internal/web"
)

// FnPortal is the console and portal function (lambdas/portal).
const FnPortal = "portal"

// PortalStage is the stage of the portal's REST API (hidden behind the
// custom domain's root mapping).
const PortalStage = "ui"

// PortalEventSource is the source of the portal's Plan Change Decided
// events; the function may put events with this source only.
const PortalEventSource = "stagehand.portal"

// Portal is what newPortal builds.
type Portal struct {
	Function awsiam.Role
	API      awsapigateway.RestApi
	Secret   awssecretsmanager.Secret
	UserPool awscognito.UserPool // nil with an external issuer
}

// newPortal builds the console and portal (config portal): the function
// with its own least-privilege role, a secret holding the session key (and
// an external issuer's client secret), a REST API whose every route is a
// Lambda proxy on a custom domain, optionally a WAF association and a
// Cognito user pool with hosted UI.
func (ss *SharedStack) newPortal(cfg *config.Config, tableKey awskms.Key) error {
	p := cfg.Portal
	if p == nil {
		return nil
	}
	asset, err := lambdaAssetDir(cfg.LambdaAssetRoot, FnPortal)
	if err != nil {
		return err
	}
	stack := ss.Stack
	ss.Portal = &Portal{}
	ss.Portal.Secret = awssecretsmanager.NewSecret(stack, jsii.String("PortalSecret"), &awssecretsmanager.SecretProps{
		SecretName:  jsii.String("stagehand/" + cfg.Env + "/portal"),
		Description: jsii.String("stagehand " + cfg.Env + " console and portal: sessionKey (signs and encrypts session cookies) and, with an external issuer, its clientSecret"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			SecretStringTemplate: jsii.String(`{"clientSecret":""}`),
			GenerateStringKey:    jsii.String("sessionKey"),
			PasswordLength:       jsii.Number(64),
			ExcludePunctuation:   jsii.Bool(true),
		},
	})
	suppress(ss.Portal.Secret, false, suppression{
		id:     "AwsSolutions-SMG4",
		reason: "The session key signs and encrypts the UIs' session cookies, which expire after 8 hours; rotating it signs everyone out, so it is rotated by an operator (put a new sessionKey, then redeploy or wait for cold starts) rather than on a schedule. An external issuer's client secret is rotated at that issuer.",
	})

	publicURL := "https://" + p.DomainName
	claim, group := p.PortalGroups()
	issuer, clientID := jsii.String(p.Issuer), jsii.String(p.ClientID)
	if p.Cognito != nil {
		issuer, clientID = ss.newPortalUserPool(cfg, publicURL, group)
	}
	apiURL := p.APIURL
	if apiURL == "" && cfg.DomainName != "" {
		apiURL = "https://" + cfg.DomainName
	}
	env := &map[string]*string{
		web.EnvStage: jsii.String(cfg.Env), web.EnvTable: ss.Table.TableName(), web.EnvPublicURL: jsii.String(publicURL),
		web.EnvIssuer: issuer, web.EnvClientID: clientID, web.EnvGroupsClaim: jsii.String(claim),
		web.EnvOperatorGroup: jsii.String(group), web.EnvSecretARN: ss.Portal.Secret.SecretArn(),
		web.EnvEventSource: jsii.String(PortalEventSource), web.EnvAPIURL: jsii.String(apiURL),
	}
	fn := ss.newFunction(cfg, functionSpec{
		id: "Portal", name: FnPortal, asset: asset, size: p.Function, env: env,
		description: "stagehand " + cfg.Env + " operator console and customer portal",
	})
	role := ss.Roles[FnPortal]
	ss.Portal.Function = role
	// The same registry operations as the key-admin API (reads, the items
	// of its transactions) and the same metering-key calls.
	ss.grantTable(FnPortal, tableKey, dynamoKeyAdminActions, kmsReadWriteActions, []string{TableGSI1, TableGSI2})
	ss.grantKeyAdminControlPlane(cfg, FnPortal)
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
		Resources: jsii.Strings(*ss.Portal.Secret.SecretArn()),
	}))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("events:PutEvents"),
		Resources:  jsii.Strings(*awscdk.Stack_Of(stack).FormatArn(&awscdk.ArnComponents{Service: jsii.String("events"), Resource: jsii.String("event-bus"), ResourceName: jsii.String("default")})),
		Conditions: &map[string]any{"StringEquals": map[string]any{"events:source": PortalEventSource}},
	}))

	logs := awslogs.NewLogGroup(stack, jsii.String("PortalApiAccessLogs"), &awslogs.LogGroupProps{
		Retention:     retention(p.AccessLogRetentionDays),
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	api := awsapigateway.NewRestApi(stack, jsii.String("PortalApi"), &awsapigateway.RestApiProps{
		RestApiName:           jsii.String("stagehand-" + cfg.Env + "-portal"),
		Description:           jsii.String("stagehand " + cfg.Env + " operator console and customer portal"),
		EndpointConfiguration: &awsapigateway.EndpointConfiguration{Types: &[]awsapigateway.EndpointType{awsapigateway.EndpointType_REGIONAL}},
		// Only the custom domain: the pages and the OIDC redirect use it.
		DisableExecuteApiEndpoint: jsii.Bool(true),
		DomainName: &awsapigateway.DomainNameOptions{
			DomainName:     jsii.String(p.DomainName),
			Certificate:    awscertificatemanager.Certificate_FromCertificateArn(stack, jsii.String("PortalCertificate"), jsii.String(p.CertificateArn)),
			EndpointType:   awsapigateway.EndpointType_REGIONAL,
			SecurityPolicy: awsapigateway.SecurityPolicy_TLS_1_2,
		},
		CloudWatchRole: jsii.Bool(false),
		Deploy:         jsii.Bool(true),
		DefaultIntegration: awsapigateway.NewLambdaIntegration(fn, &awsapigateway.LambdaIntegrationOptions{
			Proxy: jsii.Bool(true), AllowTestInvoke: jsii.Bool(false),
		}),
		// The function signs users in (OIDC) and checks the session, role
		// and form token on every request.
		DefaultMethodOptions: &awsapigateway.MethodOptions{AuthorizationType: awsapigateway.AuthorizationType_NONE},
		DeployOptions: &awsapigateway.StageOptions{
			StageName:            jsii.String(PortalStage),
			AccessLogDestination: awsapigateway.NewLogGroupLogDestination(logs),
			AccessLogFormat:      awsapigateway.AccessLogFormat_Custom(jsii.String(jsonAccessLog(nil))),
			TracingEnabled:       jsii.Bool(true),
			LoggingLevel:         awsapigateway.MethodLoggingLevel_ERROR,
			// A data trace would log bodies: new keys' secrets, form tokens.
			DataTraceEnabled:     jsii.Bool(false),
			MetricsEnabled:       jsii.Bool(true),
			ThrottlingRateLimit:  jsii.Number(p.Throttle.RateLimit),
			ThrottlingBurstLimit: jsii.Number(p.Throttle.BurstLimit),
		},
	})
	api.Root().AddMethod(jsii.String("ANY"), nil, nil)
	api.Root().AddProxy(&awsapigateway.ProxyResourceOptions{AnyMethod: jsii.Bool(true)})
	if ss.apiGatewayAccount != nil {
		api.DeploymentStage().Node().AddDependency(ss.apiGatewayAccount)
	}
	ss.Portal.API = api
	rules := []suppression{
		{id: "AwsSolutions-APIG2", reason: "A Lambda proxy integration serving HTML pages and forms: the function validates every form field itself (internal/service) and answers with a page naming the field; a gateway request validator cannot describe form posts."},
		{id: "AwsSolutions-APIG4", reason: "The console and portal sign users in themselves with OpenID Connect (authorization code + PKCE) and check a signed, encrypted session cookie, its role and a per-form token on every request; the sign-in pages must be reachable without credentials, so no gateway authorizer applies."},
		{id: "AwsSolutions-COG4", reason: "Users sign in through the OIDC flow in the function (the Cognito hosted UI or the configured external issuer), not with a Cognito authorizer on the methods: the pages are browser navigations carrying a session cookie, not bearer tokens."},
	}
	if p.WebACLArn != "" {
		awswafv2.NewCfnWebACLAssociation(stack, jsii.String("PortalWebAcl"), &awswafv2.CfnWebACLAssociationProps{
			ResourceArn: api.DeploymentStage().StageArn(),
			WebAclArn:   jsii.String(p.WebACLArn),
		})
	} else {
		rules = append(rules, suppression{id: "AwsSolutions-APIG3", reason: "No portal.webAclArn configured for this environment: the UIs are throttled per stage and every route requires a session; set portal.webAclArn to associate a WAFv2 web ACL (rate-based and managed rules)."})
	}
	suppress(api, true, rules...)
	awscdk.NewCfnOutput(stack, jsii.String("PortalUrl"), &awscdk.CfnOutputProps{Value: jsii.String(publicURL + "/"), Description: jsii.String("console: /console/, portal: /portal/")})
	return nil
}

// newPortalUserPool creates the Cognito user pool (no self sign-up, TOTP
// MFA required), its hosted UI domain, the operator group and a public app
// client (authorization code + PKCE) for the portal; it returns the issuer
// URL and client id.
func (ss *SharedStack) newPortalUserPool(cfg *config.Config, publicURL, group string) (*string, *string) {
	stack := ss.Stack
	pool := awscognito.NewUserPool(stack, jsii.String("PortalUserPool"), &awscognito.UserPoolProps{
		UserPoolName:      jsii.String("stagehand-" + cfg.Env + "-portal"),
		SelfSignUpEnabled: jsii.Bool(false),
		SignInAliases:     &awscognito.SignInAliases{Email: jsii.Bool(true)},
		Mfa:               awscognito.Mfa_REQUIRED,
		MfaSecondFactor:   &awscognito.MfaSecondFactor{Otp: jsii.Bool(true), Sms: jsii.Bool(false)},
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength: jsii.Number(12), RequireDigits: jsii.Bool(true), RequireLowercase: jsii.Bool(true),
			RequireUppercase: jsii.Bool(true), RequireSymbols: jsii.Bool(true),
		},
		AccountRecovery: awscognito.AccountRecovery_EMAIL_ONLY,
		RemovalPolicy:   awscdk.RemovalPolicy_RETAIN,
	})
	suppress(pool, false, suppression{
		id:     "AwsSolutions-COG3",
		reason: "Threat protection (advanced security) is a paid Cognito Plus feature; the pool has no self sign-up, requires TOTP MFA and a 12-character password, and the portal's API is throttled (and WAF-protected with portal.webAclArn).",
	})
	pool.AddDomain(jsii.String("PortalHostedUi"), &awscognito.UserPoolDomainOptions{
		CognitoDomain: &awscognito.CognitoDomainOptions{DomainPrefix: jsii.String(cfg.Portal.Cognito.DomainPrefix)},
	})
	awscognito.NewCfnUserPoolGroup(stack, jsii.String("PortalOperatorGroup"), &awscognito.CfnUserPoolGroupProps{
		UserPoolId:  pool.UserPoolId(),
		GroupName:   jsii.String(group),
		Description: jsii.String("stagehand " + cfg.Env + " operators: may use the console"),
	})
	client := pool.AddClient(jsii.String("PortalClient"), &awscognito.UserPoolClientOptions{
		UserPoolClientName: jsii.String("stagehand-" + cfg.Env + "-portal"),
		GenerateSecret:     jsii.Bool(false),
		OAuth: &awscognito.OAuthSettings{
			Flows:        &awscognito.OAuthFlows{AuthorizationCodeGrant: jsii.Bool(true)},
			Scopes:       &[]awscognito.OAuthScope{awscognito.OAuthScope_OPENID(), awscognito.OAuthScope_EMAIL(), awscognito.OAuthScope_PROFILE()},
			CallbackUrls: jsii.Strings(publicURL + "/auth/callback"),
			LogoutUrls:   jsii.Strings(publicURL + "/"),
		},
		SupportedIdentityProviders: &[]awscognito.UserPoolClientIdentityProvider{awscognito.UserPoolClientIdentityProvider_COGNITO()},
		// Only the hosted UI's code flow signs in: no direct SRP, password
		// or custom auth against the client (ExplicitAuthFlows is then just
		// ALLOW_REFRESH_TOKEN_AUTH).
		AuthFlows: &awscognito.AuthFlow{AdminUserPassword: jsii.Bool(false), Custom: jsii.Bool(false),
			User: jsii.Bool(false), UserPassword: jsii.Bool(false), UserSrp: jsii.Bool(false)},
		// Users may change their display name through the client, never
		// their email (nor any other attribute).
		WriteAttributes:            awscognito.NewClientAttributes().WithStandardAttributes(&awscognito.StandardAttributesMask{Fullname: jsii.Bool(true)}),
		PreventUserExistenceErrors: jsii.Bool(true),
		IdTokenValidity:            awscdk.Duration_Hours(jsii.Number(1)),
	})
	ss.Portal.UserPool = pool
	awscdk.NewCfnOutput(stack, jsii.String("PortalUserPoolId"), &awscdk.CfnOutputProps{Value: pool.UserPoolId()})
	return pool.UserPoolProviderUrl(), client.UserPoolClientId()
}
