// Package trace reads the line format that joins ebpf_netflow_tracer and
// net_visualizer (docs/line-format.md) into Events.
package trace

import (
	"bytes"
	"net/netip"
	"strconv"
)

// Direction says which side of a connection a line was seen from.
type Direction uint8

const (
	// Out: the local process connected to the remote end (→).
	Out Direction = 1
	// In: the local process accepted a connection from the remote end (←).
	In Direction = 2
)

func (d Direction) String() string {
	switch d {
	case Out:
		return "out"
	case In:
		return "in"
	}
	return "?"
}

// Errno values the tracers put in ret=.
const (
	EINPROGRESS  = 115
	ECONNREFUSED = 111
)

// End is how a connection ended, from the view of the end that printed the close line
// (end= on a close line, docs/line-format.md).
type End uint8

const (
	EndNone      End = iota // not a close line
	EndLocal                // local: this end sent the first FIN
	EndPeer                 // peer: the peer's FIN came first
	EndResetSent            // reset-sent: this end reset it
	EndResetRecv            // reset-recv: the peer reset it
	EndTimeout              // timeout: the kernel gave up
	EndNever                // never: it was never established (a failed connect)
	EndUnknown              // unknown: a capture that does not say (NetMon's TcpConnectionClose)
)

var endNames = [...]string{EndNone: "", EndLocal: "local", EndPeer: "peer", EndResetSent: "reset-sent",
	EndResetRecv: "reset-recv", EndTimeout: "timeout", EndNever: "never", EndUnknown: "unknown"}

func (e End) String() string {
	if int(e) < len(endNames) {
		return endNames[e]
	}
	return "?"
}

// Close is what a close line says of the end of a connection.
type Close struct {
	End       End
	DurUS     uint64 // dur_us=: microseconds from the connect or accept to the close; see HasDur
	Sent      uint64 // sent=: payload bytes this end sent (and the peer acknowledged)
	Recv      uint64 // recv=: payload bytes this end received
	Retrans   uint64 // retrans=: segments this end retransmitted
	ConnectUS uint64 // connect_us=: microseconds from the SYN to established; see HasConnect
	// HasConnect says the line has connect_us= (a connect that was established), HasDur
	// that it has dur_us=.
	HasConnect, HasDur bool
}

// Attr is a metadata key=value pair other than the ones Event has fields for.
type Attr struct {
	Key, Value string
}

// Event is one trace line: one side of one TCP connection.
type Event struct {
	Dir    Direction
	Remote netip.AddrPort // the peer
	Local  netip.AddrPort // this host's end
	PID    uint32         // thread group id
	Comm   string         // process name, as printed by the tracer
	Ret    int64          // connect(2) return value from ret=; 0 when absent
	Count  uint64         // connections this line stands for (count=), at least 1
	Host   string         // host= : which machine the line was captured on, "" when absent
	Attrs  []Attr         // every other key, in line order

	// Version 2. Conn is conn=, the identity of the connection on its host ("" when
	// absent); Reconnect is reconnect=1. Close is set on a close line ("close " before the
	// endpoints): the connection ended, and it says how. (A pointer, so that the events of
	// open lines, most of a trace, stay small.)
	Conn      string
	Reconnect bool
	// Version 3: preexisting=1 (also kept in Attrs), the connection was open when the
	// tracer started.
	Preexisting bool
	Close       *Close

	// Version 3. Proc is set on a ProcLine (and on the events of captures that carry their
	// process, NetMon's and tracee's). A ClockLine's Clock is in Count and Ret: see ClockOf.
	Proc *Proc
	// RemoteDNS is the name a capture gives the remote address (tracee's dst_dns or
	// src_dns, the first name), "" when none. Line format lines have none.
	RemoteDNS string

	// RawAttrs is set instead of Attrs by a Parser with LazyAttrs: the metadata before comm=,
	// pointing into the line, valid only until the line's buffer is reused.
	RawAttrs []byte
	// Seen is set by the Parser when the same process (host, pid, name) had the previous
	// line it parsed under this pid: a hint that its attributes are known already.
	Seen bool
}

