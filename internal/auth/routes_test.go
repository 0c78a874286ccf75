package auth

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
)

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"GET/orders/*", "GET/orders/42", true},
		{"GET/orders/*", "GET/orders/42/lines/1", true}, // * spans "/" as in IAM
		{"GET/orders/*", "GET/orders", false},
		{"GET/orders/*", "POST/orders/42", false},
		{"*/admin/*", "DELETE/admin/users/7", true},
		{"*/admin/*", "GET/x/admin/y", true},
		{"GET/", "GET/", true},
		{"GET/", "GET/health", false},
		{"GET/health", "GET/healthz", false},
		{"*", "", true},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+"~"+tc.s, func(t *testing.T) {
			if got := globMatch(tc.pattern, tc.s); got != tc.want {
				t.Fatalf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
			}
		})
	}
}

func TestParseMethodARN(t *testing.T) {
	tests := []struct {
		name string
		arn  string
		want methodARN
		ok   bool
	}{
		{name: "route", arn: "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/GET/orders/42",
			want: methodARN{prefix: "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/", methodPath: "GET/orders/42"}, ok: true},
		{name: "root", arn: "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/GET/",
			want: methodARN{prefix: "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/", methodPath: "GET/"}, ok: true},
		{name: "gov partition", arn: "arn:aws-us-gov:execute-api:us-gov-west-1:123456789012:abc/v1/POST/x",
			want: methodARN{prefix: "arn:aws-us-gov:execute-api:us-gov-west-1:123456789012:abc/v1/", methodPath: "POST/x"}, ok: true},
		{name: "no method", arn: "arn:aws:execute-api:eu-west-1:1:a/prod/"},
		{name: "no stage", arn: "arn:aws:execute-api:eu-west-1:1:a"},
		{name: "other service", arn: "arn:aws:lambda:eu-west-1:1:a/prod/GET/x"},
		{name: "empty", arn: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseMethodARN(tc.arn)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(methodARN{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestClaimChecks(t *testing.T) {
	claims := map[string]any{"tier": "gold", "groups": []any{"ops", "dev"}, "roles": "reader writer", "level": 3.0, "beta": true}
	tests := []struct {
		name string
		c    ClaimCheck
		want bool
	}{
		{"equals string", ClaimCheck{Claim: "tier", Equals: "gold"}, true},
		{"equals string mismatch", ClaimCheck{Claim: "tier", Equals: "silver"}, false},
		{"equals number", ClaimCheck{Claim: "level", Equals: 3.0}, true},
		{"equals bool", ClaimCheck{Claim: "beta", Equals: true}, true},
		{"number is not its string", ClaimCheck{Claim: "level", Equals: "3"}, false},
		{"contains in array", ClaimCheck{Claim: "groups", Contains: "ops"}, true},
		{"contains missing from array", ClaimCheck{Claim: "groups", Contains: "admin"}, false},
		{"contains word of string", ClaimCheck{Claim: "roles", Contains: "writer"}, true},
		{"contains is not substring", ClaimCheck{Claim: "roles", Contains: "write"}, false},
		{"oneOf", ClaimCheck{Claim: "tier", OneOf: []any{"silver", "gold"}}, true},
		{"oneOf miss", ClaimCheck{Claim: "tier", OneOf: []any{"silver", "bronze"}}, false},
		{"array never equals", ClaimCheck{Claim: "groups", Equals: "ops"}, false},
		{"absent claim", ClaimCheck{Claim: "nope", Equals: "x"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			chk, err := newClaimCheck(tc.c)
			if err != nil {
				t.Fatal(err)
			}
			v, ok := claims[chk.claim]
			if got := chk.passValue(v, ok); got != tc.want {
				t.Fatalf("pass = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPolicyCacheReturnsSamePolicy(t *testing.T) {
	h := newHarness(t)
	secret := h.reg.addKey(t, nil)
	ev := loadEvent(t, "apikey-get-order", secret.Plaintext, "")
	r1, err := h.a.Authorize(context.Background(), &ev)
	if err != nil {
		t.Fatal(err)
	}
	ev2 := loadEvent(t, "apikey-post-orders", secret.Plaintext, "")
	r2, err := h.a.Authorize(context.Background(), &ev2)
	if err != nil {
		t.Fatal(err)
	}
	// Same caller, same stage, another route: the very same cached policy.
	if &r1.PolicyDocument.Statement[0] != &r2.PolicyDocument.Statement[0] {
		t.Errorf("policy rebuilt for the same scope set")
	}
	// The other colour's API gets its own policy.
	ev.MethodArn = strings.Replace(ev.MethodArn, "a1b2c3d4e5", "f6g7h8i9j0", 1)
	r3, err := h.a.Authorize(context.Background(), &ev)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r3.PolicyDocument.Statement[0].Resource[0], "f6g7h8i9j0/prod/") {
		t.Errorf("policy for the green API names %v", r3.PolicyDocument.Statement[0].Resource)
	}
}

func TestParseCredentials(t *testing.T) {
	names := HeaderNames{APIKey: "x-api-key", Token: "authorization"}
	tests := []struct {
		name    string
		headers map[string]string
		multi   map[string][]string
		prefer  bool
		want    Credentials
		wantErr error
	}{
		{name: "api key", headers: map[string]string{"x-api-key": "k"}, want: Credentials{Kind: CredentialAPIKey, Value: "k"}},
		{name: "api key upper case name", headers: map[string]string{"X-API-KEY": "k"}, want: Credentials{Kind: CredentialAPIKey, Value: "k"}},
		{name: "api key only in multi", multi: map[string][]string{"X-Api-Key": {"k"}}, want: Credentials{Kind: CredentialAPIKey, Value: "k"}},
		{name: "bearer", headers: map[string]string{"Authorization": "Bearer a.b.c"}, want: Credentials{Kind: CredentialJWT, Value: "a.b.c"}},
		{name: "bearer lower case, extra spaces", headers: map[string]string{"authorization": "bearer   a.b.c  "}, want: Credentials{Kind: CredentialJWT, Value: "a.b.c"}},
		{name: "both", headers: map[string]string{"x-api-key": "k", "Authorization": "Bearer t"}, wantErr: ErrAmbiguousCredentials},
		{name: "both, prefer jwt", prefer: true, headers: map[string]string{"x-api-key": "k", "Authorization": "Bearer t"}, want: Credentials{Kind: CredentialJWT, Value: "t"}},
		{name: "none", headers: map[string]string{"accept": "*/*"}, wantErr: ErrNoCredentials},
		{name: "nil maps", wantErr: ErrNoCredentials},
		{name: "key twice in multi", multi: map[string][]string{"x-api-key": {"a", "b"}}, wantErr: ErrAmbiguousCredentials},
		{name: "key under two spellings", headers: map[string]string{"x-api-key": "a", "X-Api-Key": "b"}, wantErr: ErrAmbiguousCredentials},
		{name: "maps disagree", headers: map[string]string{"x-api-key": "a"}, multi: map[string][]string{"x-api-key": {"b"}}, wantErr: ErrAmbiguousCredentials},
		{name: "key under two spellings in multi", headers: map[string]string{"X-Api-Key": "b"}, multi: map[string][]string{"x-api-key": {"a"}, "X-Api-Key": {"b"}}, wantErr: ErrAmbiguousCredentials},
		{name: "token twice in multi", headers: map[string]string{"Authorization": "Bearer b.b.b"}, multi: map[string][]string{"Authorization": {"Bearer a.a.a", "Bearer b.b.b"}}, wantErr: ErrAmbiguousCredentials},
		{name: "multi and headers agree", headers: map[string]string{"Authorization": "Bearer a.b.c", "Accept": "*/*"}, multi: map[string][]string{"Authorization": {"Bearer a.b.c"}, "Accept": {"*/*"}}, want: Credentials{Kind: CredentialJWT, Value: "a.b.c"}},
		{name: "multi is the one searched", headers: map[string]string{"Accept": "*/*"}, multi: map[string][]string{"X-API-Key": {"k"}, "Accept": {"*/*"}}, want: Credentials{Kind: CredentialAPIKey, Value: "k"}},
		{name: "empty key", headers: map[string]string{"x-api-key": ""}, wantErr: ErrMalformedCredentials},
		{name: "basic scheme", headers: map[string]string{"Authorization": "Basic dTpw"}, wantErr: ErrMalformedCredentials},
		{name: "bearer without token", headers: map[string]string{"Authorization": "Bearer "}, wantErr: ErrMalformedCredentials},
		{name: "bearer with space inside", headers: map[string]string{"Authorization": "Bearer a b"}, wantErr: ErrMalformedCredentials},
		{name: "bearer with tab", headers: map[string]string{"Authorization": "Bearer\ta.b.c"}, wantErr: ErrMalformedCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := &events.APIGatewayCustomAuthorizerRequestTypeRequest{Headers: tc.headers, MultiValueHeaders: tc.multi}
			n := names
			n.PreferJWT = tc.prefer
			got, err := ParseCredentials(req, n)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseCredentialsDoesNotAllocate(t *testing.T) {
	ev := loadEvent(t, "apikey-get-order", "sh_test_x", "")
	names := HeaderNames{APIKey: "x-api-key", Token: "authorization"}
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseCredentials(&ev, names) }); n != 0 {
		t.Errorf("ParseCredentials allocates %v times", n)
	}
}

func FuzzParseCredentials(f *testing.F) {
	f.Add("x-api-key", "sh_test_abc", "Authorization", "Bearer a.b.c", true)
	f.Add("X-API-KEY", "", "authorization", "bearer    ", false)
	f.Add("x-api-key", "k", "x-api-key", "k2", false)
	f.Add("authorization", "Basic \x00\xff", "Authorization", "Bearer \u00e9", true)
	names := HeaderNames{APIKey: "x-api-key", Token: "authorization"}
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string, multi bool) {
		req := &events.APIGatewayCustomAuthorizerRequestTypeRequest{Headers: map[string]string{k1: v1, k2: v2}}
		if multi {
			req.MultiValueHeaders = map[string][]string{k1: {v1, v2}, k2: {v2}}
		}
		for _, prefer := range []bool{false, true} {
			n := names
			n.PreferJWT = prefer
			c, err := ParseCredentials(req, n)
			if err != nil {
				if c != (Credentials{}) {
					t.Fatalf("credentials %+v returned with error %v", c, err)
				}
				continue
			}
			switch c.Kind {
			case CredentialAPIKey:
				if c.Value == "" {
					t.Fatal("empty API key accepted")
				}
			case CredentialJWT:
				if c.Value == "" || strings.IndexFunc(c.Value, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0 {
					t.Fatalf("bad token %q accepted", c.Value)
				}
			default:
				t.Fatalf("no kind with nil error")
			}
		}
	})
}

// FuzzVerifyToken sends arbitrary bearer tokens (seeded with valid and
// attack tokens) through the whole JWT path: it must never panic, and
// anything it accepts must be a token the issuer really signed.
func FuzzVerifyToken(f *testing.F) {
	h := newHarness(f)
	valid := mint(f, jwt.SigningMethodRS256, testKeys().rsa, "rsa-1", claimsAt(t0))
	f.Add(valid)
	f.Add(valid + "x")
	f.Add(strings.Replace(valid, ".", "..", 1))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Add(strings.Repeat("A", 9000))
	f.Fuzz(func(t *testing.T, tok string) {
		ev := events.APIGatewayCustomAuthorizerRequestTypeRequest{
			MethodArn: testStagePfx + "GET/orders/1",
			Headers:   map[string]string{"Authorization": "Bearer " + tok},
		}
		resp, err := h.a.Handle(context.Background(), ev)
		if err != nil {
			if err != ErrUnauthorized {
				t.Fatalf("error %v, want ErrUnauthorized", err)
			}
			return
		}
		// Accepted: it must be the genuine token (strict base64 decoding
		// leaves no alternative encodings of the same bytes).
		if strings.TrimSpace(tok) != valid {
			t.Fatalf("accepted a token other than the signed one: %q", tok)
		}
		if resp.PrincipalID != testCustomer {
			t.Fatalf("principal %q", resp.PrincipalID)
		}
	})
}

// TestIsJoined: isJoined(s, strings.Fields(s)) says whether s is already
// strings.Join(strings.Fields(s), " ") (then the scope claim itself is the
// principal cache key), for every string of up to four characters drawn
// from letters and ASCII and Unicode white space.
func TestIsJoined(t *testing.T) {
	alphabet := []string{"a", "bc", " ", "\t", "\n", "\v", "\u00a0", "\u3000", "\u0085"}
	var all func(prefix string, n int)
	count := 0
	all = func(prefix string, n int) {
		fields := strings.Fields(prefix)
		want := strings.Join(fields, " ") == prefix
		if got := isJoined(prefix, fields); got != want {
			t.Fatalf("isJoined(%q) = %v, want %v", prefix, got, want)
		}
		count++
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			all(prefix+c, n-1)
		}
	}
	all("", 4)
	if count < 1000 {
		t.Fatalf("only %d strings checked", count)
	}
}
