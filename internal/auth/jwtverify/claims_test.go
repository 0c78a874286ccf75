package jwtverify

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
)

// claimSetCases are claims payloads whose decoding by claimSet must match
// jwt.MapClaims exactly.
var claimSetCases = []struct {
	name    string
	payload string
}{
	{"typical", `{"iss":"https://auth.example.com/","aud":"https://api.example.com","sub":"c1","client_id":"c1","iat":1768046000,"nbf":1768046000,"exp":1768049600,"jti":"j1","scope":"orders:read orders:write","tenant_tier":"gold"}`},
	{"empty object", `{}`},
	{"white space everywhere", " \t\n{ \"exp\" :\r 1768049600 , \"aud\" : [ \"a\" , \"b\" ] }\n "},
	{"null payload", `null`},
	{"array payload", `[{"exp":1}]`},
	{"string payload", `"exp"`},
	{"number payload", `17`},
	{"duplicate claim: last wins", `{"exp":1,"iss":"a","exp":1768049600,"iss":"b"}`},
	{"escaped claim name", `{"\u0065xp":1768049600,"i\u0073s":"x","\"q\"":1}`},
	{"escaped name duplicates plain name", `{"exp":1,"\u0065xp":2}`},
	{"upper-case names are other claims", `{"EXP":1768049600,"Iss":"x","AUD":"a"}`},
	{"invalid UTF-8 in a name", "{\"a\xffb\":1,\"\xff\":2}"},
	{"invalid UTF-8 in a value", "{\"sub\":\"a\xffb\",\"scope\":\"\xc3\"}"},
	{"escapes in values", `{"sub":"a\"b\\c\/d\u00e9\ud83d\ude00","aud":["x\u0041"]}`},
	{"lone surrogate", `{"sub":"\ud800x"}`},
	{"fractional dates", `{"exp":1768049600.75,"iat":1768046000.5,"nbf":-1.25}`},
	{"exponent dates", `{"exp":1.7680496e9,"iat":17680460E+2,"nbf":1e-3}`},
	{"zero and negative zero dates", `{"exp":0,"nbf":-0,"iat":0.0}`},
	{"long integer date", `{"exp":12345678901234567890123}`},
	{"dates of the wrong type", `{"exp":"1768049600","nbf":true,"iat":null}`},
	{"date as array", `{"exp":[1768049600],"nbf":{"v":1}}`},
	{"number overflow at top level", `{"exp":1768049600,"big":1e400}`},
	{"number overflow nested", `{"x":{"y":[1,2,{"z":-1e999}]}}`},
	{"number overflow without exponent", `{"x":` + strings.Repeat("9", 309) + `}`},
	{"very long number that fits", `{"x":` + strings.Repeat("9", 300) + `}`},
	{"tiny number underflows to zero", `{"exp":1e-400,"x":0.` + strings.Repeat("0", 400) + `1}`},
	{"audience list", `{"aud":["a","b","c"]}`},
	{"audience empty list", `{"aud":[]}`},
	{"audience list with a number", `{"aud":["a",1]}`},
	{"audience list with null", `{"aud":[null]}`},
	{"audience list nested", `{"aud":[["a"]]}`},
	{"audience number", `{"aud":42}`},
	{"audience null", `{"aud":null}`},
	{"audience object", `{"aud":{"a":"b"}}`},
	{"issuer and subject of the wrong type", `{"iss":1,"sub":null}`},
	{"issuer and subject arrays", `{"iss":["a"],"sub":{"a":1}}`},
	{"booleans and null", `{"t":true,"f":false,"n":null}`},
	{"nested structures", `{"scp":["a","b",3,null,true,{"k":[]}],"o":{"a":{"b":{}}},"e":[]}`},
	{"strings holding brackets", `{"a":"}]{[,:\"","b":["]",{"}":"{"}],"exp":1768049600}`},
	{"deep nesting", `{"d":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `,"exp":5}`},
}

// mapClaims decodes payload as golang-jwt does for jwt.MapClaims.
func mapClaims(payload []byte) (jwt.MapClaims, error) {
	c := jwt.MapClaims{}
	err := json.Unmarshal(payload, &c)
	return c, err
}

// decodeClaimSet decodes payload as golang-jwt does for a custom claims
// type (json.Unmarshal into the jwt.Claims interface).
func decodeClaimSet(payload []byte) (*claimSet, error) {
	cs := &claimSet{}
	var claims jwt.Claims = cs
	err := json.Unmarshal(payload, &claims)
	return cs, err
}

type getterResult struct {
	Date   *jwt.NumericDate
	List   jwt.ClaimStrings
	String string
	Err    string
	Type   bool // errors.Is(err, jwt.ErrInvalidType)
}

func result(d *jwt.NumericDate, l jwt.ClaimStrings, s string, err error) getterResult {
	r := getterResult{Date: d, List: l, String: s}
	if err != nil {
		r.Err, r.Type = err.Error(), errors.Is(err, jwt.ErrInvalidType)
	}
	return r
}

// getters reads every jwt.Claims getter.
func getters(c jwt.Claims) map[string]getterResult {
	out := map[string]getterResult{}
	d, err := c.GetExpirationTime()
	out["exp"] = result(d, nil, "", err)
	d, err = c.GetNotBefore()
	out["nbf"] = result(d, nil, "", err)
	d, err = c.GetIssuedAt()
	out["iat"] = result(d, nil, "", err)
	l, err := c.GetAudience()
	out["aud"] = result(nil, l, "", err)
	s, err := c.GetIssuer()
	out["iss"] = result(nil, nil, s, err)
	s, err = c.GetSubject()
	out["sub"] = result(nil, nil, s, err)
	return out
}

// (Claim values are compared with reflect.DeepEqual: cmp.Diff is slow on
// deeply nested values, which the fuzzer produces.)

// compareWithMapClaims fails t unless claimSet and jwt.MapClaims agree on
// payload: both reject it, or both accept it with the same getters, the
// same value for every claim and the same full map.
func compareWithMapClaims(t *testing.T, payload []byte) {
	t.Helper()
	want, wantErr := mapClaims(payload)
	got, gotErr := decodeClaimSet(payload)
	if (wantErr != nil) != (gotErr != nil) {
		t.Fatalf("MapClaims error %v, claimSet error %v", wantErr, gotErr)
	}
	if wantErr != nil {
		return
	}
	if want == nil { // payload null
		want = jwt.MapClaims{}
	}
	if diff := cmp.Diff(getters(want), getters(got)); diff != "" {
		t.Errorf("getters (-MapClaims +claimSet):\n%s", diff)
	}
	names := []string{"exp", "nbf", "iat", "aud", "iss", "sub", "jti", "scope", "scp", "absent", "EXP", ""}
	for name := range want {
		names = append(names, name)
	}
	for _, name := range names {
		wv, wok := want[name]
		gv, gok := got.Claim(name)
		if wok != gok {
			t.Errorf("claim %q present: MapClaims %v, claimSet %v", name, wok, gok)
		}
		if !reflect.DeepEqual(wv, gv) {
			t.Errorf("claim %q: MapClaims %#v, claimSet %#v", name, wv, gv)
		}
		ws, wIsString := wv.(string)
		gs, gIsString := got.stringClaim(name)
		if ws != gs || wIsString != gIsString {
			t.Errorf("stringClaim(%q) = %q, %v; MapClaims holds %#v", name, gs, gIsString, wv)
		}
	}
	m, err := got.Map()
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	if !reflect.DeepEqual(want, m) {
		t.Errorf("Map: MapClaims %#v, claimSet %#v", want, m)
	}
}

func TestClaimSetMatchesMapClaims(t *testing.T) {
	for _, tc := range claimSetCases {
		t.Run(tc.name, func(t *testing.T) {
			compareWithMapClaims(t, []byte(tc.payload))
		})
	}
}

// TestClaimSetRejects: payloads MapClaims rejects are rejected, with a
// reason.
func TestClaimSetRejects(t *testing.T) {
	tests := []struct {
		name    string
		payload string
	}{
		{"array", `[1]`},
		{"string", `"x"`},
		{"number", `1`},
		{"boolean", `true`},
		{"overflowing number", `{"a":1e309}`},
		{"overflowing nested number", `{"a":[{"b":-1e309}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := mapClaims([]byte(tc.payload)); err == nil {
				t.Fatalf("MapClaims accepts %s: the case is wrong", tc.payload)
			}
			if _, err := decodeClaimSet([]byte(tc.payload)); err == nil {
				t.Fatalf("claimSet accepts %s", tc.payload)
			}
		})
	}
}

