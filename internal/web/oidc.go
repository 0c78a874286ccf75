package web

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Identity is who signed in, from a verified ID token. Issuer + Subject
// identify the user; Name is for display only.
type Identity struct {
	Issuer  string
	Subject string
	Name    string
	Groups  []string
}

// Authenticator runs the OpenID Connect authorization code flow with PKCE.
type Authenticator interface {
	// AuthCodeURL is where to send the browser to sign in.
	AuthCodeURL(state, nonce, verifier string) string
	// Exchange redeems a code and verifies the ID token (signature, issuer,
	// audience, expiry, nonce).
	Exchange(ctx context.Context, code, verifier, nonce string) (Identity, error)
}

// ErrBadToken: the ID token is missing, invalid or for another sign-in.
var ErrBadToken = errors.New("invalid ID token")

// OIDC is an Authenticator over coreos/go-oidc (discovery, ID token
// verification) and golang.org/x/oauth2 (code exchange, PKCE).
type OIDC struct {
	provider    *oidc.Provider
	conf        oauth2.Config
	verifier    *oidc.IDTokenVerifier
	issuer      string
	groupsClaim string
}

var _ Authenticator = (*OIDC)(nil)

// NewOIDC discovers issuer and returns an Authenticator for the client.
// groupsClaim names the ID token claim that lists the user's groups.
func NewOIDC(ctx context.Context, issuer, clientID, clientSecret, redirectURL, groupsClaim string) (*OIDC, error) {
	p, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		return nil, fmt.Errorf("discover OpenID provider %s: %w", issuer, err)
	}
	return &OIDC{
		provider: p,
		conf: oauth2.Config{ClientID: clientID, ClientSecret: clientSecret, Endpoint: p.Endpoint(),
			RedirectURL: redirectURL, Scopes: []string{oidc.ScopeOpenID, "profile", "email"}},
		verifier:    p.Verifier(&oidc.Config{ClientID: clientID}),
		issuer:      issuer,
		groupsClaim: groupsClaim,
	}, nil
}

// AuthCodeURL implements Authenticator (S256 PKCE challenge).
func (o *OIDC) AuthCodeURL(state, nonce, verifier string) string {
	return o.conf.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
}

// Exchange implements Authenticator.
func (o *OIDC) Exchange(ctx context.Context, code, verifier, nonce string) (Identity, error) {
	tok, err := o.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return Identity{}, fmt.Errorf("exchange code: %w", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		return Identity{}, fmt.Errorf("no id_token in the token response: %w", ErrBadToken)
	}
	idt, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrBadToken, err)
	}
	if idt.Nonce != nonce {
		return Identity{}, fmt.Errorf("nonce mismatch: %w", ErrBadToken)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, fmt.Errorf("%w: claims: %v", ErrBadToken, err)
	}
	id := Identity{Issuer: idt.Issuer, Subject: idt.Subject, Name: displayName(claims)}
	if id.Name == "" {
		// Some issuers keep profile claims out of the ID token when an
		// access token is issued; ask the userinfo endpoint for a name.
		if ui, err := o.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil && ui.Subject == idt.Subject && ui.EmailVerified {
			id.Name = ui.Email
		}
	}
	if id.Name == "" {
		id.Name = idt.Subject
	}
	id.Groups = stringList(claims[o.groupsClaim])
	return id, nil
}

// displayName is the name shown for a user (display only: the audit trail
// uses issuer + subject): a verified email, else preferred_username or
// name. An unverified email is never shown, it proves nothing.
func displayName(claims map[string]any) string {
	if v, ok := claims["email"].(string); ok && v != "" && verified(claims["email_verified"]) {
		return v
	}
	for _, k := range []string{"preferred_username", "name"} {
		if v, ok := claims[k].(string); ok && v != "" {
			return v
		}
	}
	return ""
}

// verified reads email_verified, a boolean or (Cognito) the string "true".
func verified(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case string:
		return t == "true"
	}
	return false
}

// stringList reads a claim that is a list of strings or one string (both
// occur: Cognito's cognito:groups is a list, some issuers send a string).
func stringList(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func hasGroup(id Identity, group string) bool {
	return group != "" && slices.Contains(id.Groups, group)
}
