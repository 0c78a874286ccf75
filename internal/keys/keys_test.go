package keys_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/keys"
)

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// anchored matches a whole string against keys.Pattern.
var anchored = regexp.MustCompile(`^(?:` + keys.Pattern + `)$`)

// vector is one known-answer test case of testdata/vectors.json, computed by
// an independent implementation of the format (testdata/vectors.py).
type vector struct {
	Name          string `json:"name"`
	Env           string `json:"env"`
	RandHex       string `json:"randHex"`
	Key           string `json:"key"`
	Hash          string `json:"hash"`
	ID            string `json:"id"`
	DisplayPrefix string `json:"displayPrefix"`
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	raw, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	return vs
}

// validKeys returns the known-answer keys: one per environment length class.
func validKeys(t testing.TB) []string {
	var out []string
	for _, v := range loadVectors(t) {
		out = append(out, v.Key)
	}
	return out
}

// independentCheck recomputes a key's checksum without the package's code:
// it decodes the last 6 characters as a base62 number and compares it with
// the standard library's CRC-32 of the rest.
func independentCheck(key string) bool {
	if len(key) < 6 {
		return false
	}
	head, check := key[:len(key)-6], key[len(key)-6:]
	var n uint64
	for i := 0; i < len(check); i++ {
		d := strings.IndexByte(alphabet, check[i])
		if d < 0 {
			return false
		}
		n = n*62 + uint64(d)
	}
	return n == uint64(crc32.ChecksumIEEE([]byte(head)))
}

