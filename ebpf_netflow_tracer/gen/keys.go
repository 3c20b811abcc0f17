package main

import (
	"fmt"
	"regexp"
	"strings"
)

// key is one key=value of a trace line's metadata, in the order the line prints them.
type key struct {
	Name string // as printed: name=
	Fmt  string // its printf conversion
	Expr string // its bpftrace expression, in the context of the traced process
	Agg  bool   // a key of the aggregate lines too (one of their maps' keys)
	kind kind
}

type kind int

const (
	plain  kind = iota // Expr, read where the line is printed, or kept with the socket for ASYNC
	ret                // the connect's outcome, $ret: lines on → only
	exe                // the executable's name: format and expression by the name class
	conn               // the connection's identity, $cid-$ct (line format 2): not on aggregate lines
	reconn             // "reconnect=1 " when $rcn, on → lines only (see reMark)
	comm               // the thread's name, always last: likewise
)

// keys is the metadata of every line, in order (docs/line-format.md). Adding a key here adds
// it to every variant; a plain key is also kept per socket for the connects printed later
// (ASYNC), and with Agg true it becomes a key of the aggregate maps, so that the lines of
// the aggregate variants carry it too (cmd/netflow-trace-filter reads the map layout from
// the "# keys" line the aggregate scripts print first).
var keys = []key{
	{Name: "pid", Fmt: "%d", Expr: "pid", Agg: true},
	{Name: "tid", Fmt: "%d", Expr: "tid"},
	{Name: "uid", Fmt: "%d", Expr: "uid", Agg: true},
	{Name: "ret", Fmt: "%d", Expr: "$ret", Agg: true, kind: ret},
	{Name: "exe", kind: exe},
	{Name: "cgroup", Fmt: "%llu", Expr: "cgroup"},
	{Name: "conn", kind: conn},
	{Name: "reconnect", kind: reconn},
	{Name: "comm", kind: comm},
}

// The name classes (NAMES in the scripts): how exe= and comm= print.
const (
	clsPlain   = "PLAIN"   // both printable ASCII, exe without space or backslash: %s
	clsEscaped = "ESCAPED" // %r: bytes outside printable ASCII as \xNN
	clsHexExe  = "HEX_EXE" // exe with %rx (every byte \xNN), comm with %r
)

// Where a line is printed: a connect (→, with ret=) or an accept (←) in the traced process,
// or a connect printed later from what was kept per socket (ASYNC: $i is its @syn entry).
const (
	ctxConnect = "connect"
	ctxAccept  = "accept"
	ctxSyn     = "syn"
)

// Meta is the printf format of the metadata for a name class and a context.
func (v variant) Meta(cls, ctx string) (string, error) {
	var b strings.Builder
	for _, k := range v.keys {
		if (k.kind == ret || k.kind == reconn) && ctx == ctxAccept {
			continue
		}
		if k.kind == reconn {
			// "reconnect=1 " or nothing: expand makes the printf two, by $rcn (a
			// string argument would cost the BPF stack more than this).
			b.WriteString(reMark)
			continue
		}
		f := k.Fmt
		switch k.kind {
		case conn:
			f = "%lx-%lx"
		case exe:
			f = map[string]string{clsPlain: "%s", clsEscaped: "%r", clsHexExe: "%rx"}[cls]
		case comm:
			f = map[string]string{clsPlain: "%s", clsEscaped: "%r", clsHexExe: "%r"}[cls]
		}
		if f == "" {
			return "", fmt.Errorf("key %s: no format for class %q", k.Name, cls)
		}
		b.WriteString(k.Name + "=" + f)
		if k.kind != comm {
			b.WriteByte(' ')
		}
	}
	return b.String(), nil
}

// Args is the printf arguments of the metadata, matching Meta.
func (v variant) Args(cls, ctx string) string {
	var args []string
	stored := 0
	for _, k := range v.keys {
		a := k.Expr
		switch k.kind {
		case plain:
			if ctx == ctxSyn {
				a = fmt.Sprintf("$i.%d", stored)
			}
			stored++
		case ret:
			if ctx == ctxAccept {
				continue
			}
		case conn:
			a = "$cid, $ct"
		case reconn:
			continue
		case exe:
			switch {
			case ctx == ctxSyn && cls == clsPlain:
				a = "@synexes[$key]"
			case ctx == ctxSyn:
				a = "@synexe[$key]"
			case cls == clsPlain:
				a = "str($exe->d_name.name)"
			default:
				a = "buf($exe->d_name.name, $xn)"
			}
		case comm:
			switch {
			case ctx == ctxSyn && cls == clsPlain:
				a = "@syncomms[$key]"
			case ctx == ctxSyn:
				a = "@syncomm[$key]"
			case cls == clsPlain:
				a = "comm"
			default:
				a = "buf(comm, 16)"
			}
		}
		args = append(args, a)
	}
	return strings.Join(args, ", ")
}

// Syn is what a connect printed later keeps per socket (its @syn entry): the plain keys, in
// order, then the name class, at index ClsIndex.
func (v variant) Syn() string {
	var s []string
	for _, k := range v.keys {
		if k.kind == plain {
			s = append(s, k.Expr)
		}
	}
	return strings.Join(append(s, "$cls"), ", ")
}

// ClsIndex is the index of the name class in an @syn entry.
func (v variant) ClsIndex() int {
	n := 0
	for _, k := range v.keys {
		if k.kind == plain {
			n++
		}
	}
	return n
}

