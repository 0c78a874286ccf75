package keys_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stagehand-dev/stagehand/internal/keys"
)

// FuzzValidate checks that Validate never panics, that anything it accepts
// is a key whose checksum an independent CRC-32 confirms, and that its view
// of a key's shape agrees with Pattern.
func FuzzValidate(f *testing.F) {
	for _, k := range validKeys(f) {
		f.Add(k)
		f.Add(k[:len(k)-1] + "0")    // checksum mismatch (or, rarely, valid)
		f.Add(k[:len(k)-1])          // one short
		f.Add(strings.ToUpper(k))    // shape broken
		f.Add(k[:10] + "-" + k[11:]) // bad character
	}
	for _, s := range []string{"", "sh_", "sh__", "sh_dev_", "sh_a_" + strings.Repeat("0", 38), "sh_\xff\xfe_" + strings.Repeat("z", 38)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		env, err := keys.Validate(key)
		if err != nil {
			if !errors.Is(err, keys.ErrMalformed) && !errors.Is(err, keys.ErrChecksum) {
				t.Fatalf("Validate(%q) = %v, want ErrMalformed or ErrChecksum", key, err)
			}
			if env != "" {
				t.Fatalf("Validate(%q) returned env %q with an error", key, env)
			}
			if got, want := anchored.MatchString(key), errors.Is(err, keys.ErrChecksum); got != want {
				t.Fatalf("Validate(%q) = %v but Pattern match = %v", key, err, got)
			}
			if keys.ValidateFor(key, "dev") == nil {
				t.Fatalf("ValidateFor accepts %q, which Validate rejects", key)
			}
			return
		}
		if !keys.ValidEnv(env) || !strings.HasPrefix(key, "sh_"+env+"_") {
			t.Fatalf("Validate(%q) returned env %q that is not the key's", key, env)
		}
		if !independentCheck(key) {
			t.Fatalf("Validate accepted %q but its checksum does not match", key)
		}
		if !anchored.MatchString(key) {
			t.Fatalf("Validate accepted %q, which Pattern does not match", key)
		}
		if err := keys.ValidateFor(key, env); err != nil {
			t.Fatalf("ValidateFor(%q, %q) = %v", key, env, err)
		}
		if p := keys.DisplayPrefix(key); !strings.HasPrefix(key, strings.TrimSuffix(p, "…")) || p == "" {
			t.Fatalf("DisplayPrefix(%q) = %q", key, p)
		}
	})
}
