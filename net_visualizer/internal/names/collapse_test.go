package names

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCollapse(t *testing.T) {
	tests := []struct {
		addr string
		bits int
		want string // "" for the zero Prefix
	}{
		{"10.1.2.3", 24, "10.1.2.0/24"},
		{"10.1.2.3", 16, "10.1.0.0/16"},
		{"10.1.2.3", 32, "10.1.2.3/32"},
		{"10.1.2.3", 0, "0.0.0.0/0"},
		{"::ffff:10.1.2.3", 24, "10.1.2.0/24"}, // mapped groups with IPv4
		{"2001:db8::1:2:3", 24, "2001:db8::1:2:0/120"},
		{"2001:db8::1:2:3", 16, "2001:db8::1:2:0/112"},
		{"2001:db8::1:2:3", 8, "2001:db8::1:0:0/104"},
		{"2001:db8::1:2:3", 32, "2001:db8::1:2:3/128"},
		{"2001:db8::1:2:3", 0, "2001:db8::1:0:0/96"},
		{"fe80::1%eth0", 24, "fe80::/120"},
		{"10.1.2.3", 33, ""},
		{"10.1.2.3", -1, ""},
		{"", 24, ""},
	}
	for _, tt := range tests {
		t.Run(tt.addr+"/"+itoa(tt.bits), func(t *testing.T) {
			var a netip.Addr
			if tt.addr != "" {
				a = netip.MustParseAddr(tt.addr)
			}
			got := Collapse(a, tt.bits)
			if tt.want == "" {
				assert.False(t, got.IsValid(), "got %v", got)
				return
			}
			assert.Equal(t, tt.want, got.String())
		})
	}
}

// TestCollapseGroups checks what -collapse is for: same network, same group.
func TestCollapseGroups(t *testing.T) {
	same := func(a, b string, bits int) bool {
		return Collapse(netip.MustParseAddr(a), bits) == Collapse(netip.MustParseAddr(b), bits)
	}
	assert.True(t, same("10.1.2.3", "10.1.2.200", 24))
	assert.False(t, same("10.1.2.3", "10.1.3.3", 24))
	assert.True(t, same("10.1.2.3", "::ffff:10.1.2.9", 24))
	assert.False(t, same("0.0.0.1", "::1", 0), "IPv4 and IPv6 never share a group")
}

func TestParseCollapse(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr string
	}{
		{in: "/24", want: 24},
		{in: "24", want: 24},
		{in: "/0", want: 0},
		{in: "32", want: 32},
		{in: " /16 ", want: 16},
		{in: "/33", wantErr: `collapse "/33": prefix length must be 0 to 32`},
		{in: "/99999999999999999999", wantErr: `collapse "/99999999999999999999": prefix length must be 0 to 32`},
		{in: "", wantErr: `collapse "": want a prefix length such as /24`},
		{in: "/", wantErr: `collapse "/": want a prefix length such as /24`},
		{in: "-8", wantErr: `collapse "-8": want a prefix length such as /24`},
		{in: "+8", wantErr: `collapse "+8": want a prefix length such as /24`},
		{in: "10.0.0.0/8", wantErr: `collapse "10.0.0.0/8": want a prefix length such as /24`},
		{in: "//24", wantErr: `collapse "//24": want a prefix length such as /24`},
		{in: "/24\n", want: 24},
		{in: "２４", wantErr: `collapse "２４": want a prefix length such as /24`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCollapse(tt.in)
			if tt.wantErr != "" {
				assert.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func itoa(n int) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
