package keys

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrInvalidCIDR: an allowlist entry that is neither a CIDR prefix nor an IP
// address.
var ErrInvalidCIDR = errors.New("not a valid CIDR")

// ParseAllowlist parses a key's allowedCidrs: IPv4 and IPv6 prefixes
// ("10.0.0.0/8", "2001:db8::/32") or bare addresses (taken as /32 or /128).
// Prefixes are canonicalised: host bits are cleared ("10.1.2.3/8" becomes
// 10.0.0.0/8) and IPv4-mapped IPv6 prefixes ("::ffff:10.0.0.0/104") become
// IPv4 ones. The error names the first bad entry and its index, e.g.
// allowedCidrs[2]: "10.0.0.0/33" is not a valid CIDR. An empty list gives
// nil, which Allowed reads as "any address".
func ParseAllowlist(cidrs []string) ([]netip.Prefix, error) {
	if len(cidrs) == 0 {
		return nil, nil
	}
	out := make([]netip.Prefix, 0, len(cidrs))
	for i, s := range cidrs {
		p, ok := parseEntry(s)
		if !ok {
			return nil, fmt.Errorf("allowedCidrs[%d]: %q is %w", i, s, ErrInvalidCIDR)
		}
		out = append(out, p)
	}
	return out, nil
}

func parseEntry(s string) (netip.Prefix, bool) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, false
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, false
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			// Spans more than the mapped IPv4 range: keep it as IPv6.
			return p.Masked(), true
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), true
}

// Allowed reports whether ip is inside one of prefixes (as returned by
// ParseAllowlist). An empty list allows every address. An IPv4-mapped IPv6
// address (::ffff:10.1.2.3) matches IPv4 prefixes, and an IPv6 zone is
// ignored. It does not allocate.
func Allowed(prefixes []netip.Prefix, ip netip.Addr) bool {
	if len(prefixes) == 0 {
		return true
	}
	ip = ip.Unmap().WithZone("")
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
