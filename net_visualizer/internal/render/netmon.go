package render

import (
	"bufio"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/bits"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"

	"netflow/net_visualizer/internal/trace"
)

// NetMon writes connection events as bombini's NetMon does: one JSON object per line,
// {"type":"NetworkEvent","process":{...},"network_event":{...},"timestamp":...}, as they
// arrive, without building a graph. Feed it the stream in order: Clock and Proc for the
// "# clock" and proc lines, Event for the connection lines, Flush after each batch.
type NetMon struct {
	w      *bufio.Writer
	enc    *json.Encoder
	procs  map[procKey]*trace.Proc
	clocks map[string]trace.Clock // by host; "" applies to hosts without their own
	conns  map[connKey]*connState
	Stats  NetMonStats
}

// NetMonStats counts what NetMon did with the events it was given.
type NetMonStats struct {
	Events  uint64 // JSON events written
	Repeats uint64 // lines whose host, conn= and kind were seen before
	Skipped uint64 // lines that stand for no single connection: failed connects, aggregated lines
}

type procKey struct {
	host string
	pid  uint32
}

type connKey struct{ host, conn string }

// connState is what is remembered of one connection end: which of its lines were written,
// and what its open line said, for its close line.
type connState struct {
	opened, closed bool
	tid            uint32
	proc           *trace.Proc
}

// NewNetMon writes to w.
func NewNetMon(w io.Writer) *NetMon {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false) // as serde_json: "<" stays "<"
	return &NetMon{w: bw, enc: enc, procs: map[procKey]*trace.Proc{}, clocks: map[string]trace.Clock{},
		conns: map[connKey]*connState{}}
}

// Proc records a proc line: it describes the lines of that pid and host after it.
func (n *NetMon) Proc(host string, pid uint32, p *trace.Proc) { n.procs[procKey{host, pid}] = p }

// Clock records a "# clock" line, which turns the tracer's monotonic times into wall-clock
// ones for the lines of host after it (host "": for every host without a clock of its own).
func (n *NetMon) Clock(host string, c trace.Clock) { n.clocks[host] = c }

// Flush writes out the events buffered so far.
func (n *NetMon) Flush() error { return n.w.Flush() }

// Event writes the NetMon event of one connection line, unless it is a repeat or stands for
// no single connection (a failed connect, an aggregated line).
func (n *NetMon) Event(e *trace.Event) error {
	if e.Count > 1 || e.Failed() || (e.Close != nil && e.Close.End == trace.EndNever) ||
		(e.Conn == "" && (e.Local.Port() == 0 || e.Remote.Port() == 0)) {
		n.Stats.Skipped++
		return nil
	}
	st := n.remember(e)
	if st == nil {
		n.Stats.Repeats++
		return nil
	}
	n.Stats.Events++
	return n.enc.Encode(n.event(e, st))
}

// remember marks e's kind seen for its connection end; nil when it was seen before. Lines
// without conn= have no identity: each is its own.
func (n *NetMon) remember(e *trace.Event) *connState {
	if e.Conn == "" {
		return &connState{tid: tidOf(e), proc: n.procs[procKey{e.Host, e.PID}]}
	}
	k := connKey{e.Host, e.Conn}
	st := n.conns[k]
	if st == nil {
		st = &connState{}
		n.conns[k] = st
	}
	if e.Close != nil {
		if st.closed {
			return nil
		}
		st.closed = true
		if !st.opened {
			st.proc = n.procs[procKey{e.Host, e.PID}]
		}
		return st
	}
	if st.opened {
		return nil
	}
	st.opened, st.tid = true, tidOf(e)
	if !st.closed {
		st.proc = n.procs[procKey{e.Host, e.PID}]
	}
	return st
}

func tidOf(e *trace.Event) uint32 {
	if v, ok := e.Attr("tid"); ok {
		if t, err := strconv.ParseUint(v, 10, 32); err == nil {
			return uint32(t)
		}
	}
	return 0
}

