package jwtverify

import (
	"bytes"
	"strconv"
)

// The verifier's JSON scanner. It checks syntax exactly as encoding/json
// does (FuzzValidJSONMatchesStdlib compares validJSON with json.Valid on
// arbitrary input) in one pass with a table per byte, where encoding/json
// calls a state function per byte and then decodes in a second pass. The
// header and claims parsers use it to find, and check, each member's value;
// values are decoded only when read.
//
// Like encoding/json it does not check UTF-8, accepts the escapes \" \\ \/
// \b \f \n \r \t and \uXXXX in strings, refuses control characters in them,
// and refuses nesting deeper than 10000.

// maxNestingDepth is encoding/json's limit.
const maxNestingDepth = 10000

// validJSON reports whether b is exactly one JSON value with optional white
// space around it: json.Valid's answer.
func validJSON(b []byte) bool {
	i := validValue(b, skipSpace(b, 0), false)
	return i >= 0 && skipSpace(b, i) == len(b)
}

// validValue checks the JSON value that starts at b[i] and returns the
// index after it, or -1. With floats set, every number in it, at any depth,
// must also fit a float64: json.Unmarshal into an any (a map of claims or of
// header members) fails the whole input otherwise, and so does this.
func validValue(b []byte, i int, floats bool) int {
	var inline [4]uint64
	objects := inline[:0] // bit d: the container at depth d is an object
	depth := 0
	for {
		// A value starts at b[i], after optional white space.
		i = skipSpace(b, i)
		if i >= len(b) {
			return -1
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if depth == maxNestingDepth {
				return -1
			}
			if depth/64 == len(objects) {
				objects = append(objects, 0)
			}
			obj := c == '{'
			if obj {
				objects[depth/64] |= 1 << (depth % 64)
			} else {
				objects[depth/64] &^= 1 << (depth % 64)
			}
			depth++
			i = skipSpace(b, i+1)
			if i < len(b) && (obj && b[i] == '}' || !obj && b[i] == ']') {
				depth--
				i++ // empty: the container is a complete value
				break
			}
			if obj {
				if i = memberName(b, i); i < 0 {
					return -1
				}
			}
			continue // the first element or member value
		case c == '"':
			i = validString(b, i)
		case c == '-' || c >= '0' && c <= '9':
			i = validNumber(b, i, floats)
		case c == 't':
			i = literal(b, i, "true")
		case c == 'f':
			i = literal(b, i, "false")
		case c == 'n':
			i = literal(b, i, "null")
		default:
			return -1
		}
		if i < 0 {
			return -1
		}
		// A value ended before b[i]: close containers until another value
		// is due or the outermost one is complete.
		for {
			if depth == 0 {
				return i
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return -1
			}
			obj := objects[(depth-1)/64]&(1<<((depth-1)%64)) != 0
			c := b[i]
			if c == ',' {
				i++
				if obj {
					if i = memberName(b, skipSpace(b, i)); i < 0 {
						return -1
					}
				}
				break // the next element or member value
			}
			if obj && c != '}' || !obj && c != ']' {
				return -1
			}
			depth--
			i++
		}
	}
}

// memberName checks `"name" :` at b[i] and returns the index after the
// colon, or -1.
func memberName(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = validString(b, i); i < 0 {
		return -1
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return -1
	}
	return i + 1
}

// stringByte classifies bytes inside a JSON string: 0 is an ordinary byte,
// 1 ends the string ("), 2 starts an escape (\), 3 is a control character
// (not allowed unescaped).
var stringByte = func() (t [256]uint8) {
	for c := range 0x20 {
		t[c] = 3
	}
	t['"'], t['\\'] = 1, 2
	return t
}()

// validString checks the string that starts at b[i] (a quote) and returns
// the index after its closing quote, or -1.
func validString(b []byte, i int) int {
	i++
	for {
		for i < len(b) && stringByte[b[i]] == 0 {
			i++
		}
		if i >= len(b) {
			return -1
		}
		switch stringByte[b[i]] {
		case 1:
			return i + 1
		case 2:
			i++
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+4 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					return -1
				}
				i += 5
			default:
				return -1
			}
		default:
			return -1
		}
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// validNumber checks the number that starts at b[i] against RFC 8259's
// grammar, -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, and, with floats
// set, that it fits a float64. It returns the index after the number, or
// -1; what follows is the caller's to check.
func validNumber(b []byte, i int, floats bool) int {
	start := i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	exp := false
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		exp = true
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	// Without an exponent, only 309 or more integer digits can overflow a
	// float64.
	if floats && (exp || i-start > 300) {
		if _, err := strconv.ParseFloat(string(b[start:i]), 64); err != nil {
			return -1
		}
	}
	return i
}

// literal checks that word (true, false or null) starts at b[i] and returns
// the index after it, or -1.
func literal(b []byte, i int, word string) int {
	if len(b)-i < len(word) || string(b[i:i+len(word)]) != word {
		return -1
	}
	return i + len(word)
}

// scanMember checks the member `"name" : value` that starts at b[i] (a
// quote), with floats checked in the value. The name is b[nameStart:nameEnd]
// (between the quotes, still escaped; esc says whether it holds an escape),
// the value b[valueStart:end]; ok is false if the member is not valid.
func scanMember(b []byte, i int) (nameStart, nameEnd, valueStart, end int, esc, ok bool) {
	q := validString(b, i)
	if q < 0 {
		return 0, 0, 0, 0, false, false
	}
	nameStart, nameEnd = i+1, q-1
	i = skipSpace(b, q)
	if i >= len(b) || b[i] != ':' {
		return 0, 0, 0, 0, false, false
	}
	valueStart = skipSpace(b, i+1)
	if end = validValue(b, valueStart, true); end < 0 {
		return 0, 0, 0, 0, false, false
	}
	esc = bytes.IndexByte(b[nameStart:nameEnd], '\\') >= 0
	return nameStart, nameEnd, valueStart, end, esc, true
}