func TestGeneratorKnownAnswers(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			randBytes, err := hex.DecodeString(v.RandHex)
			if err != nil {
				t.Fatal(err)
			}
			r := bytes.NewReader(randBytes)
			got, err := keys.NewGenerator(keys.WithRand(r)).New(v.Env)
			if err != nil {
				t.Fatalf("New(%q): %v", v.Env, err)
			}
			wantHash, err := keys.ParseHash(v.Hash)
			if err != nil {
				t.Fatal(err)
			}
			want := keys.Secret{Plaintext: v.Key, Env: v.Env, Hash: wantHash, ID: v.ID, DisplayPrefix: v.DisplayPrefix}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("New(%q) mismatch (-want +got):\n%s", v.Env, diff)
			}
			// The vectors hold exactly the random bytes the generator must
			// read (whole chunks); a different read pattern shows here.
			if r.Len() != 0 {
				t.Errorf("generator left %d random bytes unread", r.Len())
			}
			if !independentCheck(got.Plaintext) {
				t.Errorf("checksum of %q does not match an independent CRC-32", got.Plaintext)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	vs := loadVectors(t)
	dev := vs[0].Key // sh_dev_<32><6>
	body := dev[len("sh_dev_") : len(dev)-6]
	check := dev[len(dev)-6:]
	// another checksum: a valid key's check on this key's body
	otherCheck := vs[1].Key[len(vs[1].Key)-6:]

	tests := []struct {
		name    string
		key     string
		wantEnv string
		wantErr error
	}{
		{name: "valid dev", key: dev, wantEnv: "dev"},
		{name: "valid prod", key: vs[1].Key, wantEnv: "prod"},
		{name: "valid staging", key: vs[2].Key, wantEnv: "staging"},
		{name: "valid 16-char env", key: vs[3].Key, wantEnv: "a123456789abcdef"},
		{name: "valid 2-char env", key: vs[4].Key, wantEnv: "qa"},
		{name: "empty", key: "", wantErr: keys.ErrMalformed},
		{name: "prefix only", key: "sh_", wantErr: keys.ErrMalformed},
		{name: "wrong prefix", key: "sk_dev_" + body + check, wantErr: keys.ErrMalformed},
		{name: "upper-case prefix", key: "SH_dev_" + body + check, wantErr: keys.ErrMalformed},
		{name: "no prefix", key: "xx" + "dev_" + body + check, wantErr: keys.ErrMalformed},
		{name: "upper-case env", key: "sh_Dev_" + body + check, wantErr: keys.ErrMalformed},
		{name: "env starts with a digit", key: "sh_1ev_" + body + check, wantErr: keys.ErrMalformed},
		{name: "one-char env", key: "sh_d_" + body + check + "x", wantErr: keys.ErrMalformed},
		{name: "17-char env", key: "sh_a123456789abcdefg_" + body + check, wantErr: keys.ErrMalformed},
		{name: "env with a hyphen", key: "sh_de-v_" + body + check, wantErr: keys.ErrMalformed},
		{name: "missing separator", key: "sh_dev" + body + check + "x", wantErr: keys.ErrMalformed},
		{name: "extra separator", key: "sh_dev__" + body[1:] + check, wantErr: keys.ErrMalformed},
		{name: "body one short", key: "sh_dev_" + body[1:] + check, wantErr: keys.ErrMalformed},
		{name: "body one long", key: "sh_dev_" + body + "a" + check, wantErr: keys.ErrMalformed},
		{name: "missing checksum", key: "sh_dev_" + body, wantErr: keys.ErrMalformed},
		{name: "base64 character in body", key: "sh_dev_" + body[:10] + "+" + body[11:] + check, wantErr: keys.ErrMalformed},
		{name: "hyphen in checksum", key: "sh_dev_" + body + check[:5] + "-", wantErr: keys.ErrMalformed},
		{name: "NUL byte in body", key: "sh_dev_" + body[:31] + "\x00" + check, wantErr: keys.ErrMalformed},
		{name: "high byte in body", key: "sh_dev_" + body[:31] + "\xff" + check, wantErr: keys.ErrMalformed},
		{name: "non-ASCII letter", key: "sh_dev_" + body[:30] + "é" + check, wantErr: keys.ErrMalformed},
		{name: "leading space", key: " " + dev, wantErr: keys.ErrMalformed},
		{name: "trailing newline", key: dev + "\n", wantErr: keys.ErrMalformed},
		{name: "twice", key: dev + dev, wantErr: keys.ErrMalformed},
		{name: "very long", key: strings.Repeat("a", 1<<16), wantErr: keys.ErrMalformed},
		{name: "last character changed", key: dev[:len(dev)-1] + string(alphabet[(strings.IndexByte(alphabet, dev[len(dev)-1])+1)%62]), wantErr: keys.ErrChecksum},
		{name: "first body character changed", key: "sh_dev_" + string(alphabet[(strings.IndexByte(alphabet, body[0])+1)%62]) + body[1:] + check, wantErr: keys.ErrChecksum},
		{name: "another key's checksum", key: "sh_dev_" + body + otherCheck, wantErr: keys.ErrChecksum},
		{name: "env changed, checksum kept", key: "sh_prod_" + body + check, wantErr: keys.ErrChecksum},
		{name: "all zeros", key: "sh_dev_" + strings.Repeat("0", 38), wantErr: keys.ErrChecksum},
		{name: "upper-cased key", key: "sh_dev_" + strings.ToUpper(body) + strings.ToUpper(check), wantErr: keys.ErrChecksum},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, err := keys.Validate(tc.key)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Validate() error = %v, want %v", err, tc.wantErr)
			}
			if env != tc.wantEnv {
				t.Errorf("Validate() env = %q, want %q", env, tc.wantEnv)
			}
			if err != nil && len(tc.key) > 8 && strings.Contains(err.Error(), tc.key[len(tc.key)-8:]) {
				t.Errorf("error %q echoes part of the key", err)
			}
			// Validate and the scanner pattern agree on what has the shape
			// of a key: exactly the checksum errors (and valid keys) match.
			if matched, shaped := anchored.MatchString(tc.key), !errors.Is(err, keys.ErrMalformed); matched != shaped {
				t.Errorf("Pattern match = %v, but Validate error = %v", matched, err)
			}
		})
	}
}

