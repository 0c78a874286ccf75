package jwtverify

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/stagehand-dev/stagehand/internal/clock"
)

// TestHS256SecretPerIssuer (issue 12 item 7): each HS256 issuer verifies
// with its own secret only, so whoever holds issuer A's secret cannot mint
// a token that passes as issuer B's; two issuers with the same secret are
// refused at construction.
func TestHS256SecretPerIssuer(t *testing.T) {
	const issA, issB = "https://a.example.com/", "https://b.example.com/"
	secretA := []byte("A123456789abcdef0123456789abcdef")
	secretB := []byte("B123456789abcdef0123456789abcdef")
	mint := func(secret []byte, issuer string) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"iss": issuer, "aud": aud, "sub": "c1", "iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix(),
		}).SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	ctx := context.Background()
	issuers := []Issuer{{Issuer: issA, Audiences: []string{aud}, HS256: true}, {Issuer: issB, Audiences: []string{aud}, HS256: true}}
	v, err := New(ctx, issuers, WithClock(clock.NewVirtual(t0)),
		WithIssuerHS256Secret(issA, secretA), WithIssuerHS256Secret(issB, secretB))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		token  string
		wantOK bool
	}{
		{"A's token, A's secret", mint(secretA, issA), true},
		{"B's token, B's secret", mint(secretB, issB), true},
		{"B's token minted with A's secret", mint(secretA, issB), false},
		{"A's token minted with B's secret", mint(secretB, issA), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(ctx, tc.token)
			if (err == nil) != tc.wantOK {
				t.Fatalf("error %v, want ok=%v", err, tc.wantOK)
			}
		})
	}

	refused := []struct {
		name string
		opts []Option
		want error
	}{
		{"same secret twice", []Option{WithIssuerHS256Secret(issA, secretA), WithIssuerHS256Secret(issB, secretA)}, ErrSharedSecret},
		{"one default secret for two issuers", []Option{WithHS256Secret(secretA)}, ErrSharedSecret},
		{"default equal to an issuer's own", []Option{WithIssuerHS256Secret(issA, secretA), WithHS256Secret(secretA)}, ErrSharedSecret},
		{"one issuer without a secret", []Option{WithIssuerHS256Secret(issA, secretA)}, ErrInvalidIssuerCf},
		{"secret for an unknown issuer", []Option{WithIssuerHS256Secret(issA, secretA), WithIssuerHS256Secret(issB, secretB), WithIssuerHS256Secret("https://c/", []byte("C123456789abcdef0123456789abcdef"))}, ErrInvalidIssuerCf},
		{"short secret", []Option{WithIssuerHS256Secret(issA, secretA), WithIssuerHS256Secret(issB, []byte("short"))}, ErrInvalidIssuerCf},
	}
	for _, tc := range refused {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			if _, err := New(ctx, issuers, tc.opts...); !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}