// ClockOf returns what a ClockLine event says.
func (e *Event) ClockOf() Clock { return Clock{MonotonicNS: e.Count, RealtimeNS: e.Ret} }

// Failed reports whether the line records a connect that did not succeed.
// A non-blocking connect that is still in progress (-EINPROGRESS) is not a failure.
func (e *Event) Failed() bool {
	return e.Ret != 0 && e.Ret != -EINPROGRESS
}

// Attr returns the value of an extra metadata key.
func (e *Event) Attr(key string) (string, bool) {
	for _, a := range e.Attrs {
		if a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

// AppendLine appends e in the canonical line format (without a newline).
// Parsing the result yields e again.
func (e *Event) AppendLine(b []byte) []byte {
	if e.Close != nil {
		b = append(b, "close "...)
	}
	b = e.Remote.AppendTo(b)
	if e.Dir == In {
		b = append(b, "←"...)
	} else {
		b = append(b, "→"...)
	}
	b = e.Local.AppendTo(b)
	b = append(b, "|pid="...)
	b = strconv.AppendUint(b, uint64(e.PID), 10)
	if e.Host != "" {
		b = append(b, " host="...)
		b = append(b, e.Host...)
	}
	if e.Ret != 0 {
		b = append(b, " ret="...)
		b = strconv.AppendInt(b, e.Ret, 10)
	}
	if e.Count > 1 {
		b = append(b, " count="...)
		b = strconv.AppendUint(b, e.Count, 10)
	}
	if e.Conn != "" {
		b = append(b, " conn="...)
		b = append(b, e.Conn...)
	}
	if e.Reconnect {
		b = append(b, " reconnect=1"...)
	}
	if c := e.Close; c != nil {
		b = append(b, " end="...)
		b = append(b, c.End.String()...)
		for _, f := range [...]struct {
			key string
			n   uint64
			has bool
		}{{" dur_us=", c.DurUS, c.HasDur}, {" sent=", c.Sent, c.Sent != 0}, {" recv=", c.Recv, c.Recv != 0},
			{" retrans=", c.Retrans, c.Retrans != 0}, {" connect_us=", c.ConnectUS, c.HasConnect}} {
			if f.has {
				b = append(b, f.key...)
				b = strconv.AppendUint(b, f.n, 10)
			}
		}
	}
	for _, a := range e.Attrs {
		b = append(b, ' ')
		b = append(b, a.Key...)
		b = append(b, '=')
		b = append(b, a.Value...)
	}
	b = append(b, " comm="...)
	b = append(b, e.Comm...)
	return b
}

// Escape writes s as the tracers print a name: every byte that is not printable ASCII as
// \xNN (lower-case hex), so that "café" becomes `caf\xc3\xa9`. A name a user types can then
// be compared with the name in an event, and no name printed this way can break a line.
func Escape(s string) string {
	i := 0
	for i < len(s) && s[i] >= 0x20 && s[i] < 0x7f {
		i++
	}
	if i == len(s) {
		return s
	}
	const hex = "0123456789abcdef"
	b := []byte(s[:i])
	for ; i < len(s); i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b = append(b, c)
		} else {
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
		}
	}
	return string(b)
}

// escapeComm is a process name from a JSON capture (NetMon, tracee) as a line's comm= carries
// it and reads it back: escaped (Escape), trailing NULs dropped as the tracers' padding is,
// and trailing spaces written \x20 (a line's trailing blanks are not part of it), so that
// the event's canonical line parses to the same name.
func escapeComm(name string) []byte {
	b := trimPadding([]byte(Escape(name)))
	n := len(b)
	for n > 0 && b[n-1] == ' ' {
		n--
	}
	if n == len(b) {
		return b
	}
	return append(b[:n:n], bytes.Repeat([]byte(`\x20`), len(b)-n)...)
}

