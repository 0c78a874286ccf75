package keys_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/keys"
)

func TestParseAllowlist(t *testing.T) {
	p := netip.MustParsePrefix
	tests := []struct {
		name    string
		in      []string
		want    []netip.Prefix
		wantErr string
	}{
		{name: "nil", in: nil, want: nil},
		{name: "empty", in: []string{}, want: nil},
		{name: "IPv4 prefixes", in: []string{"10.0.0.0/8", "192.168.1.0/24"}, want: []netip.Prefix{p("10.0.0.0/8"), p("192.168.1.0/24")}},
		{name: "IPv6 prefix", in: []string{"2001:db8::/32"}, want: []netip.Prefix{p("2001:db8::/32")}},
		{name: "bare IPv4 address", in: []string{"203.0.113.7"}, want: []netip.Prefix{p("203.0.113.7/32")}},
		{name: "bare IPv6 address", in: []string{"2001:db8::1"}, want: []netip.Prefix{p("2001:db8::1/128")}},
		{name: "host bits cleared", in: []string{"10.1.2.3/8", "2001:db8::1/32"}, want: []netip.Prefix{p("10.0.0.0/8"), p("2001:db8::/32")}},
		{name: "IPv6 long form is canonical", in: []string{"2001:0db8:0000::/48"}, want: []netip.Prefix{p("2001:db8::/48")}},
		{name: "IPv4-mapped prefix becomes IPv4", in: []string{"::ffff:10.0.0.0/104"}, want: []netip.Prefix{p("10.0.0.0/8")}},
		{name: "IPv4-mapped address becomes IPv4", in: []string{"::ffff:203.0.113.7"}, want: []netip.Prefix{p("203.0.113.7/32")}},
		{name: "everything", in: []string{"0.0.0.0/0", "::/0"}, want: []netip.Prefix{p("0.0.0.0/0"), p("::/0")}},
		{name: "prefix too long", in: []string{"10.0.0.0/8", "::1", "10.0.0.0/33"}, wantErr: `allowedCidrs[2]: "10.0.0.0/33" is not a valid CIDR`},
		{name: "IPv6 prefix too long", in: []string{"2001:db8::/129"}, wantErr: `allowedCidrs[0]: "2001:db8::/129" is not a valid CIDR`},
		{name: "empty entry", in: []string{""}, wantErr: `allowedCidrs[0]: "" is not a valid CIDR`},
		{name: "hostname", in: []string{"10.0.0.1", "example.com"}, wantErr: `allowedCidrs[1]: "example.com" is not a valid CIDR`},
		{name: "spaces", in: []string{" 10.0.0.0/8"}, wantErr: `allowedCidrs[0]: " 10.0.0.0/8" is not a valid CIDR`},
		{name: "missing bits", in: []string{"10.0.0.0/"}, wantErr: `allowedCidrs[0]: "10.0.0.0/" is not a valid CIDR`},
		{name: "octet out of range", in: []string{"256.0.0.0/8"}, wantErr: `allowedCidrs[0]: "256.0.0.0/8" is not a valid CIDR`},
		{name: "zone on address", in: []string{"fe80::1%eth0"}, wantErr: `allowedCidrs[0]: "fe80::1%eth0" is not a valid CIDR`},
		{name: "zone on prefix", in: []string{"fe80::%eth0/64"}, wantErr: `allowedCidrs[0]: "fe80::%eth0/64" is not a valid CIDR`},
		{name: "netmask notation", in: []string{"10.0.0.0/255.0.0.0"}, wantErr: `allowedCidrs[0]: "10.0.0.0/255.0.0.0" is not a valid CIDR`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := keys.ParseAllowlist(tc.in)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || !errors.Is(err, keys.ErrInvalidCIDR) {
					t.Fatalf("ParseAllowlist() = %v, %v; want error %q wrapping ErrInvalidCIDR", got, err, tc.wantErr)
				}
				if got != nil {
					t.Errorf("ParseAllowlist() returned %v with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAllowlist() error = %v", err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("ParseAllowlist() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAllowed(t *testing.T) {
	list, err := keys.ParseAllowlist([]string{"10.0.0.0/8", "203.0.113.7", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr
	tests := []struct {
		name     string
		prefixes []netip.Prefix
		ip       netip.Addr
		want     bool
	}{
		{name: "empty list allows IPv4", prefixes: nil, ip: a("198.51.100.1"), want: true},
		{name: "empty list allows IPv6", prefixes: nil, ip: a("2001:db8::1"), want: true},
		{name: "inside IPv4 prefix", prefixes: list, ip: a("10.200.3.4"), want: true},
		{name: "first address of prefix", prefixes: list, ip: a("10.0.0.0"), want: true},
		{name: "last address of prefix", prefixes: list, ip: a("10.255.255.255"), want: true},
		{name: "just outside prefix", prefixes: list, ip: a("11.0.0.0"), want: false},
		{name: "single address", prefixes: list, ip: a("203.0.113.7"), want: true},
		{name: "neighbour of single address", prefixes: list, ip: a("203.0.113.8"), want: false},
		{name: "inside IPv6 prefix", prefixes: list, ip: a("2001:db8:1234::42"), want: true},
		{name: "outside IPv6 prefix", prefixes: list, ip: a("2001:db9::1"), want: false},
		{name: "IPv4-mapped IPv6 matches IPv4 prefix", prefixes: list, ip: a("::ffff:10.1.2.3"), want: true},
		{name: "IPv4-mapped IPv6 outside", prefixes: list, ip: a("::ffff:192.0.2.1"), want: false},
		{name: "IPv6 with zone", prefixes: list, ip: a("2001:db8::1%eth0"), want: true},
		{name: "zero address denied by non-empty list", prefixes: list, ip: netip.Addr{}, want: false},
		{name: "IPv4 does not match IPv6 ::/0", prefixes: []netip.Prefix{netip.MustParsePrefix("::/0")}, ip: a("10.0.0.1"), want: false},
		{name: "IPv4 0.0.0.0/0 allows any IPv4", prefixes: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, ip: a("198.51.100.1"), want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := keys.Allowed(tc.prefixes, tc.ip); got != tc.want {
				t.Errorf("Allowed(%v, %v) = %v, want %v", tc.prefixes, tc.ip, got, tc.want)
			}
		})
	}
	t.Run("no allocations", func(t *testing.T) {
		ips := []netip.Addr{a("10.1.2.3"), a("::ffff:192.0.2.1"), a("2001:db8::1%eth0")}
		if n := testing.AllocsPerRun(100, func() {
			for _, ip := range ips {
				_ = keys.Allowed(list, ip)
			}
		}); n != 0 {
			t.Errorf("Allowed allocates %v times per run, want 0", n)
		}
	})
}
