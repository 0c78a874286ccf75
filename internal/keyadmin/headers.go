package keyadmin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
)

// etag is the strong entity tag of an item's version.
func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// parseIfMatch returns the version an If-Match names; 0 for none or "*"
// (any current version). The document's pattern has already rejected
// anything else.
func parseIfMatch(v string) int64 {
	v = strings.TrimSpace(v)
	if v == "" || v == "*" {
		return 0
	}
	n, err := strconv.ParseInt(strings.Trim(v, `"`), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// fingerprint identifies a request for idempotency: the operation, its
// target and its body in canonical JSON (key order and spacing do not
// matter; values do).
func fingerprint(op, path string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(op + "\n" + path + "\n"))
	h.Write(canonicalJSON(body))
	return hex.EncodeToString(h.Sum(nil))
}

func canonicalJSON(body []byte) []byte {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return body
	}
	out, err := json.Marshal(v) // maps marshal with sorted keys
	if err != nil {
		return body
	}
	return out
}
