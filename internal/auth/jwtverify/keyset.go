package jwtverify

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/MicahParks/jwkset"
)

// ErrDuplicateKID: the issuer's JWKS holds two keys with the same kid, so a
// token naming that kid is ambiguous and is rejected.
var ErrDuplicateKID = errors.New("JWKS holds more than one key with this kid")

// ErrKeyNotForVerify: the JWKS publishes this kid for another purpose: its
// "use" is not "sig", or its "key_ops" do not include "verify" (RFC 7517
// §4.2, §4.3; RFC 8725 §3.4 asks that a key serve one purpose).
var ErrKeyNotForVerify = errors.New(`JWK is not for signature verification ("use" / "key_ops")`)

// kidIndex is the jwkset.Storage behind one issuer's JWKS URL. It keeps the
// keys in a jwkset.MemoryJWKSet (so the library's refresh logic is
// unchanged) and, on every change, publishes an immutable kid → key index:
//
//   - KeyRead is one map lookup with no allocation (the library's memory
//     storage scans a slice and formats an error on a miss);
//   - duplicate kids are detected once, when a JWKS is loaded;
//   - each key carries a fingerprint of its public material, so the
//     verified-token cache can tell whether the exact key that verified a
//     token is still published (a refresh that returns the same keys keeps
//     cached tokens; a removed or replaced key drops them);
//   - each key's public half and "alg" are extracted once, so verifying a
//     token with a known kid reads them with one map lookup (lookup).
type kidIndex struct {
	*jwkset.MemoryJWKSet
	mu   sync.Mutex // serialises writers; readers use snap
	snap atomic.Pointer[kidSnapshot]
}

var _ jwkset.Storage = (*kidIndex)(nil)

type kidSnapshot struct {
	keys map[string]kidEntry
}

type kidEntry struct {
	jwk jwkset.JWK
	fp  uint64
	dup bool
	// key is the JWK's public key and alg its "alg" parameter (may be
	// empty), as keyfunc would read them.
	key any
	alg string
	// unusable is ErrKeyNotForVerify (wrapped) for a key whose "use" or
	// "key_ops" exclude verifying signatures, else nil.
	unusable error
}

func newKidIndex() *kidIndex {
	s := &kidIndex{MemoryJWKSet: jwkset.NewMemoryStorage()}
	s.snap.Store(&kidSnapshot{keys: map[string]kidEntry{}})
	return s
}

// KeyRead returns the key with this kid, jwkset.ErrKeyNotFound (which makes
// the jwkset HTTP client refetch, rate-limited) or ErrDuplicateKID.
func (s *kidIndex) KeyRead(_ context.Context, kid string) (jwkset.JWK, error) {
	e, ok := s.snap.Load().keys[kid]
	switch {
	case !ok:
		return jwkset.JWK{}, jwkset.ErrKeyNotFound
	case e.dup:
		return jwkset.JWK{}, ErrDuplicateKID
	case e.unusable != nil:
		return jwkset.JWK{}, e.unusable
	}
	return e.jwk, nil
}

// KeyReplaceAll replaces the key set (this is what a JWKS refresh calls).
func (s *kidIndex) KeyReplaceAll(ctx context.Context, given []jwkset.JWK) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.MemoryJWKSet.KeyReplaceAll(ctx, given); err != nil {
		return err
	}
	s.publish(given)
	return nil
}

// KeyWrite adds one key.
func (s *kidIndex) KeyWrite(ctx context.Context, jwk jwkset.JWK) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.MemoryJWKSet.KeyWrite(ctx, jwk); err != nil {
		return err
	}
	return s.republish(ctx)
}

// KeyDelete removes one key.
func (s *kidIndex) KeyDelete(ctx context.Context, kid string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ok, err := s.MemoryJWKSet.KeyDelete(ctx, kid)
	if err != nil {
		return ok, err
	}
	return ok, s.republish(ctx)
}

func (s *kidIndex) republish(ctx context.Context) error {
	all, err := s.MemoryJWKSet.KeyReadAll(ctx)
	if err != nil {
		return err
	}
	s.publish(all)
	return nil
}

// publish builds and swaps in a new index. Keys without a kid are not
// indexed: stagehand requires a kid on every JWKS-verified token.
func (s *kidIndex) publish(all []jwkset.JWK) {
	keys := make(map[string]kidEntry, len(all))
	for _, j := range all {
		m := j.Marshal()
		if m.KID == "" {
			continue
		}
		if prev, ok := keys[m.KID]; ok {
			prev.dup = true
			keys[m.KID] = prev
			continue
		}
		keys[m.KID] = kidEntry{jwk: j, fp: fingerprint(m), key: publicOf(j.Key()), alg: m.ALG.String(), unusable: verifyUse(m)}
	}
	s.snap.Store(&kidSnapshot{keys: keys})
}

// verifyUse applies RFC 7517's "use" (§4.2) and "key_ops" (§4.3) to a key
// that would verify a signature: absent, "use" must be "sig" and "key_ops"
// must list "verify" (when both are present both must allow it).
func verifyUse(m jwkset.JWKMarshal) error {
	if m.USE != "" && m.USE != jwkset.UseSig {
		return fmt.Errorf(`%w: "use" is %q`, ErrKeyNotForVerify, m.USE)
	}
	if m.KEYOPS != nil && !slices.Contains(m.KEYOPS, jwkset.KeyOpsVerify) {
		return fmt.Errorf(`%w: "key_ops" %v lack "verify"`, ErrKeyNotForVerify, m.KEYOPS)
	}
	return nil
}

// current reports whether kid is published, unambiguous and still has
// fingerprint fp.
func (s *kidIndex) current(kid string, fp uint64) bool {
	e, ok := s.snap.Load().keys[kid]
	return ok && !e.dup && e.unusable == nil && e.fp == fp
}

// fingerprint hashes a JWK's public parameters (FNV-1a; the JWKS is trusted
// input, so this only needs to tell keys apart, not resist forgery).
func fingerprint(m jwkset.JWKMarshal) uint64 {
	h := fnv.New64a()
	for _, part := range []string{string(m.KTY), string(m.CRV), m.N, m.E, m.X, m.Y, string(m.ALG), string(m.USE)} {
		_, _ = h.Write([]byte(part))
		_, _ = h.Write([]byte{0})
	}
	for _, op := range m.KEYOPS {
		_, _ = h.Write([]byte(op))
		_, _ = h.Write([]byte{1})
	}
	return h.Sum64()
}

type publicKeyer interface{ Public() crypto.PublicKey }

// publicOf returns the public half of a private key, or k itself.
func publicOf(k any) any {
	if p, ok := k.(publicKeyer); ok {
		return p.Public()
	}
	return k
}