// netmonEvent is NetMon's NetworkEvent, its fields in NetMon's order.
type netmonEvent struct {
	Type      string         `json:"type"`
	Process   netmonProcess  `json:"process"`
	Network   netmonNetEvent `json:"network_event"`
	Timestamp string         `json:"timestamp"`
}

type netmonProcess struct {
	StartTime      string `json:"start_time"`
	PID            uint32 `json:"pid"`
	TID            uint32 `json:"tid"`
	PPID           uint32 `json:"ppid"`
	UID            uint32 `json:"uid"`
	EUID           uint32 `json:"euid"`
	GID            uint32 `json:"gid"`
	EGID           uint32 `json:"egid"`
	AUID           uint32 `json:"auid"`
	CapInheritable string `json:"cap_inheritable"`
	CapPermitted   string `json:"cap_permitted"`
	CapEffective   string `json:"cap_effective"`
	SecureExec     string `json:"secureexec"`
	Filename       string `json:"filename"`
	BinaryPath     string `json:"binary_path"`
	Args           string `json:"args"`
	ContainerID    string `json:"container_id,omitempty"` // NetMon leaves it out on the host
}

type netmonNetEvent struct {
	Type   string `json:"type"`
	Saddr  string `json:"saddr"`
	Daddr  string `json:"daddr"`
	Sport  uint16 `json:"sport"`
	Dport  uint16 `json:"dport"`
	Cookie uint64 `json:"cookie"`
}

func (n *NetMon) event(e *trace.Event, st *connState) *netmonEvent {
	kind := "TcpConnectionEstablish"
	switch {
	case e.Close != nil:
		kind = "TcpConnectionClose"
	case e.Dir == trace.In:
		kind = "TcpConnectionAccept"
	}
	clock, hasClock := n.clocks[e.Host]
	if !hasClock {
		clock, hasClock = n.clocks[""]
	}
	var clk *trace.Clock
	if hasClock {
		clk = &clock
	}
	return &netmonEvent{
		Type:    "NetworkEvent",
		Process: netmonProc(e, st.tid, st.proc, clk),
		Network: netmonNetEvent{
			Type:  kind,
			Saddr: e.Local.Addr().String(), Sport: e.Local.Port(),
			Daddr: e.Remote.Addr().String(), Dport: e.Remote.Port(),
			Cookie: Cookie(e.Host, e.Conn),
		},
		Timestamp: eventTime(e, clk),
	}
}

// netmonProc is the process object: from the proc line when there is one, else from what
// the connection line says (pid, uid=, exe=, comm=), the rest NetMon's empty values.
func netmonProc(e *trace.Event, tid uint32, p *trace.Proc, clk *trace.Clock) netmonProcess {
	np := netmonProcess{PID: e.PID, TID: tid, Filename: fileName(e, p)}
	if p == nil {
		if v, ok := e.Attr("uid"); ok {
			if u, err := strconv.ParseUint(v, 10, 32); err == nil {
				np.UID = uint32(u)
			}
		}
		return np
	}
	np.PPID, np.UID, np.EUID, np.GID, np.EGID, np.AUID = p.PPID, p.UID, p.EUID, p.GID, p.EGID, p.AUID
	np.CapInheritable = Capabilities(p.CapInheritable)
	np.CapPermitted = Capabilities(p.CapPermitted)
	np.CapEffective = Capabilities(p.CapEffective)
	np.SecureExec = SecureExec(p)
	np.BinaryPath = p.ExePath
	np.Args = netmonArgs(p.Args)
	np.ContainerID = p.Container
	if p.StartNS != 0 && clk != nil {
		np.StartTime = wallClock(*clk, p.StartNS)
	}
	return np
}

// fileName is NetMon's filename, the executable's name: the last element of exe_path=,
// else exe= (decoded), else the process name.
func fileName(e *trace.Event, p *trace.Proc) string {
	if p != nil && p.ExePath != "" {
		return path.Base(p.ExePath)
	}
	if v, ok := e.Attr("exe"); ok && v != "" {
		return unescape(v)
	}
	return unescape(e.Comm)
}

