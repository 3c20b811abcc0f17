// Package filter selects connections with boolean expressions written in the expr language
// (github.com/expr-lang/expr; grammar: https://expr-lang.org/docs/language-definition).
//
// An expression sees one side of one connection (one trace line) and must yield true or
// false: true keeps the connection. Compile rejects, before any line is read, an expression
// that does not parse, names an unknown field, compares values of different types or does
// not yield a bool; the error names the problem and its line:column and shows where it is.
//
// FIELDS
//
//	comm         string  process name, as printed by the tracer
//	pid          int     process id (thread group id)
//	uid          int     user id of the process; -1 when the line has no uid=
//	direction    string  "out": the process connected (→); "in": it accepted (←)
//	local_addr   string  this host's address: "127.0.0.1", "2001:db8::1" (no brackets, no port)
//	remote_addr  string  the peer's address, written the same way
//	local_port   int     this host's port
//	remote_port  int     the peer's port
//	server_port  int     the server's port: remote_port for "out", local_port for "in"
//	service      string  IANA TCP service name of server_port ("https", "postgresql"); "" if none
//	host         string  host= of the line (which machine captured it); "" when absent
//	failed       bool    connect(2) failed (ret= negative, other than -EINPROGRESS)
//	ret          int     connect(2)'s return value from ret=; 0 when absent
//	loopback     bool    the remote end is a loopback address (127.0.0.0/8, ::1), whatever
//	                     the local end says (a failed connect's is 0.0.0.0)
//
// Close tracing (line format version 2), known on a close line:
//
//	closed_by        string  who ended the connection: "client", "server", "reset" (sent or
//	                         received), "timeout"; "open" on the open line of a connection
//	                         with conn= (not closed, as far as that line knows); "" when the
//	                         line has no close tracing, or the connect failed (end=never)
//	bytes            int     bytes_to_server + bytes_to_client
//	bytes_to_server  int     payload bytes the client sent (this end's sent= or recv=)
//	bytes_to_client  int     payload bytes the server sent
//	duration         float   milliseconds from the connect or accept to the close (dur_us=)
//	retransmits      int     segments this end retransmitted (retrans=)
//
// An expression decides on each line, and a connection is drawn when one of its ends is kept;
// an end that has a close line is judged by it, not by its open line, so that
// closed_by == "reset" or bytes > 100*1024*1024 selects by how the connection ended even though
// the open line came first (and knew nothing of it). An end whose close line is not in the
// trace is judged by its open line: closed_by "open", zero bytes.
//
// FUNCTIONS
//
//	in_cidr(addr, cidr)  addr lies in the network cidr: in_cidr(remote_addr, "10.0.0.0/8"),
//	                     in_cidr(local_addr, "fd00::/8"); a single address ("10.1.2.3") is a
//	                     network of one. An IPv4-mapped IPv6 address counts as IPv4. An addr that
//	                     is not an address is in no network. A constant cidr that does not
//	                     parse is a compile error.
//
// expr's own operators and builtins work too: == != < <= > >=, && || ! (and, or, not),
// in [..], matches (RE2 regular expression), contains, startsWith, endsWith, lower(), upper(),
// len(), and more. Strings are written in double or single quotes with Go's escapes.
//
// EXAMPLES
//
//	service == "postgresql" && direction == "out"
//	comm matches "^php-fpm" && failed
//	!loopback && !in_cidr(remote_addr, "10.0.0.0/8")
//	server_port in [80, 443, 8080] || uid == 0
//	closed_by == "reset" || bytes > 100*1024*1024
//
// Derive fills server_port, service and loopback of a Conn from its other fields. Shortcuts
// turns the -pid, -comm, -port and -exclude-loopback flags into an expression, and And joins
// it with a user's -filter.
package filter

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"netflow/net_visualizer/internal/trace"
)

// Conn is what a filter expression sees: one side of one connection.
// The expr tags are the names expressions use; see the package documentation.
type Conn struct {
	Comm       string `expr:"comm"`
	PID        int    `expr:"pid"`
	UID        int    `expr:"uid"`       // -1 when unknown
	Direction  string `expr:"direction"` // "out" or "in"
	LocalAddr  string `expr:"local_addr"`
	RemoteAddr string `expr:"remote_addr"` // "127.0.0.1", "2001:db8::1": no brackets, no port
	LocalPort  int    `expr:"local_port"`
	RemotePort int    `expr:"remote_port"`
	ServerPort int    `expr:"server_port"` // RemotePort for "out", LocalPort for "in"
	Service    string `expr:"service"`     // IANA name of ServerPort, "" if none
	Host       string `expr:"host"`        // host= of the line, "" when absent
	Failed     bool   `expr:"failed"`
	Ret        int    `expr:"ret"`
	Loopback   bool   `expr:"loopback"` // the remote end on loopback

	ClosedBy      string  `expr:"closed_by"` // "client", "server", "reset", "timeout", "open" or ""
	Bytes         int     `expr:"bytes"`
	BytesToServer int     `expr:"bytes_to_server"`
	BytesToClient int     `expr:"bytes_to_client"`
	Duration      float64 `expr:"duration"` // milliseconds
	Retransmits   int     `expr:"retransmits"`
}

// Filter is a compiled expression. Match is safe for concurrent use.
type Filter struct {
	src     string
	program *vm.Program
	vms     sync.Pool // of *vm.VM: a VM is not safe for concurrent use, but reusing one saves allocations
}