func TestValidateFor(t *testing.T) {
	vs := loadVectors(t)
	dev, prod := vs[0].Key, vs[1].Key
	tests := []struct {
		name    string
		key     string
		env     string
		wantErr error
	}{
		{name: "dev key in dev", key: dev, env: "dev"},
		{name: "prod key in prod", key: prod, env: "prod"},
		{name: "dev key in prod", key: dev, env: "prod", wantErr: keys.ErrWrongEnvironment},
		{name: "prod key in dev", key: prod, env: "dev", wantErr: keys.ErrWrongEnvironment},
		{name: "prefix of the env", key: prod, env: "pro", wantErr: keys.ErrWrongEnvironment},
		{name: "empty env", key: dev, env: "", wantErr: keys.ErrWrongEnvironment},
		{name: "malformed key", key: "sh_dev_x", env: "dev", wantErr: keys.ErrMalformed},
		{name: "mistyped key", key: dev[:len(dev)-1] + "!", env: "dev", wantErr: keys.ErrMalformed},
		{name: "checksum mismatch", key: dev[:7] + prod[8:], env: "dev", wantErr: keys.ErrChecksum},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := keys.ValidateFor(tc.key, tc.env)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("ValidateFor(%q) error = %v, want %v", tc.env, err, tc.wantErr)
			}
			if err != nil && len(tc.key) > 20 && strings.Contains(err.Error(), tc.key[7:20]) {
				t.Errorf("error %q echoes part of the key", err)
			}
		})
	}
}

// mutationCheck asserts that a mutated key is rejected with the error class
// that matches its shape.
func mutationCheck(t *testing.T, orig, mutated, what string) {
	t.Helper()
	env, err := keys.Validate(mutated)
	if err == nil {
		t.Fatalf("%s of %q accepted as %q (env %q)", what, orig, mutated, env)
	}
	wantErr := keys.ErrMalformed
	if anchored.MatchString(mutated) {
		wantErr = keys.ErrChecksum
	}
	if !errors.Is(err, wantErr) {
		t.Fatalf("%s: Validate(%q) = %v, want %v", what, mutated, err, wantErr)
	}
}

func TestEverySingleCharacterChangeIsRejected(t *testing.T) {
	for _, key := range validKeys(t) {
		t.Run(key[:len(key)-38], func(t *testing.T) {
			checksumErrors := 0
			buf := []byte(key)
			for i := range buf {
				orig := buf[i]
				for c := 0; c < 256; c++ {
					if byte(c) == orig {
						continue
					}
					buf[i] = byte(c)
					mutationCheck(t, key, string(buf), fmt.Sprintf("changing byte %d to %#x", i, c))
					if _, err := keys.Validate(string(buf)); errors.Is(err, keys.ErrChecksum) {
						checksumErrors++
					}
				}
				buf[i] = orig
			}
			// Most mutations keep the shape (a base62 character in the body
			// or checksum): the checksum, not the shape check, caught them.
			if minWant := 38 * 61; checksumErrors < minWant {
				t.Errorf("only %d mutations reached the checksum, want at least %d", checksumErrors, minWant)
			}
		})
	}
}

func TestEveryAdjacentTranspositionIsRejected(t *testing.T) {
	for _, key := range validKeys(t) {
		t.Run(key[:len(key)-38], func(t *testing.T) {
			buf := []byte(key)
			for i := 0; i+1 < len(buf); i++ {
				if buf[i] == buf[i+1] {
					continue
				}
				buf[i], buf[i+1] = buf[i+1], buf[i]
				mutationCheck(t, key, string(buf), "swapping two characters")
				buf[i], buf[i+1] = buf[i+1], buf[i]
			}
		})
	}
}

func TestEveryDeletionAndInsertionIsRejected(t *testing.T) {
	for _, key := range validKeys(t) {
		t.Run(key[:len(key)-38], func(t *testing.T) {
			for i := range len(key) {
				mutationCheck(t, key, key[:i]+key[i+1:], "deleting a character")
			}
			for i := range len(key) + 1 {
				for _, c := range []string{"0", "a", "Z", "_"} {
					mutationCheck(t, key, key[:i]+c+key[i:], "inserting a character")
				}
			}
		})
	}
}

