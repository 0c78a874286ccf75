package keys_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/keys"
)

// TestSecretNeverPrintsPlaintext formats a Secret every way a careless
// caller might and checks that the output shows the display prefix but no
// part of the secret beyond it.
func TestSecretNeverPrintsPlaintext(t *testing.T) {
	v := loadVectors(t)[0]
	rnd, err := hex.DecodeString(v.RandHex)
	if err != nil {
		t.Fatal(err)
	}
	s, err := keys.NewGenerator(keys.WithRand(bytes.NewReader(rnd))).New(v.Env)
	if err != nil {
		t.Fatal(err)
	}
	// Everything after the 4 characters the display prefix shows.
	hidden := s.Plaintext[len("sh_dev_")+4:]

	slogJSON := func(args ...any) string {
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("key created", args...)
		return buf.String()
	}
	slogText := func(args ...any) string {
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Info("key created", args...)
		return buf.String()
	}
	mustJSON := func(x any) string {
		b, err := json.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	type response struct {
		Secret keys.Secret
		Note   string
	}

	tests := []struct {
		name string
		out  string
	}{
		{name: "%v", out: fmt.Sprintf("%v", s)},
		{name: "%s", out: fmt.Sprintf("%s", s)},
		{name: "%+v", out: fmt.Sprintf("%+v", s)},
		{name: "%#v", out: fmt.Sprintf("%#v", s)},
		{name: "%q", out: fmt.Sprintf("%q", s)},
		{name: "%x", out: fmt.Sprintf("%x", s)},
		{name: "%d", out: fmt.Sprintf("%d", s)},
		{name: "pointer %v", out: fmt.Sprintf("%v", &s)},
		{name: "pointer %+v", out: fmt.Sprintf("%+v", &s)},
		{name: "in a slice", out: fmt.Sprintf("%v", []keys.Secret{s})},
		{name: "in a struct %+v", out: fmt.Sprintf("%+v", response{Secret: s})},
		{name: "in a struct %#v", out: fmt.Sprintf("%#v", response{Secret: s})},
		{name: "String", out: s.String()},
		{name: "Sprint", out: fmt.Sprint(s)},
		{name: "error wrap", out: fmt.Errorf("creating %v: boom", s).Error()},
		{name: "slog JSON attr", out: slogJSON("secret", s)},
		{name: "slog JSON pointer", out: slogJSON("secret", &s)},
		{name: "slog JSON slog.Any", out: slogJSON(slog.Any("secret", s))},
		{name: "slog JSON nested struct", out: slogJSON("resp", response{Secret: s})},
		{name: "slog text", out: slogText("secret", s)},
		{name: "json.Marshal", out: mustJSON(s)},
		{name: "json.Marshal pointer", out: mustJSON(&s)},
		{name: "json.Marshal nested", out: mustJSON(response{Secret: s})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.out, hidden) || strings.Contains(tc.out, s.Plaintext) {
				t.Fatalf("output leaks the secret: %s", tc.out)
			}
			if !strings.Contains(tc.out, s.DisplayPrefix) {
				t.Errorf("output %q does not show the display prefix %q", tc.out, s.DisplayPrefix)
			}
		})
	}
}

func TestSecretLogValueAndJSON(t *testing.T) {
	v := loadVectors(t)[1]
	s := keys.Secret{Plaintext: v.Key, Env: v.Env, ID: v.ID, DisplayPrefix: v.DisplayPrefix}

	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("created", "secret", s)
	var logged struct {
		Secret map[string]string `json:"secret"`
	}
	if err := json.Unmarshal(buf.Bytes(), &logged); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	want := map[string]string{"id": v.ID, "env": v.Env, "displayPrefix": v.DisplayPrefix}
	if diff := cmp.Diff(want, logged.Secret); diff != "" {
		t.Errorf("logged secret (-want +got):\n%s", diff)
	}

	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var encoded map[string]string
	if err := json.Unmarshal(b, &encoded); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, encoded); diff != "" {
		t.Errorf("json.Marshal (-want +got):\n%s", diff)
	}
}
