// Package keys defines stagehand's customer API keys: their format, how they
// are generated, validated offline, hashed and identified, the rules for
// changing a key's status, and source-IP allowlists.
//
// # Format
//
// A key is "sh_<env>_<body><check>", where:
//   - env is the environment name, [a-z][a-z0-9]{1,15} (dev, staging, prod);
//   - body is 32 characters of base62 (0-9A-Za-z) drawn uniformly from
//     crypto/rand: 32·log2(62) ≈ 190.5 bits of entropy;
//   - check is the CRC-32 (IEEE) of everything before it ("sh_<env>_<body>"),
//     written as exactly 6 base62 digits, most significant first, left-padded
//     with '0' (62^6 > 2^32, so every CRC fits).
//
// The checksum lets [Validate] reject a mistyped or made-up key without any
// database read, and lets secret scanners confirm a [Pattern] match before
// raising an alert. It is not a security control: only the SHA-256 hash
// comparison against the registry is.
//
// # Storage
//
// Only [HashKey] (SHA-256 of the full key) is stored. A plain, unsalted
// SHA-256 is the right tool here, unlike for passwords: the input has 190
// bits of entropy, so there is no dictionary to pre-compute and brute force
// is out of reach; a slow hash would only make the authorizer slower.
//
// The public key id ([Hash.ID]) is "key_" plus the first 80 bits of that hash
// in base32, so the registry can find a key from its secret with one GetItem.
// See [Hash.ID] for why publishing those 80 bits is safe.
package keys

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
)

// Pattern is a regular expression (RE2 / Go regexp syntax, also valid PCRE)
// that matches a key anywhere in text, for secret scanners. A match is a
// candidate: confirm it with [Validate], whose checksum weeds out random
// strings that merely look like a key.
const Pattern = `\bsh_[a-z][a-z0-9]{1,15}_[0-9A-Za-z]{38}\b`

// Sentinel errors; callers branch on them with errors.Is. None of the errors
// this package returns ever contains a key.
var (
	// ErrMalformed: the string does not have the shape of a key (prefix,
	// environment, length or a character outside base62).
	ErrMalformed = errors.New("malformed API key")
	// ErrChecksum: the string has the shape of a key but its checksum does
	// not match, which means it was mistyped, truncated and padded, or made up.
	ErrChecksum = errors.New("API key checksum mismatch")
	// ErrWrongEnvironment: a well-formed key for another environment.
	ErrWrongEnvironment = errors.New("API key is for another environment")
	// ErrInvalidEnv: an environment name that does not match
	// [a-z][a-z0-9]{1,15}.
	ErrInvalidEnv = errors.New("invalid environment name")
	// ErrInvalidHash: a string that is not 64 hexadecimal digits.
	ErrInvalidHash = errors.New("invalid key hash")
)

// Detailed causes of ErrMalformed, built once so that Validate does not
// allocate even when it rejects a key.
var (
	errNoPrefix = fmt.Errorf("%w: missing %q prefix", ErrMalformed, prefix)
	errBadEnv   = fmt.Errorf("%w: environment must match [a-z][a-z0-9]{1,15}", ErrMalformed)
	errLength   = fmt.Errorf("%w: wrong length", ErrMalformed)
	errBadChar  = fmt.Errorf("%w: character outside 0-9A-Za-z", ErrMalformed)
)

const (
	prefix = "sh_"
	// BodyLen is the number of random base62 characters in a key.
	BodyLen = 32
	// checkLen is the number of base62 digits of the CRC-32.
	checkLen = 6
	// tailLen is what follows "sh_<env>_".
	tailLen   = BodyLen + checkLen
	minEnvLen = 2
	maxEnvLen = 16
	// minKeyLen and maxKeyLen bound a well-formed key's length.
	minKeyLen = len(prefix) + minEnvLen + 1 + tailLen
	maxKeyLen = len(prefix) + maxEnvLen + 1 + tailLen
	// displayBodyLen is how many body characters DisplayPrefix shows: 4
	// characters reveal ≈24 bits, leaving ≈166 unknown bits (≥ 160).
	displayBodyLen = 4

	alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	// acceptBelow is the largest multiple of 62 that fits in a byte (4·62):
	// random bytes at or above it are discarded so that b%62 is uniform.
	acceptBelow = 248
)