func TestPattern(t *testing.T) {
	vs := loadVectors(t)
	dev, prod := vs[0].Key, vs[1].Key
	unanchored := regexp.MustCompile(keys.Pattern)
	tests := []struct {
		name string
		text string
		want []string
	}{
		{name: "bare key", text: dev, want: []string{dev}},
		{name: "header", text: "x-api-key: " + dev + "\r\n", want: []string{dev}},
		{name: "env file", text: "STAGEHAND_KEY=" + prod + "\n", want: []string{prod}},
		{name: "JSON", text: `{"key":"` + dev + `","other":"` + prod + `"}`, want: []string{dev, prod}},
		{name: "URL query", text: "https://api.example.com/v1?api_key=" + dev + "&x=1", want: []string{dev}},
		{name: "longest env", text: "'" + vs[3].Key + "'", want: []string{vs[3].Key}},
		{name: "no key", text: "sh_dev_ is a prefix, nothing more"},
		{name: "body too long", text: dev + "a"},
		{name: "body too short", text: dev[:len(dev)-1] + " "},
		{name: "glued to a word", text: "xsh" + dev[2:]},
		{name: "upper-case env", text: "sh_DEV" + dev[6:]},
		{name: "17-char env", text: "sh_a123456789abcdefg_" + dev[7:]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := unanchored.FindAllString(tc.text, -1)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Pattern matches (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGenerateMany generates 10^6 keys (10^4 with -short): every key
// validates for its environment and matches Pattern, and no two keys, hashes
// or ids collide.
func TestGenerateMany(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 10_000
	}
	g := keys.NewGenerator()
	hashes := make([]keys.Hash, n)
	for i := range n {
		s, err := g.New("prod")
		if err != nil {
			t.Fatalf("New #%d: %v", i, err)
		}
		if err := keys.ValidateFor(s.Plaintext, "prod"); err != nil {
			t.Fatalf("generated key #%d does not validate: %v", i, err)
		}
		if i < 1000 {
			if !anchored.MatchString(s.Plaintext) {
				t.Fatalf("generated key #%d does not match Pattern", i)
			}
			if s.Hash != sha256.Sum256([]byte(s.Plaintext)) || s.ID != s.Hash.ID() {
				t.Fatalf("generated key #%d: hash or id does not match its plaintext", i)
			}
		}
		hashes[i] = s.Hash
	}
	// Equal keys have equal hashes, so distinct hashes prove distinct keys;
	// sorted by hash, ids (the first 10 hash bytes) are sorted too.
	slices.SortFunc(hashes, func(a, b keys.Hash) int { return bytes.Compare(a[:], b[:]) })
	for i := 1; i < n; i++ {
		if hashes[i] == hashes[i-1] {
			t.Fatalf("two of %d generated keys are equal", n)
		}
		if hashes[i].ID() == hashes[i-1].ID() {
			t.Fatalf("two of %d generated keys share the id %s", n, hashes[i].ID())
		}
	}
}

func TestGeneratorCharacterSpread(t *testing.T) {
	// Every base62 character shows up in the bodies of a few thousand keys,
	// and only base62 characters do. (Uniformity itself is proven exactly by
	// the internal test of the byte-to-character mapping.)
	seen := map[rune]int{}
	for range 2000 {
		s, err := keys.New("dev")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range s.Plaintext[len("sh_dev_") : len(s.Plaintext)-6] {
			seen[c]++
		}
	}
	if len(seen) != 62 {
		t.Fatalf("bodies used %d distinct characters, want 62", len(seen))
	}
	for c, count := range seen {
		if !strings.ContainsRune(alphabet, c) {
			t.Errorf("character %q outside base62 (%d times)", c, count)
		}
	}
}

func TestNewDiffers(t *testing.T) {
	a, err := keys.New("dev")
	if err != nil {
		t.Fatal(err)
	}
	b, err := keys.New("dev")
	if err != nil {
		t.Fatal(err)
	}
	if a.Plaintext == b.Plaintext || a.ID == b.ID {
		t.Errorf("two calls of New gave the same key or id")
	}
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

type constReader byte

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

func TestNewErrors(t *testing.T) {
	errBroken := errors.New("entropy pool on fire")
	tests := []struct {
		name    string
		env     string
		rand    io.Reader
		wantErr error
	}{
		{name: "empty env", env: "", rand: constReader(1), wantErr: keys.ErrInvalidEnv},
		{name: "one-char env", env: "d", rand: constReader(1), wantErr: keys.ErrInvalidEnv},
		{name: "env with underscore", env: "my_env", rand: constReader(1), wantErr: keys.ErrInvalidEnv},
		{name: "upper-case env", env: "Prod", rand: constReader(1), wantErr: keys.ErrInvalidEnv},
		{name: "17-char env", env: "a123456789abcdefg", rand: constReader(1), wantErr: keys.ErrInvalidEnv},
		{name: "reader error", env: "dev", rand: failingReader{errBroken}, wantErr: errBroken},
		{name: "reader runs dry", env: "dev", rand: bytes.NewReader(make([]byte, 39)), wantErr: io.ErrUnexpectedEOF},
		{name: "empty reader", env: "dev", rand: bytes.NewReader(nil), wantErr: io.EOF},
		{name: "only discarded bytes", env: "dev", rand: constReader(0xff)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := keys.NewGenerator(keys.WithRand(tc.rand)).New(tc.env)
			if err == nil {
				t.Fatalf("New(%q) = %v, want an error", tc.env, s)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("New(%q) error = %v, want %v", tc.env, err, tc.wantErr)
			}
			if diff := cmp.Diff(keys.Secret{}, s); diff != "" {
				t.Errorf("New returned a partial secret on error:\n%s", diff)
			}
		})
	}
}

func TestWithRandNilKeepsDefault(t *testing.T) {
	s, err := keys.NewGenerator(keys.WithRand(nil)).New("dev")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Validate(s.Plaintext); err != nil {
		t.Errorf("key from default source does not validate: %v", err)
	}
}

func TestHash(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			h := keys.HashKey(v.Key)
			if got := h.String(); got != v.Hash {
				t.Errorf("HashKey().String() = %s, want %s", got, v.Hash)
			}
			if got := h.ID(); got != v.ID {
				t.Errorf("ID() = %s, want %s", got, v.ID)
			}
			parsed, err := keys.ParseHash(v.Hash)
			if err != nil || !parsed.Equal(h) || parsed != h {
				t.Errorf("ParseHash(String()) = %v, %v; want %v", parsed, err, h)
			}
			upper, err := keys.ParseHash(strings.ToUpper(v.Hash))
			if err != nil || upper != h {
				t.Errorf("ParseHash(upper case) = %v, %v; want %v", upper, err, h)
			}
			other := h
			other[31] ^= 1
			if h.Equal(other) {
				t.Error("Equal ignores the last byte")
			}
			other = h
			other[0] ^= 0x80
			if h.Equal(other) {
				t.Error("Equal ignores the first byte")
			}
		})
	}
	t.Run("inputs longer than a key", func(t *testing.T) {
		for _, s := range []string{"", "x", strings.Repeat("k", 58), strings.Repeat("k", 59), strings.Repeat("k", 1000)} {
			if got, want := keys.HashKey(s), keys.Hash(sha256.Sum256([]byte(s))); got != want {
				t.Errorf("HashKey(%d bytes) = %s, want %s", len(s), got, want)
			}
		}
	})
}