// Compile compiles src, which must yield a bool over the fields of Conn.
// Errors start with "filter: " and carry expr's message with the line:column of the problem.
func Compile(src string) (*Filter, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("filter: empty expression")
	}
	// Networks named by constant strings are parsed once, here, and checked before any line is
	// read; the map is only read after Compile returns, so Match needs no lock.
	nets := map[string]netip.Prefix{}
	program, err := expr.Compile(src,
		expr.Env(Conn{}),
		expr.AsBool(),
		expr.Function("in_cidr", func(args ...any) (any, error) {
			return inCIDR(nets, args[0].(string), args[1].(string))
		}, new(func(addr, cidr string) bool)),
	)
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	if err := collectNets(program, nets); err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	f := &Filter{src: src, program: program}
	f.vms.New = func() any { return new(vm.VM) }
	return f, nil
}

// String returns the expression as given to Compile.
func (f *Filter) String() string { return f.src }

// Match reports whether c satisfies the expression. An error comes from evaluation
// (for example a cidr built at run time that does not parse) and carries its position.
func (f *Filter) Match(c *Conn) (bool, error) {
	if c == nil {
		return false, errors.New("filter: nil connection")
	}
	m := f.vms.Get().(*vm.VM)
	out, err := m.Run(f.program, c)
	f.vms.Put(m)
	if err != nil {
		return false, fmt.Errorf("filter: %w", err)
	}
	ok, isBool := out.(bool)
	if !isBool { // expr.AsBool makes this unreachable; never let a non-bool through as a match
		return false, fmt.Errorf("filter: expression yields %T, not bool", out)
	}
	return ok, nil
}

// collectNets parses the constant cidr arguments of in_cidr calls into nets, and reports
// the first one that does not parse with its position, in expr's error format.
func collectNets(program *vm.Program, nets map[string]netip.Prefix) error {
	var firstErr error
	ast.Find(program.Node(), func(n ast.Node) bool {
		if firstErr != nil {
			return false
		}
		call, ok := n.(*ast.CallNode)
		if !ok || len(call.Arguments) != 2 {
			return false
		}
		if id, ok := call.Callee.(*ast.IdentifierNode); !ok || id.Value != "in_cidr" {
			return false
		}
		s, ok := call.Arguments[1].(*ast.StringNode)
		if !ok {
			return false // built at run time: parsed, and checked, on each call
		}
		p, err := parseNet(s.Value)
		if err != nil {
			e := &file.Error{Location: s.Location(), Message: err.Error()}
			firstErr = e.Bind(program.Source())
			return false
		}
		nets[s.Value] = p
		return false
	})
	return firstErr
}

func inCIDR(nets map[string]netip.Prefix, addr, cidr string) (bool, error) {
	p, ok := nets[cidr]
	if !ok {
		var err error
		if p, err = parseNet(cidr); err != nil {
			return false, err
		}
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false, nil // not an address (an empty field, say): in no network
	}
	return p.Contains(a.Unmap().WithZone("")), nil
}

// parseNet reads "10.0.0.0/8", "fd00::/8" or a single address. IPv4-mapped IPv6 networks
// are turned into IPv4 ones, as addresses are unmapped before the test.
func parseNet(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("in_cidr: %q is not a network such as \"10.0.0.0/8\"", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("in_cidr: %q is not a network such as \"10.0.0.0/8\"", s)
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// Shortcuts builds the expression for the shortcut flags: -pid (0: any), -comm ("": any),
// -port (0: any; either end of the connection) and -exclude-loopback. It returns "" when
// all are unset. comm is written as a string literal that expr reads back byte for byte,
// whatever it holds (quotes, backslashes, newlines, bytes that are not UTF-8).
func Shortcuts(pid int, comm string, port int, excludeLoopback bool) string {
	var parts []string
	if pid != 0 {
		parts = append(parts, "pid == "+strconv.Itoa(pid))
	}
	if comm != "" {
		// The tracers print a name's non-ASCII bytes as \xNN: -comm café matches caf\xc3\xa9.
		if esc := trace.Escape(comm); esc != comm {
			parts = append(parts, "(comm == "+Quote(comm)+" || comm == "+Quote(esc)+")")
		} else {
			parts = append(parts, "comm == "+Quote(comm))
		}
	}
	if port != 0 {
		p := strconv.Itoa(port)
		parts = append(parts, "(local_port == "+p+" || remote_port == "+p+")")
	}
	if excludeLoopback {
		parts = append(parts, "!loopback")
	}
	return strings.Join(parts, " && ")
}

// Quote returns an expr expression whose value is exactly s. Valid UTF-8 becomes a Go-quoted
// string literal (strconv.Quote), which expr reads with the same escapes. expr decodes \xNN as
// the rune U+00NN, not as a byte, so no literal can hold a byte that is not UTF-8: such a string
// is written as fromBase64("..."), which expr evaluates to the original bytes.
func Quote(s string) string {
	if utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	return "fromBase64(" + strconv.Quote(base64.StdEncoding.EncodeToString([]byte(s))) + ")"
}

// And joins the non-blank expressions with "&&", each in parentheses, so that an "||" in one
// cannot escape into the others. It returns "" when all are blank.
func And(exprs ...string) string {
	var parts []string
	for _, e := range exprs {
		if strings.TrimSpace(e) == "" {
			continue
		}
		if strings.Contains(e, "//") {
			// A trailing // comment would swallow the closing parenthesis: end its line first.
			e += "\n"
		}
		parts = append(parts, "("+e+")")
	}
	return strings.Join(parts, " && ")
}