// isBase62 reports, per byte value, whether it is in alphabet.
var isBase62 = func() (t [256]bool) {
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = true
	}
	return t
}()

// ValidEnv reports whether env is a valid environment name:
// [a-z][a-z0-9]{1,15}.
func ValidEnv(env string) bool {
	if len(env) < minEnvLen || len(env) > maxEnvLen {
		return false
	}
	if env[0] < 'a' || env[0] > 'z' {
		return false
	}
	for i := 1; i < len(env); i++ {
		c := env[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Validate checks that key is a well-formed key with a correct checksum and
// returns its environment (a substring of key; nothing is allocated). It
// reads no database: it only tells a possible key from garbage or a typo.
// The error is, via errors.Is, ErrMalformed or ErrChecksum.
func Validate(key string) (env string, err error) {
	env, tail, err := split(key)
	if err != nil {
		return "", err
	}
	for i := 0; i < len(tail); i++ {
		if !isBase62[tail[i]] {
			return "", errBadChar
		}
	}
	n := len(key) - checkLen
	want := encodeCheck(crcString(key[:n]))
	if key[n:] != string(want[:]) { // compared in place: no allocation
		return "", ErrChecksum
	}
	return env, nil
}

// ValidateFor is Validate plus a check that the key belongs to env; a valid
// key for another environment gives ErrWrongEnvironment.
func ValidateFor(key, env string) error {
	got, err := Validate(key)
	if err != nil {
		return err
	}
	if got != env {
		return fmt.Errorf("%w: key is for %q, want %q", ErrWrongEnvironment, got, env)
	}
	return nil
}

// split checks the structure "sh_<env>_<38 chars>" and returns env and the
// 38 characters after it (not yet checked to be base62).
func split(key string) (env, tail string, err error) {
	if len(key) < minKeyLen || len(key) > maxKeyLen {
		return "", "", errLength
	}
	if key[:len(prefix)] != prefix {
		return "", "", errNoPrefix
	}
	rest := key[len(prefix):]
	sep := -1
	for i := 0; i < len(rest); i++ {
		if rest[i] == '_' {
			sep = i
			break
		}
	}
	if sep < 0 || !ValidEnv(rest[:sep]) {
		return "", "", errBadEnv
	}
	tail = rest[sep+1:]
	if len(tail) != tailLen {
		return "", "", errLength
	}
	return rest[:sep], tail, nil
}

// crcString is crc32.ChecksumIEEE over a string without converting it to a
// []byte (which would allocate).
func crcString(s string) uint32 {
	tab := crc32.IEEETable
	crc := ^uint32(0)
	for i := 0; i < len(s); i++ {
		crc = tab[byte(crc)^s[i]] ^ (crc >> 8)
	}
	return ^crc
}

// encodeCheck writes c as exactly checkLen base62 digits, most significant
// first.
func encodeCheck(c uint32) (out [checkLen]byte) {
	for i := checkLen - 1; i >= 0; i-- {
		out[i] = alphabet[c%62]
		c /= 62
	}
	return out
}

// DisplayPrefix returns the part of a key that may be shown in lists and
// logs: "sh_<env>_" plus the first 4 body characters and "…". It returns ""
// for a string that does not have the structure of a key, so that a
// malformed secret is never echoed. The checksum is not checked.
func DisplayPrefix(key string) string {
	env, tail, err := split(key)
	if err != nil {
		return ""
	}
	return prefix + env + "_" + tail[:displayBodyLen] + "…"
}

// Hash is the SHA-256 of a full key string: the only form of a key stored.
type Hash [sha256.Size]byte

// HashKey returns the SHA-256 of key.
func HashKey(key string) Hash {
	// Copying into a stack buffer avoids the heap allocation of []byte(key)
	// for every well-formed key (at most maxKeyLen bytes).
	var buf [maxKeyLen]byte
	if len(key) <= len(buf) {
		n := copy(buf[:], key)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(key))
}

// String returns the hash as 64 lowercase hexadecimal digits, the form the
// registry stores.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash parses 64 hexadecimal digits (as written by Hash.String; upper
// case is accepted too).
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != hex.EncodedLen(len(h)) {
		return Hash{}, fmt.Errorf("%w: want %d hex digits, got %d characters", ErrInvalidHash, hex.EncodedLen(len(h)), len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return Hash{}, fmt.Errorf("%w: %w", ErrInvalidHash, err)
	}
	return h, nil
}

// Equal reports whether h and o are the same hash, in constant time.
func (h Hash) Equal(o Hash) bool { return subtle.ConstantTimeCompare(h[:], o[:]) == 1 }

// idPrefix starts every key id.
const idPrefix = "key_"

// idBytes is how many leading hash bytes make the id (80 bits, 16 base32
// characters without padding).
const idBytes = 10

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ID returns the key's public id: "key_" plus the first 80 bits of the hash
// in lowercase RFC 4648 base32 without padding (16 characters), e.g.
// "key_mfrggzdfmztwq2lk". The registry stores a key under this id, so both
// "key by id" (admin API) and "key by secret" (authorizer: HashKey then ID)
// are one GetItem; the authorizer then compares the full stored hash with
// Hash.Equal before trusting the key.
//
// Publishing the id leaks nothing useful:
//   - The secret has ≈190 bits of entropy. Knowing 80 bits of its SHA-256
//     only lets an attacker test guesses offline, and finding any input with
//     that 80-bit prefix costs ≈2^80 hashes; finding *the* secret means
//     searching its 2^190 space. Neither is feasible.
//   - Even an input found with a matching id would be rejected: the full
//     256-bit hash must match, and the key must pass the checksum.
//   - Ids of different keys collide with probability ≈ n²/2^81 (about 4·10⁻⁷
//     for a billion keys); the registry's create is conditional
//     (attribute_not_exists), so a collision fails loudly and the caller
//     generates another key.
func (h Hash) ID() string {
	var buf [len(idPrefix) + 16]byte
	copy(buf[:], idPrefix)
	idEncoding.Encode(buf[len(idPrefix):], h[:idBytes])
	return string(buf[:])
}

// ValidID reports whether id has the form of a key id (as returned by
// Hash.ID), so that a malformed id from a request is rejected before any
// database read.
func ValidID(id string) bool {
	if len(id) != len(idPrefix)+16 || id[:len(idPrefix)] != idPrefix {
		return false
	}
	for i := len(idPrefix); i < len(id); i++ {
		c := id[i]
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	// The last character carries 80 mod 5 = 0 padding bits, so every
	// character combination decodes to exactly 10 bytes.
	return true
}

// Secret is a newly generated key. Plaintext is the only copy of the secret
// there will ever be: show it to the customer once, store Hash, and let it go.
//
// Every way of printing a Secret (fmt's verbs, slog, encoding/json) shows only
// its display prefix and id, never Plaintext; a response that must carry the
// secret has to copy Plaintext into a field of its own on purpose.
type Secret struct {
	Plaintext     string
	Env           string
	Hash          Hash
	ID            string
	DisplayPrefix string
}

// String returns the display prefix, never the plaintext.
func (s Secret) String() string { return s.DisplayPrefix }

// Format implements fmt.Formatter so that every verb (%v, %+v, %#v, %s, %q,
// %x, %d ...) prints the display prefix, never the plaintext.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", s.DisplayPrefix)
		return
	}
	_, _ = io.WriteString(f, s.DisplayPrefix)
}

// LogValue implements slog.LogValuer: a Secret logs as its id, environment
// and display prefix.
func (s Secret) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", s.ID),
		slog.String("env", s.Env),
		slog.String("displayPrefix", s.DisplayPrefix),
	)
}