func TestParseHashErrors(t *testing.T) {
	valid := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		in   string
	}{
		{name: "empty", in: ""},
		{name: "63 digits", in: valid[:63]},
		{name: "65 digits", in: valid + "a"},
		{name: "non-hex", in: valid[:63] + "g"},
		{name: "space", in: " " + valid[1:]},
		{name: "key id", in: "key_lzghx3qnkjngonx4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := keys.ParseHash(tc.in)
			if !errors.Is(err, keys.ErrInvalidHash) {
				t.Errorf("ParseHash(%q) = %v, %v; want ErrInvalidHash", tc.in, h, err)
			}
		})
	}
}

func TestValidID(t *testing.T) {
	idRE := regexp.MustCompile(`^key_[a-z2-7]{16}$`)
	for _, v := range loadVectors(t) {
		if !idRE.MatchString(v.ID) || !keys.ValidID(v.ID) {
			t.Errorf("vector id %q not accepted", v.ID)
		}
	}
	tests := []struct {
		name string
		id   string
		want bool
	}{
		{name: "all a", id: "key_aaaaaaaaaaaaaaaa", want: true},
		{name: "digits 2-7", id: "key_2345672345672345", want: true},
		{name: "empty", id: ""},
		{name: "no prefix", id: "lzghx3qnkjngonx4aaaa"},
		{name: "15 chars", id: "key_aaaaaaaaaaaaaaa"},
		{name: "17 chars", id: "key_aaaaaaaaaaaaaaaaa"},
		{name: "upper case", id: "key_AAAAAAAAAAAAAAAA"},
		{name: "digit 1", id: "key_aaaaaaaaaaaaaaa1"},
		{name: "digit 8", id: "key_aaaaaaaaaaaaaaa8"},
		{name: "padding", id: "key_aaaaaaaaaaaaaa=="},
		{name: "a key", id: "sh_dev_aaaaaaaaaaaa"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := keys.ValidID(tc.id); got != tc.want {
				t.Errorf("ValidID(%q) = %v, want %v", tc.id, got, tc.want)
			}
		})
	}
	// Random hashes always give valid ids.
	for range 1000 {
		s, err := keys.New("dev")
		if err != nil {
			t.Fatal(err)
		}
		if !idRE.MatchString(s.ID) || !keys.ValidID(s.ID) {
			t.Fatalf("generated id %q is not valid", s.ID)
		}
	}
}