// Proc is what a proc line (line format version 3) says of a process: captured by the
// tracer when the process made or accepted its first traced connection, it applies to the
// lines of that pid (and host) after it. Fields absent from the line are zero.
type Proc struct {
	PPID                                       uint32
	UID, EUID, GID, EGID                       uint32
	AUID                                       uint32 // 4294967295 when unset
	CapEffective, CapPermitted, CapInheritable uint64
	SecureExec                                 bool
	StartNS                                    uint64   // start=: CLOCK_MONOTONIC nanoseconds
	Cgroup                                     uint64   // cgroup=
	Container                                  string   // container=: "" when none
	ExePath                                    string   // exe_path=, decoded (\xNN undone)
	Args                                       []string // args=, decoded, argv[0] first
	// Truncated says exe_path= or args= was cut short by the tracer: args= ended in "...";
	// exe_path= ended in "..." (cut in its last component) or starts with ".../" (its top
	// left out; ExePath keeps that "...").
	ExeTruncated, ArgsTruncated bool
}

// Clock is a "# clock" line (version 3): the wall-clock time at one CLOCK_MONOTONIC
// instant, to turn the tracer's monotonic times (Proc.StartNS, a conn='s open time) into
// wall-clock ones.
type Clock struct {
	MonotonicNS uint64
	RealtimeNS  int64 // Unix nanoseconds
}

// AppendLine appends the proc line of process pid (on host, "" for none) that pr describes,
// in the canonical form (without a newline). Parsing the result yields pr again.
func (pr *Proc) AppendLine(b []byte, pid uint32, host string) []byte {
	b = append(b, "proc pid="...)
	b = strconv.AppendUint(b, uint64(pid), 10)
	if host != "" {
		b = append(b, " host="...)
		b = append(b, host...)
	}
	for _, f := range [...]struct {
		key string
		n   uint64
	}{{" ppid=", uint64(pr.PPID)}, {" uid=", uint64(pr.UID)}, {" euid=", uint64(pr.EUID)}, {" gid=", uint64(pr.GID)},
		{" egid=", uint64(pr.EGID)}, {" auid=", uint64(pr.AUID)}} {
		b = append(b, f.key...)
		b = strconv.AppendUint(b, f.n, 10)
	}
	for _, f := range [...]struct {
		key string
		n   uint64
	}{{" cap_effective=0x", pr.CapEffective}, {" cap_permitted=0x", pr.CapPermitted}, {" cap_inheritable=0x", pr.CapInheritable}} {
		b = append(b, f.key...)
		b = strconv.AppendUint(b, f.n, 16)
	}
	b = append(b, " secureexec="...)
	if pr.SecureExec {
		b = append(b, '1')
	} else {
		b = append(b, '0')
	}
	b = append(b, " start="...)
	b = strconv.AppendUint(b, pr.StartNS, 10)
	b = append(b, " cgroup="...)
	b = strconv.AppendUint(b, pr.Cgroup, 10)
	b = append(b, " container="...)
	b = appendArg(b, pr.Container)
	b = append(b, " exe_path="...)
	b = appendArg(b, pr.ExePath)
	if pr.ExeTruncated {
		b = append(b, "..."...)
	}
	b = append(b, " args="...)
	for i, a := range pr.Args {
		if i > 0 {
			b = append(b, ' ')
		}
		b = appendArg(b, a)
	}
	if pr.ArgsTruncated {
		b = append(b, "..."...)
	}
	return b
}

// appendArg writes one word of a proc line: a space, a backslash and every byte outside
// printable ASCII as \xNN.
func appendArg(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		if c := s[i]; c > ' ' && c < 0x7f && c != '\\' {
			b = append(b, c)
		} else {
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
		}
	}
	return b
}
