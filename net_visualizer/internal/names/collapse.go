package names

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Collapse returns the network of a that -collapse groups it into: for IPv4 (and IPv4-mapped
// IPv6) the first bits bits; for IPv6 the first bits+96 bits, so that both families keep the
// same number of host bits and a group never holds more than 2^(32-bits) addresses:
// -collapse /24 groups 10.1.2.0/24 and 2001:db8::1:2:0/120, /16 groups 10.1.0.0/16 and
// 2001:db8::1:0:0/112, and /0 puts all IPv4 in one group but IPv6 in /96 groups. IPv6 hosts
// of one /64 subnet are therefore not grouped (their low 64 bits are usually random): that
// would need a setting of its own. IPv4 and IPv6 never share a group. The zone is dropped.
// An invalid a, or bits outside 0..32, gives the zero Prefix.
func Collapse(a netip.Addr, bits int) netip.Prefix {
	if !a.IsValid() || bits < 0 || bits > 32 {
		return netip.Prefix{}
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		bits += 96
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

// ParseCollapse reads the value of -collapse: an IPv4 prefix length, "/24" or "24", from 0 to
// 32. See Collapse for what it means for IPv6.
func ParseCollapse(s string) (bits int, err error) {
	digits := strings.TrimPrefix(strings.TrimSpace(s), "/")
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, fmt.Errorf("collapse %q: want a prefix length such as /24", s)
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n > 32 {
		return 0, fmt.Errorf("collapse %q: prefix length must be 0 to 32", s)
	}
	return n, nil
}