func TestDisplayPrefix(t *testing.T) {
	vs := loadVectors(t)
	tests := []struct {
		name string
		key  string
		want string
	}{
		{name: "dev", key: vs[0].Key, want: vs[0].DisplayPrefix},
		{name: "prod", key: vs[1].Key, want: "sh_prod_0123…"},
		{name: "longest env", key: vs[3].Key, want: vs[3].DisplayPrefix},
		{name: "wrong checksum still shows", key: vs[0].Key[:len(vs[0].Key)-1] + "0", want: vs[0].DisplayPrefix},
		{name: "empty", key: ""},
		{name: "too short", key: vs[0].Key[:20]},
		{name: "bad env", key: "sh_DEV" + vs[0].Key[6:]},
		{name: "not a key at all", key: strings.Repeat("x", 45)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := keys.DisplayPrefix(tc.key); got != tc.want {
				t.Errorf("DisplayPrefix() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestZeroAllocations(t *testing.T) {
	key := loadVectors(t)[0].Key
	mistyped := key[:len(key)-1] + "0"
	tests := []struct {
		name string
		fn   func()
	}{
		{name: "Validate valid", fn: func() { _, _ = keys.Validate(key) }},
		{name: "Validate checksum error", fn: func() { _, _ = keys.Validate(mistyped) }},
		{name: "Validate malformed", fn: func() { _, _ = keys.Validate("sh_dev_nope") }},
		{name: "ValidateFor valid", fn: func() { _ = keys.ValidateFor(key, "dev") }},
		{name: "HashKey", fn: func() { _ = keys.HashKey(key) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(100, tc.fn); got != 0 {
				t.Errorf("%v allocations per run, want 0", got)
			}
		})
	}
}