// TestClaimSetScannerDefensive: called directly with broken JSON (which
// encoding/json never passes), the scanner returns an error, never panics.
func TestClaimSetScannerDefensive(t *testing.T) {
	for _, in := range []string{``, `{`, `{"a"`, `{"a":`, `{"a":1`, `{"a":1,`, `{"a":"x}`, `{"a" 1}`, `{"a":1]`, `{"a":[}`, `{"a":1}x`, `{1:2}`, `{"a":]`, `nullx`, `{"a":1,,"b":2}`} {
		t.Run(fmt.Sprintf("%q", in), func(t *testing.T) {
			if err := (&claimSet{}).UnmarshalJSON([]byte(in)); err == nil {
				t.Fatalf("UnmarshalJSON(%q) accepted broken JSON", in)
			}
		})
	}
}

// FuzzClaimSetMatchesMapClaims: for any payload, claimSet and MapClaims
// agree (go test -fuzz FuzzClaimSetMatchesMapClaims ./internal/auth/jwtverify).
func FuzzClaimSetMatchesMapClaims(f *testing.F) {
	for _, tc := range claimSetCases {
		f.Add([]byte(tc.payload))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		compareWithMapClaims(t, payload)
		_ = (&claimSet{}).UnmarshalJSON(payload) // broken input: no panic
	})
}