// netmonArgs is NetMon's args: the arguments after argv[0], joined by spaces, with trailing
// white space trimmed.
func netmonArgs(args []string) string {
	if len(args) < 2 {
		return ""
	}
	return strings.TrimRightFunc(strings.Join(args[1:], " "), unicode.IsSpace)
}

// Capabilities writes a capability mask as NetMon does: "ALL_CAPS" for every capability it
// knows, else the names of the capabilities held, in bit order, joined by " | ", then any
// bits beyond them in hexadecimal ("0x20000000000"); "" for none.
func Capabilities(mask uint64) string {
	if mask == trace.AllCaps {
		return "ALL_CAPS"
	}
	var parts []string
	for m := mask & trace.AllCaps; m != 0; m &= m - 1 {
		parts = append(parts, trace.CapName(bits.TrailingZeros64(m)))
	}
	if rest := mask &^ trace.AllCaps; rest != 0 {
		parts = append(parts, fmt.Sprintf("0x%x", rest))
	}
	return strings.Join(parts, " | ")
}

// SecureExec writes secureexec as NetMon's flags: a process started with AT_SECURE is
// "SETUID" when its effective uid differs from its real one, "SETGID" when its group ids
// differ (both: "SETUID | SETGID"), else "FILE_CAPS" (NetMon's own rule at exec); "" when
// not AT_SECURE. The proc line carries only the AT_SECURE bit, so the flags are read from
// the ids the process had at its connection, not at its exec.
func SecureExec(p *trace.Proc) string {
	if !p.SecureExec {
		return ""
	}
	var parts []string
	if p.EUID != p.UID {
		parts = append(parts, "SETUID")
	}
	if p.EGID != p.GID {
		parts = append(parts, "SETGID")
	}
	if parts == nil {
		return "FILE_CAPS"
	}
	return strings.Join(parts, " | ")
}

// Cookie is the network_event's cookie: one number for each connection end, the same on
// its open and its close line. It is the FNV-1a hash of host=, a 0 byte and conn=, cut to
// 53 bits so that JSON readers that hold numbers as doubles (jq, JavaScript) keep it
// exact. 0 for a line without conn=.
func Cookie(host, conn string) uint64 {
	if conn == "" {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(host))
	h.Write([]byte{0})
	h.Write([]byte(conn))
	return h.Sum64() & (1<<53 - 1)
}

// eventTime is the event's timestamp: the open time in conn= (the hexadecimal CLOCK_MONOTONIC
// nanoseconds after its "-"), plus dur_us= on a close line, as wall-clock time by the clock
// line; for a connection that was already open at start (preexisting=1, no open time), the
// clock line's own time, when the tracer listed it. "" when the trace has no clock line or
// the time is not known.
func eventTime(e *trace.Event, clk *trace.Clock) string {
	if clk == nil {
		return ""
	}
	open, ok := openTime(e.Conn)
	if !ok {
		if v, _ := e.Attr("preexisting"); v == "1" && e.Close == nil {
			return rfc3339Millis(clk.RealtimeNS)
		}
		return ""
	}
	if e.Close != nil {
		if !e.Close.HasDur {
			return ""
		}
		open += e.Close.DurUS * 1000
	}
	return wallClock(*clk, open)
}

// openTime reads the open time from conn= (its part after the last "-"); false when absent
// or 0.
func openTime(conn string) (uint64, bool) {
	i := strings.LastIndexByte(conn, '-')
	if i < 0 {
		return 0, false
	}
	t, err := strconv.ParseUint(conn[i+1:], 16, 64)
	return t, err == nil && t != 0
}

// wallClock turns a CLOCK_MONOTONIC time into NetMon's RFC 3339 text by the clock line.
func wallClock(c trace.Clock, mono uint64) string {
	return rfc3339Millis(c.RealtimeNS + (int64(mono) - int64(c.MonotonicNS)))
}

// rfc3339Millis is NetMon's time format: UTC, milliseconds (truncated), "Z".
func rfc3339Millis(unixNS int64) string {
	return time.Unix(0, unixNS).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}
