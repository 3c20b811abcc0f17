package names

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const namesFile = `# office and lab
10.0.0.0/8        office   network   # runs of spaces collapse
10.1.0.0/16       building 1
10.1.2.3          db-primary
0.0.0.0/0         the internet

2001:db8::/32     lab
2001:db8:1::/48   lab rack 1
::ffff:192.0.2.0/120   mapped test net
fe80::1           link-local router
`

func TestLoadNamesLookup(t *testing.T) {
	tab, err := LoadNames(strings.NewReader(namesFile), "names.txt")
	require.NoError(t, err)
	assert.Equal(t, 8, tab.Len())
	tests := []struct {
		addr, want string
		ok         bool
	}{
		{"10.1.2.3", "db-primary", true},
		{"10.1.2.4", "building 1", true},
		{"10.2.0.1", "office network", true},
		{"8.8.8.8", "the internet", true},
		{"::ffff:10.1.2.3", "db-primary", true}, // IPv4-mapped IPv6 is IPv4
		{"::ffff:8.8.8.8", "the internet", true},
		{"192.0.2.77", "mapped test net", true}, // a mapped network is an IPv4 one
		{"2001:db8:1::5", "lab rack 1", true},
		{"2001:db8:2::5", "lab", true},
		{"2001:db9::1", "", false}, // 0.0.0.0/0 holds no IPv6
		{"fe80::1%eth0", "link-local router", true},
		{"::1", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			got, ok := tab.Lookup(netip.MustParseAddr(tt.addr))
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestLookupEmpty(t *testing.T) {
	var nilTable *Table
	for name, tab := range map[string]*Table{"nil": nilTable, "zero": {}, "merged nothing": Merge()} {
		t.Run(name, func(t *testing.T) {
			got, ok := tab.Lookup(netip.MustParseAddr("10.0.0.1"))
			assert.False(t, ok)
			assert.Empty(t, got)
			_, ok = tab.Lookup(netip.Addr{})
			assert.False(t, ok)
			assert.Equal(t, 0, tab.Len())
		})
	}
}

func TestLoadNamesErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"bad address", "# c\n\n10.0.0.300 x\n", `names.txt:3: bad address "10.0.0.300"`},
		{"bad length", "10.0.0.0/33 x\n", `names.txt:1: bad network "10.0.0.0/33": want an address or a network such as 10.0.0.0/8`},
		{"host bits", "10.1.2.3/16 x\n", `names.txt:1: network "10.1.2.3/16" has bits set past /16: did you mean 10.1.0.0/16?`},
		{"short mapped", "::ffff:0:0/80 x\n", `names.txt:1: bad network "::ffff:0:0/80": an IPv4-mapped network needs a length of at least 96`},
		{"no label", "10.0.0.1   # only a comment\n", `names.txt:1: 10.0.0.1/32 has no label`},
		{"duplicate", "10.0.0.0/8 a\n10.0.0.0/8 b\n", `names.txt:2: 10.0.0.0/8 already labelled on line 1`},
		{"duplicate mapped", "10.0.0.1 a\n::ffff:10.0.0.1 b\n", `names.txt:2: 10.0.0.1/32 already labelled on line 1`},
		{"escape sequence", "10.0.0.1 evil\x1b[31m\n", `names.txt:1: label "evil\x1b[31m" has a control character U+001B`},
		{"bidi override", "10.0.0.1 a\u202eb\n", `names.txt:1: label "a\u202eb" has a control character U+202E`},
		{"not utf-8", "10.0.0.1 \xff\n", `names.txt:1: label "\xff" is not UTF-8`},
		{"hostile address echoed quoted", "\"\x00\n", `names.txt:1: bad address "\"\x00"`},
		{"line too long", "10.0.0.1 " + strings.Repeat("a", maxLine) + "\n", `names.txt:1: line longer than 65536 bytes`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := LoadNames(strings.NewReader(tt.in), "names.txt")
			assert.EqualError(t, err, tt.want)
			assert.Nil(t, tab)
		})
	}
}