// MarshalJSON encodes the id, environment and display prefix only, so a
// Secret nested in a logged or encoded structure does not leak.
func (s Secret) MarshalJSON() ([]byte, error) {
	return json.Marshal(redactedSecret{ID: s.ID, Env: s.Env, DisplayPrefix: s.DisplayPrefix})
}

type redactedSecret struct {
	ID            string `json:"id"`
	Env           string `json:"env"`
	DisplayPrefix string `json:"displayPrefix"`
}

// Generator makes new keys. Its zero value is not usable; call NewGenerator.
// It is safe for concurrent use when its random source is (crypto/rand is).
type Generator struct {
	rand io.Reader
}

// Option configures a Generator.
type Option func(*Generator)

// WithRand sets the source of random bytes (default crypto/rand.Reader).
// Tests pass a fixed reader to get deterministic keys; production code must
// not use anything but crypto/rand. A nil r leaves the default.
func WithRand(r io.Reader) Option {
	return func(g *Generator) {
		if r != nil {
			g.rand = r
		}
	}
}

// NewGenerator returns a Generator.
func NewGenerator(opts ...Option) *Generator {
	g := &Generator{rand: rand.Reader}
	for _, o := range opts {
		o(g)
	}
	return g
}

// defaultGenerator backs New; it holds no mutable state.
var defaultGenerator = NewGenerator()