// AggKeys is the aggregate maps' keys after the endpoints, for a connect (@out) or an
// accept (@in).
func (v variant) AggKeys(ctx string) string {
	var s []string
	for _, k := range v.aggKeys(ctx) {
		s = append(s, k.Expr)
	}
	return strings.Join(s, ", ")
}

// AggNames names them, for the "# keys" line the filter reads.
func (v variant) AggNames(ctx string) string {
	var s []string
	for _, k := range v.aggKeys(ctx) {
		s = append(s, k.Name)
	}
	return strings.Join(s, " ")
}

func (v variant) aggKeys(ctx string) []key {
	var ks []key
	for _, k := range v.keys {
		if k.Agg && (k.kind == plain || k.kind == ret && ctx == ctxConnect) {
			ks = append(ks, k)
		}
	}
	return ks
}

// Async is the six blocks that print a connect when its socket leaves SYN_SENT: one per
// name class and address family (one for all is more than BPF's 512-byte stack).
func (v variant) Async() []async {
	var as []async
	for _, cls := range []string{clsPlain, clsEscaped, clsHexExe} {
		for _, six := range []bool{false, true} {
			a := async{Cls: cls, Family: "AF_INET", Ends: "%s:%d→%s:%d",
				Daddr: "ntop(AF_INET, args->daddr)", Saddr: "ntop(AF_INET, args->saddr)"}
			if six {
				a = async{Cls: cls, Family: "AF_INET6", Ends: "[%s]:%d→[%s]:%d",
					Daddr: "ntop(AF_INET6, args->daddr_v6)", Saddr: "ntop(AF_INET6, args->saddr_v6)"}
			}
			a.Exe, a.Comm = "@synexe", "@syncomm"
			if cls == clsPlain {
				a.Exe, a.Comm = "@synexes", "@syncomms"
			}
			a.v = v
			as = append(as, a)
		}
	}
	return as
}

type async struct {
	Cls, Family, Ends, Daddr, Saddr string
	Exe, Comm                       string // the maps that keep the names
	v                               variant
}

func (a async) Meta() (string, error) { return a.v.Meta(a.Cls, ctxSyn) }
func (a async) Args() string          { return a.v.Args(a.Cls, ctxSyn) }
func (a async) ClsIndex() int         { return a.v.ClsIndex() }

// aggCount is one place that counts a connection in the aggregate maps.
type aggCount struct {
	Map  string // out or in
	Ends string // the endpoint keys
	Keys string // the metadata keys
}

// Out counts a connect: remote address and port, local address, then the keys.
func (v variant) Out() aggCount {
	return aggCount{"out", "$r, $rport, $l", v.AggKeys(ctxConnect)}
}

// In counts an accept: remote address, local address and port, then the keys.
func (v variant) In() aggCount {
	return aggCount{"in", "$r, $l, $lport", v.AggKeys(ctxAccept)}
}

// CtIndex and RcIndex are the indexes, in an @syn entry, of the time the connect began
// and of its reconnect flag, after the name class.
func (v variant) CtIndex() int { return v.ClsIndex() + 1 }
func (v variant) RcIndex() int { return v.ClsIndex() + 2 }
func (a async) CtIndex() int   { return a.v.CtIndex() }
func (a async) RcIndex() int   { return a.v.RcIndex() }

// rare is one of the blocks that print a connect's line with names to escape, or ends of
// two families (the @opencls value Cls).
type rare struct {
	Cls string
}

// Rare is those blocks, one per name class.
func (v variant) Rare() []rare {
	return []rare{{clsHexExe}, {clsEscaped}}
}

// reMark marks where reconnect=1 goes in a printf's format; expand turns each such printf
// into two, one with "reconnect=1 " and one without, chosen by $rcn.
const reMark = "{RECONNECT}"

var rePrintf = regexp.MustCompile(`(?m)^( *)(printf\("[^"]*)\{RECONNECT\}([^"]*",(?:[^;]|\n)*?\);)$`)

// splitReconnect makes every printf with reMark two.
func splitReconnect(text string) string {
	return rePrintf.ReplaceAllStringFunc(text, func(m string) string {
		p := rePrintf.FindStringSubmatch(m)
		ind, head, tail := p[1], p[2], p[3]
		with := strings.ReplaceAll(head+"reconnect=1 "+tail, "\n"+ind, "\n"+ind+"  ")
		without := strings.ReplaceAll(head+tail, "\n"+ind, "\n"+ind+"  ")
		return ind + "if ($rcn != 0) {\n" + ind + "  " + with + "\n" + ind + "} else {\n" + ind + "  " + without + "\n" + ind + "}"
	})
}

// rareTp is one of the blocks of netflow_tp.bt that print a connect's line with names to
// escape, or ends of two families: Code is its @opencls value (class * 4 + remote IPv6 * 2
// + local IPv6).
type rareTp struct {
	Cls, Code, Ends string
}

// RareTp is those blocks.
func (v variant) RareTp() []rareTp {
	var rs []rareTp
	for _, cls := range []string{clsHexExe, clsEscaped} {
		for _, f := range []struct{ code, ends string }{
			{"0", "%s:%d→%s:%d"}, {"1", "%s:%d→[%s]:%d"}, {"2", "[%s]:%d→%s:%d"}, {"3", "[%s]:%d→[%s]:%d"},
		} {
			rs = append(rs, rareTp{cls, cls + " * 4 + " + f.code, f.ends})
		}
	}
	return rs
}