func TestLoadNamesCRLF(t *testing.T) {
	tab, err := LoadNames(strings.NewReader("10.0.0.1 db\r\n10.0.0.2 web\r\n"), "dos.txt")
	require.NoError(t, err)
	got, ok := tab.Lookup(netip.MustParseAddr("10.0.0.1"))
	assert.True(t, ok)
	assert.Equal(t, "db", got)
}

const hostsFile = `127.0.0.1	localhost
127.0.1.1	myhost.example.org	myhost
127.0.0.1	second-name-loses
# The following lines are desirable for IPv6 capable hosts
::1     localhost ip6-localhost ip6-loopback
ff02::1 ip6-allnodes
192.0.2.10 db.example.org db # trailing comment
`

func TestLoadHosts(t *testing.T) {
	tab, err := LoadHosts(strings.NewReader(hostsFile), "/etc/hosts")
	require.NoError(t, err)
	tests := []struct {
		addr, want string
		ok         bool
	}{
		{"127.0.0.1", "localhost", true},
		{"127.0.1.1", "myhost.example.org", true},
		{"::1", "localhost", true},
		{"ff02::1", "ip6-allnodes", true},
		{"192.0.2.10", "db.example.org", true},
		{"::ffff:192.0.2.10", "db.example.org", true},
		{"192.0.2.11", "", false}, // hosts files label addresses, not networks
		{"127.0.0.2", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			got, ok := tab.Lookup(netip.MustParseAddr(tt.addr))
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestLoadHostsErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"network", "10.0.0.0/8 office\n", `hosts:1: bad address "10.0.0.0/8"`},
		{"not an address", "localhost 127.0.0.1\n", `hosts:1: bad address "localhost"`},
		{"no name", "\n192.0.2.1\n", `hosts:2: 192.0.2.1 has no name`},
		{"control character", "192.0.2.1 a\x07b\n", `hosts:1: label "a\ab" has a control character U+0007`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := LoadHosts(strings.NewReader(tt.in), "hosts")
			assert.EqualError(t, err, tt.want)
			assert.Nil(t, tab)
		})
	}
}

func TestMerge(t *testing.T) {
	user, err := LoadNames(strings.NewReader("127.0.0.1 my laptop\n10.0.0.0/8 office\n"), "names")
	require.NoError(t, err)
	hosts, err := LoadHosts(strings.NewReader("127.0.0.1 localhost\n10.0.0.7 printer\n"), "hosts")
	require.NoError(t, err)

	tests := []struct {
		name   string
		tables []*Table
		addr   string
		want   string
	}{
		{"earlier wins on equal prefix", []*Table{user, hosts}, "127.0.0.1", "my laptop"},
		{"order decides", []*Table{hosts, user}, "127.0.0.1", "localhost"},
		{"longest prefix across tables", []*Table{user, hosts}, "10.0.0.7", "printer"},
		{"shorter prefix still used", []*Table{user, hosts}, "10.0.0.8", "office"},
		{"nil skipped", []*Table{nil, hosts, nil}, "10.0.0.7", "printer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Merge(tt.tables...).Lookup(netip.MustParseAddr(tt.addr))
			assert.True(t, ok)
			assert.Equal(t, tt.want, got)
		})
	}

	// Merge leaves its inputs alone.
	_ = Merge(user, hosts)
	assert.Equal(t, 2, user.Len())
	assert.Equal(t, 2, hosts.Len())
	_, ok := user.Lookup(netip.MustParseAddr("10.0.0.7"))
	assert.True(t, ok) // from office
	got, _ := user.Lookup(netip.MustParseAddr("10.0.0.7"))
	assert.Equal(t, "office", got)
}

func BenchmarkLookup(b *testing.B) {
	tab, err := LoadNames(strings.NewReader(namesFile), "names.txt")
	if err != nil {
		b.Fatal(err)
	}
	addrs := []netip.Addr{
		netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("8.8.8.8"),
		netip.MustParseAddr("2001:db8:1::5"), netip.MustParseAddr("::1"),
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		tab.Lookup(addrs[i%len(addrs)])
	}
}
