package filter

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pg is a php-fpm worker connecting to PostgreSQL on another host.
func pg() *Conn {
	return &Conn{
		Comm: "php-fpm: pool www", PID: 812, UID: 33, Direction: "out",
		LocalAddr: "10.0.0.2", RemoteAddr: "10.0.0.5", LocalPort: 40312, RemotePort: 5432,
		ServerPort: 5432, Service: "postgresql", Host: "web1",
	}
}

// web is nginx accepting a connection over IPv6 loopback, with uid unknown.
func web() *Conn {
	return &Conn{
		Comm: "nginx", PID: 77, UID: -1, Direction: "in",
		LocalAddr: "::1", RemoteAddr: "::1", LocalPort: 443, RemotePort: 51044,
		ServerPort: 443, Service: "https", Loopback: true,
	}
}

// refused is a connect(2) that failed with ECONNREFUSED.
func refused() *Conn {
	return &Conn{
		Comm: "curl", PID: 9, UID: 1000, Direction: "out",
		LocalAddr: "192.168.1.4", RemoteAddr: "::ffff:172.16.9.9", LocalPort: 33000, RemotePort: 8080,
		ServerPort: 8080, Failed: true, Ret: -111,
	}
}

func TestMatch(t *testing.T) {
	conns := map[string]*Conn{"pg": pg(), "web": web(), "refused": refused()}
	tests := []struct {
		expr string
		want []string // names of the conns that match, sorted
	}{
		{`true`, []string{"pg", "refused", "web"}},
		{`comm == "nginx"`, []string{"web"}},
		{`comm matches "^php-fpm" && direction == "out"`, []string{"pg"}},
		{`comm contains "pool"`, []string{"pg"}},
		{`pid == 812`, []string{"pg"}},
		{`uid == -1`, []string{"web"}},
		{`uid >= 1000`, []string{"refused"}},
		{`direction == "in"`, []string{"web"}},
		{`local_addr == "10.0.0.2"`, []string{"pg"}},
		{`remote_addr == "::1"`, []string{"web"}},
		{`local_port == 443`, []string{"web"}},
		{`remote_port == 8080`, []string{"refused"}},
		{`server_port in [443, 5432]`, []string{"pg", "web"}},
		{`service == "postgresql"`, []string{"pg"}},
		{`service == ""`, []string{"refused"}},
		{`host == "web1"`, []string{"pg"}},
		{`failed`, []string{"refused"}},
		{`ret == -111`, []string{"refused"}},
		{`loopback`, []string{"web"}},
		{`not loopback and not failed`, []string{"pg"}},
		{`in_cidr(remote_addr, "10.0.0.0/8")`, []string{"pg"}},
		{`in_cidr(remote_addr, "10.0.0.5")`, []string{"pg"}},
		{`in_cidr(remote_addr, "::1/128")`, []string{"web"}},
		{`in_cidr(remote_addr, "::/0")`, []string{"web"}},
		{`in_cidr(remote_addr, "0.0.0.0/0")`, []string{"pg", "refused"}}, // mapped counts as IPv4
		{`in_cidr(remote_addr, "172.16.0.0/12")`, []string{"refused"}},
		{`in_cidr(remote_addr, "::ffff:172.16.0.0/108")`, []string{"refused"}},
		{`in_cidr(local_addr, "192.168.0.0/16") || in_cidr(local_addr, "10.0.0.0/8")`, []string{"pg", "refused"}},
		{`in_cidr(host, "10.0.0.0/8")`, nil},                        // not an address: in no network
		{`in_cidr(remote_addr, "10.0.0." + "0/8")`, []string{"pg"}}, // built at run time
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			f, err := Compile(tt.expr)
			require.NoError(t, err)
			var got []string
			for _, name := range []string{"pg", "refused", "web"} {
				ok, err := f.Match(conns[name])
				require.NoError(t, err)
				if ok {
					got = append(got, name)
				}
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name, expr string
		want       []string // substrings of the error
	}{
		{"empty", "  ", []string{"filter: empty expression"}},
		{"unknown field", `pid == 1 && bogus == 2`, []string{"filter: ", "unknown name bogus", "(1:13)", "^"}},
		{"go field name", `Comm == "x"`, []string{"filter: ", "unknown name Comm", "(1:1)"}},
		{"not bool", `pid + 1`, []string{"filter: ", "expected bool"}},
		{"type mismatch", `pid == "812"`, []string{"filter: ", "mismatched types int and string", "(1:5)"}},
		{"syntax", `comm == `, []string{"filter: ", "(1:"}},
		{"bad cidr", `pid > 0 && in_cidr(remote_addr, "10.0.0.0/33")`, []string{
			`filter: in_cidr: "10.0.0.0/33" is not a network`, "(1:33)", "\n | pid > 0 && in_cidr(remote_addr, \"10.0.0.0/33\")\n | ................................^"}},
		{"cidr arity", `in_cidr(remote_addr)`, []string{"filter: ", "not enough arguments"}},
		{"cidr types", `in_cidr(remote_port, "10.0.0.0/8")`, []string{"filter: ", "cannot use int as argument"}},
		{"second line", "pid == 1 &&\n  nope", []string{"unknown name nope", "(2:3)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile(tt.expr)
			require.Error(t, err)
			assert.Nil(t, f)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestMatchErrors(t *testing.T) {
	f, err := Compile(`in_cidr(remote_addr, comm)`) // a network built at run time from hostile input
	require.NoError(t, err)
	_, err = f.Match(pg())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `filter: in_cidr: "php-fpm: pool www" is not a network`)

	_, err = f.Match(nil)
	assert.EqualError(t, err, "filter: nil connection")
}

func TestMatchConcurrent(t *testing.T) {
	f, err := Compile(`in_cidr(remote_addr, "10.0.0.0/8") && comm startsWith "php"`)
	require.NoError(t, err)
	var wg sync.WaitGroup
	results := make([][2]bool, 8)
	errs := make([]error, 8)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for n := 0; n < 500; n++ {
				a, err1 := f.Match(pg())
				b, err2 := f.Match(web())
				if err1 != nil || err2 != nil || !a || b {
					results[i], errs[i] = [2]bool{a, b}, fmt.Errorf("%v %v", err1, err2)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	for i := range errs {
		assert.NoError(t, errs[i], "goroutine %d got %v", i, results[i])
	}
}

func TestShortcuts(t *testing.T) {
	tests := []struct {
		name      string
		pid, port int
		comm      string
		noLoop    bool
		want      string
		match     []string
	}{
		{name: "none", want: ""},
		{name: "pid", pid: 812, want: "pid == 812", match: []string{"pg"}},
		{name: "comm", comm: "nginx", want: `comm == "nginx"`, match: []string{"web"}},
		{name: "port remote end", port: 5432, want: "(local_port == 5432 || remote_port == 5432)", match: []string{"pg"}},
		{name: "port local end", port: 443, match: []string{"web"}},
		{name: "exclude loopback", noLoop: true, want: "!loopback", match: []string{"pg", "refused"}},
		{name: "all", pid: 77, comm: "nginx", port: 443, noLoop: true,
			want: `pid == 77 && comm == "nginx" && (local_port == 443 || remote_port == 443) && !loopback`},
		{name: "comm with spaces and colon", comm: "php-fpm: pool www", match: []string{"pg"}},
	}
	conns := map[string]*Conn{"pg": pg(), "web": web(), "refused": refused()}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Shortcuts(tt.pid, tt.comm, tt.port, tt.noLoop)
			if tt.want != "" || tt.name == "none" {
				assert.Equal(t, tt.want, got)
			}
			if got == "" {
				return
			}
			f, err := Compile(got)
			require.NoError(t, err)
			var matched []string
			for _, name := range []string{"pg", "refused", "web"} {
				ok, err := f.Match(conns[name])
				require.NoError(t, err)
				if ok {
					matched = append(matched, name)
				}
			}
			assert.Equal(t, tt.match, matched)
		})
	}
}

// hostileNames are process names chosen to break out of a string literal, or to be read back
// differently from what they are.
var hostileNames = []string{
	`say "hi"`,
	`x" || true || "`,
	`x' || true || '`,
	`back\slash`,
	`trailing\`,
	`\"`,
	"new\nline",
	"carriage\rreturn",
	"crlf\r\n",
	"tab\there",
	"nul\x00byte",
	"del\x7f",
	"not utf-8 \xff\xfe",
	"\x80",
	"\xc3", // a lone lead byte
	"ÿ",    // U+00FF, which expr would read from "\xff"
	"snowman ☃ and \u2028 line separator",
	"emoji 🐘",
	"`backtick`",
	"/* comment */",
	"// comment",
	"${x}",
	`\x41`,
	`\u0041`,
	strings.Repeat("A", 5000),
}

func TestShortcutsHostileComm(t *testing.T) {
	for _, name := range hostileNames {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			checkCommRoundTrip(t, name)
		})
	}
}

// checkCommRoundTrip checks that the -comm shortcut for name matches that name and no other.
func checkCommRoundTrip(t *testing.T, name string) {
	src := Shortcuts(0, name, 0, false)
	f, err := Compile(src)
	require.NoError(t, err, "expression %q", src)
	ok, err := f.Match(&Conn{Comm: name})
	require.NoError(t, err)
	assert.True(t, ok, "%q does not match its own name; expression %q", name, src)
	for _, other := range []string{"", "x", name + "x", "x" + name, strings.ToValidUTF8(name, "\uFFFD")} {
		if other == name {
			continue
		}
		ok, err := f.Match(&Conn{Comm: other})
		require.NoError(t, err)
		assert.False(t, ok, "%q matches %q; expression %q", src, other, src)
	}
}

func FuzzShortcutsComm(f *testing.F) {
	for _, name := range hostileNames {
		f.Add(name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if name == "" {
			assert.Equal(t, "", Shortcuts(0, name, 0, false))
			return
		}
		checkCommRoundTrip(t, name)
	})
}

func TestAnd(t *testing.T) {
	tests := []struct {
		name  string
		exprs []string
		want  string
	}{
		{"none", nil, ""},
		{"all blank", []string{"", "  ", "\n"}, ""},
		{"one", []string{"pid == 1"}, "(pid == 1)"},
		{"skips blank", []string{"", "pid == 1", " ", "failed"}, "(pid == 1) && (failed)"},
		{"or stays inside", []string{"pid == 1 || pid == 2", "failed"}, "(pid == 1 || pid == 2) && (failed)"},
		{"line comment", []string{"failed // broken ones", "pid == 1"}, "(failed // broken ones\n) && (pid == 1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, And(tt.exprs...))
		})
	}
}

// TestAndKeepsMeaning proves the parentheses matter: without them "pid == 1 || true && false"
// would match everything.
func TestAndKeepsMeaning(t *testing.T) {
	tests := []struct {
		name  string
		exprs []string
		conn  *Conn
		want  bool
	}{
		{"or does not escape", []string{"pid == 812 || uid == 0", "failed"}, pg(), false},
		{"both true", []string{"pid == 812 || uid == 0", "!failed"}, pg(), true},
		{"comment does not swallow", []string{"!failed // healthy", "pid == 1"}, pg(), false},
		{"shortcut and filter", []string{Shortcuts(0, "", 5432, true), `service == "postgresql"`}, pg(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile(And(tt.exprs...))
			require.NoError(t, err)
			got, err := f.Match(tt.conn)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestQuoteIsLiteralForUTF8(t *testing.T) {
	assert.Equal(t, `"a\"b\\c\n"`, Quote("a\"b\\c\n"))
	assert.Equal(t, `fromBase64("/w==")`, Quote("\xff"))
}