// New generates a key for env with crypto/rand.
func New(env string) (Secret, error) { return defaultGenerator.New(env) }

// chunkLen is how many random bytes are read at a time: enough for a body
// unless more than 8 of 40 bytes are discarded (probability ≈ 10⁻⁵).
const chunkLen = BodyLen + 8

// maxChunks bounds the reads for one body, so a broken random source that
// keeps returning discarded bytes gives an error instead of an endless loop.
// With a uniform source the bound is never reached in practice.
const maxChunks = 16

// New generates a key for env.
func (g *Generator) New(env string) (Secret, error) {
	if !ValidEnv(env) {
		return Secret{}, fmt.Errorf("new key for %q: %w", env, ErrInvalidEnv)
	}
	var buf [maxKeyLen]byte
	key := append(buf[:0], prefix...)
	key = append(key, env...)
	key = append(key, '_')
	start := len(key)
	key = key[:start+BodyLen]
	if err := g.fillBody(key[start:]); err != nil {
		return Secret{}, fmt.Errorf("new key for %q: %w", env, err)
	}
	check := encodeCheck(crc32.ChecksumIEEE(key))
	key = append(key, check[:]...)

	plaintext := string(key)
	clear(buf[:]) // best effort: the plaintext string itself cannot be wiped
	h := HashKey(plaintext)
	return Secret{
		Plaintext:     plaintext,
		Env:           env,
		Hash:          h,
		ID:            h.ID(),
		DisplayPrefix: DisplayPrefix(plaintext),
	}, nil
}

// fillBody fills dst with uniformly distributed base62 characters.
func (g *Generator) fillBody(dst []byte) error {
	var pool [chunkLen]byte
	defer clear(pool[:])
	i := 0
	for range maxChunks {
		if _, err := io.ReadFull(g.rand, pool[:]); err != nil {
			return fmt.Errorf("read random bytes: %w", err)
		}
		for _, b := range pool {
			c, ok := base62Char(b)
			if !ok {
				continue
			}
			dst[i] = c
			i++
			if i == len(dst) {
				return nil
			}
		}
	}
	return errors.New("read random bytes: source keeps returning out-of-range bytes")
}

// base62Char maps a uniformly random byte to a uniformly random base62
// character, or reports false for the 8 byte values (248-255) that must be
// discarded to avoid modulo bias.
func base62Char(b byte) (byte, bool) {
	if b >= acceptBelow {
		return 0, false
	}
	return alphabet[b%62], true
}
