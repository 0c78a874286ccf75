package config

import (
	"regexp"
	"strings"
)

// Portal configures the operator console and customer portal: one Lambda
// function behind its own REST API on its own custom domain, signing users
// in with OpenID Connect against a Cognito user pool the stack creates or
// an external issuer.
type Portal struct {
	// DomainName and CertificateArn (a regional ACM certificate for it) are
	// the UIs' custom domain; required, since the pages use absolute paths
	// and the OIDC redirect URL must be known at synth time.
	DomainName     string `json:"domainName"`
	CertificateArn string `json:"certificateArn"`
	// WebACLArn, when set, associates a WAFv2 web ACL with the stage.
	WebACLArn string `json:"webAclArn,omitempty"`
	// Cognito, when set, creates a user pool with a hosted UI (domain
	// prefix), an app client (authorization code + PKCE, no client secret)
	// and the operator group. Otherwise Issuer and ClientID name an
	// external OpenID provider; its client secret goes into the portal
	// secret (see docs/console.md).
	Cognito  *PortalCognito `json:"cognito,omitempty"`
	Issuer   string         `json:"issuer,omitempty"`
	ClientID string         `json:"clientId,omitempty"`
	// GroupsClaim is the ID token claim listing groups (default
	// cognito:groups) and OperatorGroup the group of operators (default
	// stagehand-operators).
	GroupsClaim   string `json:"groupsClaim,omitempty"`
	OperatorGroup string `json:"operatorGroup,omitempty"`
	// APIURL is the customer-facing API's URL shown in the portal's
	// examples (default https://<domainName of the API>).
	APIURL                 string   `json:"apiUrl,omitempty"`
	Throttle               Throttle `json:"throttle"`
	AccessLogRetentionDays int      `json:"accessLogRetentionDays"`
	Function               Function `json:"function"`
}

// PortalCognito configures the user pool the stack creates.
type PortalCognito struct {
	// DomainPrefix is the hosted UI's prefix (<prefix>.auth.<region>.amazoncognito.com).
	DomainPrefix string `json:"domainPrefix"`
}

// PortalGroupsClaim and PortalOperatorGroup are the defaults.
const (
	PortalGroupsClaim   = "cognito:groups"
	PortalOperatorGroup = "stagehand-operators"
)

var domainPrefixPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

func (c *Config) validatePortal(v *validator) {
	p := c.Portal
	if p == nil {
		return
	}
	if p.DomainName == "" || !strings.Contains(p.DomainName, ".") {
		v.add("portal.domainName", "must be a domain name, got %q", p.DomainName)
	}
	if !strings.HasPrefix(p.CertificateArn, "arn:aws") || !strings.Contains(p.CertificateArn, ":acm:") {
		v.add("portal.certificateArn", "must be an ACM certificate ARN, got %q", p.CertificateArn)
	}
	if p.WebACLArn != "" && !strings.Contains(p.WebACLArn, ":wafv2:") {
		v.add("portal.webAclArn", "must be a WAFv2 web ACL ARN, got %q", p.WebACLArn)
	}
	switch {
	case p.Cognito != nil && p.Issuer != "":
		v.add("portal.issuer", "set either cognito or issuer, not both")
	case p.Cognito != nil:
		if !domainPrefixPattern.MatchString(p.Cognito.DomainPrefix) || strings.Contains(p.Cognito.DomainPrefix, "aws") {
			v.add("portal.cognito.domainPrefix", "must be 1-63 of a-z, 0-9 and '-', without 'aws', got %q", p.Cognito.DomainPrefix)
		}
	case !strings.HasPrefix(p.Issuer, "https://"):
		v.add("portal.issuer", "must be an https issuer URL (or set cognito), got %q", p.Issuer)
	case p.ClientID == "":
		v.add("portal.clientId", "is required with an external issuer")
	}
	// Cognito lets a user write their own custom attributes (unless the app
	// client's write attributes exclude them), and an external issuer may
	// copy them into the ID token: a group claim from one would let a user
	// make themself an operator.
	if strings.HasPrefix(strings.ToLower(p.GroupsClaim), "custom:") {
		v.add("portal.groupsClaim", "must not be a custom: attribute (users can write those), got %q", p.GroupsClaim)
	}
	if p.Throttle.RateLimit <= 0 || p.Throttle.BurstLimit <= 0 {
		v.add("portal.throttle", "rateLimit and burstLimit must be positive")
	}
	if p.AccessLogRetentionDays <= 0 {
		v.add("portal.accessLogRetentionDays", "must be positive")
	}
	if p.Function.MemoryMiB < 128 || p.Function.TimeoutSeconds < 1 || p.Function.TimeoutSeconds > 29 {
		v.add("portal.function", "needs memoryMiB ≥ 128 and timeoutSeconds 1-29 (API Gateway's integration timeout)")
	}
}

// PortalGroups returns the groups claim and operator group, defaults
// applied.
func (p *Portal) PortalGroups() (claim, group string) {
	claim, group = p.GroupsClaim, p.OperatorGroup
	if claim == "" {
		claim = PortalGroupsClaim
	}
	if group == "" {
		group = PortalOperatorGroup
	}
	return claim, group
}
