package jwtverify

import (
	"encoding/json"
	"strings"
	"testing"
)

// validJSONCases: every branch of validJSON, accepted and refused. The
// expected answer is json.Valid's, checked alongside.
var validJSONCases = []string{
	// accepted
	`{}`, ` { } `, "\t\r\n[]\n", `0`, `-0`, `12.5e+3`, `1E-2`, `-1.0e9`, `"x"`, `true`, `false`, `null`,
	`{"a":1,"b":[true,false,null,{"c":"d"}],"e":{}}`, `[[],[[]],{}]`, `"\" \\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00"`,
	"\"\xff\xfe invalid UTF-8 is not json.Valid's concern\"", `{"iss":"https://issuer.example.com/","exp":1700000000}`,
	strings.Repeat("[", 300) + strings.Repeat("]", 300), // deeper than the inline stack
	// refused
	``, ` `, `{`, `}`, `[`, `]`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `{"a":1 "b":2}`, `{1:2}`,
	`{"a":1]`, `[1}`, `01`, `-`, `-a`, `1.`, `1.e5`, `1e`, `1e+`, `.5`, `+1`, `0x10`, `tru`, `truex`, `nul`, `nulll`,
	`"abc`, `"\x"`, `"\u12"`, `"\u12g4"`, "\"tab\there\"", "\"nl\nhere\"", `"a" "b"`, `{} {}`, `1 2`, `"\`,
	strings.Repeat("[", 300) + strings.Repeat("]", 299), strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
}

func TestValidJSON(t *testing.T) {
	accepted := 0
	for _, in := range validJSONCases {
		want := json.Valid([]byte(in))
		if want {
			accepted++
		}
		name := in
		if len(name) > 40 {
			name = name[:40] + "…"
		}
		t.Run(name, func(t *testing.T) {
			if got := validJSON([]byte(in)); got != want {
				t.Fatalf("validJSON(%q) = %v, json.Valid says %v", in, got, want)
			}
		})
	}
	if accepted == 0 || accepted == len(validJSONCases) {
		t.Fatalf("the cases must hold both valid and invalid JSON (%d of %d valid)", accepted, len(validJSONCases))
	}
}

// FuzzValidJSONMatchesStdlib: validJSON answers as json.Valid on any input
// (go test -fuzz FuzzValidJSONMatchesStdlib ./internal/auth/jwtverify).
func FuzzValidJSONMatchesStdlib(f *testing.F) {
	for _, in := range validJSONCases {
		f.Add([]byte(in))
	}
	for _, tc := range claimSetCases {
		f.Add([]byte(tc.payload))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}

func BenchmarkValidJSON(b *testing.B) {
	payload := []byte(`{"iss":"https://issuer.example.com/","sub":"client-1234","aud":["orders-api","billing"],` +
		`"exp":1700003600,"nbf":1700000000,"iat":1700000000,"jti":"jti-100001","scope":"orders:read orders:write",` +
		`"tenant":{"id":"t-1","tier":"gold"}}`)
	b.Run("stdlib", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			if !json.Valid(payload) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("validJSON", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			if !validJSON(payload) {
				b.Fatal("invalid")
			}
		}
	})
}
