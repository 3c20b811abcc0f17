package render

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netflow/net_visualizer/internal/trace"
)

var update = flag.Bool("update", false, "rewrite the golden .netmon files")

// readV3 feeds a trace to n as the reader does: connection lines as events, proc and clock
// lines as n's process facts and clock, in line order.
func readV3(t *testing.T, n *NetMon, data []byte) {
	t.Helper()
	var ps trace.Parser
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		var ev trace.Event
		kind, err := ps.Parse(sc.Bytes(), &ev)
		require.NoError(t, err, "line %d", line)
		switch kind {
		case trace.EventLine:
			require.NoError(t, n.Event(&ev), "line %d", line)
		case trace.ProcLine:
			n.Proc(ev.Host, ev.PID, ev.Proc)
		case trace.ClockLine:
			n.Clock(ev.Host, ev.ClockOf())
		}
	}
	require.NoError(t, n.Flush())
}

// TestNetMonGolden: testdata/netmon.trace (proc lines, a clock line, opens and closes over
// IPv4 and IPv6, a hostile name, path and argv, a repeat, a failed connect, a connection
// open at start, a process without a proc line, an aggregated line) as NetMon events.
func TestNetMonGolden(t *testing.T) {
	in, err := os.ReadFile("testdata/netmon.trace")
	require.NoError(t, err)
	var out bytes.Buffer
	n := NewNetMon(&out)
	readV3(t, n, in)
	if *update {
		require.NoError(t, os.WriteFile("testdata/netmon.netmon", out.Bytes(), 0o644))
	}
	want, err := os.ReadFile("testdata/netmon.netmon")
	require.NoError(t, err, "run go test ./net_visualizer/internal/render -update to create it")
	assert.Equal(t, string(want), out.String())
	assert.Equal(t, NetMonStats{Events: 9, Repeats: 1, Skipped: 3}, n.Stats)

	// Every line is one JSON object of NetMon's shape, whatever the names held.
	for i, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		var ev map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(line), &ev), "event %d", i+1)
		assert.Equal(t, `"NetworkEvent"`, string(ev["type"]))
		for _, k := range []string{"process", "network_event", "timestamp"} {
			assert.Contains(t, ev, k, "event %d", i+1)
		}
	}
}

// oneEvent writes e (after procs and clock) and decodes the one event written.
func oneEvent(t *testing.T, e trace.Event, setup func(*NetMon)) map[string]any {
	t.Helper()
	var out bytes.Buffer
	n := NewNetMon(&out)
	if setup != nil {
		setup(n)
	}
	require.NoError(t, n.Event(&e))
	require.NoError(t, n.Flush())
	require.Equal(t, 1, strings.Count(out.String(), "\n"), out.String())
	var m map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &m))
	return m
}

func netEv(m map[string]any) map[string]any   { return m["network_event"].(map[string]any) }
func procObj(m map[string]any) map[string]any { return m["process"].(map[string]any) }

var (
	clientAP = netip.MustParseAddrPort("10.0.0.2:40312")
	serverAP = netip.MustParseAddrPort("10.0.0.5:5432")
)

// TestNetMonKindsAndEnds: → is TcpConnectionEstablish, ← TcpConnectionAccept, close
// TcpConnectionClose; saddr/sport are the local end, daddr/dport the remote one, so an
// accept carries the client's real address and port.
func TestNetMonKindsAndEnds(t *testing.T) {
	tests := []struct {
		name, kind string
		ev         trace.Event
		saddr      string
		sport      float64
		daddr      string
		dport      float64
	}{
		{"connect", "TcpConnectionEstablish", trace.Event{Dir: trace.Out, Remote: serverAP, Local: clientAP, PID: 1, Conn: "a-1"},
			"10.0.0.2", 40312, "10.0.0.5", 5432},
		{"accept", "TcpConnectionAccept", trace.Event{Dir: trace.In, Remote: clientAP, Local: serverAP, PID: 2, Conn: "b-1"},
			"10.0.0.5", 5432, "10.0.0.2", 40312},
		{"close of a connect", "TcpConnectionClose", trace.Event{Dir: trace.Out, Remote: serverAP, Local: clientAP, PID: 1, Conn: "a-1",
			Close: &trace.Close{End: trace.EndLocal}}, "10.0.0.2", 40312, "10.0.0.5", 5432},
		{"close of an accept", "TcpConnectionClose", trace.Event{Dir: trace.In, Remote: clientAP, Local: serverAP, PID: 2, Conn: "b-1",
			Close: &trace.Close{End: trace.EndPeer}}, "10.0.0.5", 5432, "10.0.0.2", 40312},
		{"IPv6", "TcpConnectionEstablish", trace.Event{Dir: trace.Out, Remote: netip.MustParseAddrPort("[2001:db8::1]:443"),
			Local: netip.MustParseAddrPort("[2001:db8:0:0::2]:33978"), PID: 1, Conn: "c-1"}, "2001:db8::2", 33978, "2001:db8::1", 443},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ne := netEv(oneEvent(t, tt.ev, nil))
			assert.Equal(t, tt.kind, ne["type"])
			assert.Equal(t, tt.saddr, ne["saddr"])
			assert.Equal(t, tt.sport, ne["sport"])
			assert.Equal(t, tt.daddr, ne["daddr"])
			assert.Equal(t, tt.dport, ne["dport"])
		})
	}
}

// TestNetMonShape: the keys and their order are NetMon's (serde writes struct fields in
// declaration order), and numbers are numbers.
func TestNetMonShape(t *testing.T) {
	var out bytes.Buffer
	n := NewNetMon(&out)
	require.NoError(t, n.Event(&trace.Event{Dir: trace.Out, Remote: serverAP, Local: clientAP, PID: 7, Conn: "a-1", Comm: "psql"}))
	require.NoError(t, n.Flush())
	s := out.String()
	order := []string{`{"type":"NetworkEvent","process":{"start_time":`, `"pid":7,"tid":0,"ppid":0,"uid":0,"euid":0,"gid":0,"egid":0,"auid":0,`,
		`"cap_inheritable":"","cap_permitted":"","cap_effective":"","secureexec":"","filename":"psql","binary_path":"","args":""},`,
		`"network_event":{"type":"TcpConnectionEstablish","saddr":"10.0.0.2","daddr":"10.0.0.5","sport":40312,"dport":5432,"cookie":`,
		`},"timestamp":""}` + "\n"}
	at := 0
	for _, part := range order {
		i := strings.Index(s[at:], part)
		require.GreaterOrEqual(t, i, 0, "%q not in order in %s", part, s)
		at += i + len(part)
	}
	assert.Equal(t, len(s), at)
	assert.NotContains(t, s, "container_id", "NetMon leaves container_id out on the host")
}

// TestNetMonProcessFields: the process object comes from the newest proc line of the pid.
func TestNetMonProcessFields(t *testing.T) {
	p1 := &trace.Proc{PPID: 10, UID: 1000, EUID: 1001, GID: 1002, EGID: 1003, AUID: 1004, ExePath: "/usr/bin/psql",
		Args: []string{"psql", "-h", "db"}, Container: strings.Repeat("ab", 32)}
	p2 := &trace.Proc{PPID: 20, ExePath: "/usr/local/bin/pgbench", Args: []string{"pgbench"}}
	m := oneEvent(t, trace.Event{Dir: trace.Out, Remote: serverAP, Local: clientAP, PID: 7, Conn: "a-1", Comm: "x",
		Attrs: []trace.Attr{{Key: "tid", Value: "9"}}}, func(n *NetMon) {
		n.Proc("", 7, p2)
		n.Proc("", 7, p1) // newer
		n.Proc("", 8, p2) // another pid
		n.Proc("h2", 7, p2)
	})
	p := procObj(m)
	want := map[string]any{"pid": 7.0, "tid": 9.0, "ppid": 10.0, "uid": 1000.0, "euid": 1001.0, "gid": 1002.0, "egid": 1003.0,
		"auid": 1004.0, "filename": "psql", "binary_path": "/usr/bin/psql", "args": "-h db", "container_id": strings.Repeat("ab", 32)}
	for k, v := range want {
		assert.Equal(t, v, p[k], k)
	}
}

// TestNetMonWithoutProcLine: a pid without a proc line has NetMon's empty values but for
// what the line says: pid, tid=, uid=, and the executable's name from exe=.
func TestNetMonWithoutProcLine(t *testing.T) {
	p := procObj(oneEvent(t, trace.Event{Dir: trace.Out, Remote: serverAP, Local: clientAP, PID: 7, Conn: "a-1", Comm: "psql",
		Attrs: []trace.Attr{{Key: "tid", Value: "8"}, {Key: "uid", Value: "33"}, {Key: "exe", Value: `\x6d\x79\x20\x70\x73\x71\x6c`}}}, nil))
	assert.Equal(t, 8.0, p["tid"])
	assert.Equal(t, 33.0, p["uid"])
	assert.Equal(t, 0.0, p["ppid"])
	assert.Equal(t, "my psql", p["filename"], "exe= decoded")
	assert.Equal(t, "", p["binary_path"])
	assert.Equal(t, "", p["cap_effective"])
	assert.Equal(t, "", p["start_time"])
}

// TestNetMonCapabilities: NetMon's ALL_CAPS, names in bit order, unknown bits in hex.
func TestNetMonCapabilities(t *testing.T) {
	tests := []struct {
		mask uint64
		want string
	}{
		{0, ""},
		{0x1ffffffffff, "ALL_CAPS"},
		{1 << 21, "CAP_SYS_ADMIN"},
		{1<<13 | 1<<12, "CAP_NET_ADMIN | CAP_NET_RAW"},
		{1<<0 | 1<<40, "CAP_CHOWN | CAP_CHECKPOINT_RESTORE"},
		{1<<41 | 1<<10, "CAP_NET_BIND_SERVICE | 0x20000000000"},
		{0x3ffffffffff, allCapNames() + " | 0x20000000000"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Capabilities(tt.mask), "%#x", tt.mask)
	}
	p := procObj(oneEvent(t, trace.Event{Dir: trace.Out, Remote: serverAP, Local: clientAP, PID: 7, Conn: "a-1"}, func(n *NetMon) {
		n.Proc("", 7, &trace.Proc{CapEffective: 0x1ffffffffff, CapPermitted: 1 << 7, CapInheritable: 0})
	}))
	assert.Equal(t, "ALL_CAPS", p["cap_effective"])
	assert.Equal(t, "CAP_SETUID", p["cap_permitted"])
	assert.Equal(t, "", p["cap_inheritable"])
}

// TestNetMonSecureExec: NetMon's flags, read from AT_SECURE and the ids.
func TestNetMonSecureExec(t *testing.T) {
	tests := []struct {
		p    trace.Proc
		want string
	}{
		{trace.Proc{UID: 1000, EUID: 0}, ""},
		{trace.Proc{SecureExec: true, UID: 1000, EUID: 0, GID: 5, EGID: 5}, "SETUID"},
		{trace.Proc{SecureExec: true, UID: 5, EUID: 5, GID: 1000, EGID: 0}, "SETGID"},
		{trace.Proc{SecureExec: true, UID: 1, EUID: 0, GID: 1, EGID: 0}, "SETUID | SETGID"},
		{trace.Proc{SecureExec: true, UID: 5, EUID: 5, GID: 5, EGID: 5}, "FILE_CAPS"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, SecureExec(&tt.p), "%+v", tt.p)
	}
}

// TestNetMonArgs: NetMon's args are argv[1:] joined by spaces, trailing white space trimmed.
func TestNetMonArgs(t *testing.T) {
	assert.Equal(t, "", netmonArgs(nil))
	assert.Equal(t, "", netmonArgs([]string{"nginx: worker process"}))
	assert.Equal(t, "-qO- -6 google.com", netmonArgs([]string{"wget", "-qO-", "-6", "google.com"}))
	assert.Equal(t, "a b\nc", netmonArgs([]string{"x", "a b\nc", " "}))
}

// TestNetMonTimes: timestamps from the clock line and conn='s open time (close: + dur_us),
// start_time from start=, in NetMon's form (UTC, milliseconds truncated, Z); "" without a
// clock line; a connection open at start is stamped with the clock line's time.
func TestNetMonTimes(t *testing.T) {
	clock := trace.Clock{MonotonicNS: 1_000_000_000_000, RealtimeNS: time.Date(2026, 12, 2, 5, 30, 11, 123_456_789, time.UTC).UnixNano()}
	withClock := func(n *NetMon) {
		n.Clock("", clock)
		n.Proc("", 7, &trace.Proc{StartNS: 1_000_000_000_000 - 2_500_000_000})
	}
	open := trace.Event{Dir: trace.Out, Remote: serverAP, Local: clientAP, PID: 7,
		Conn: "ffff0000-" + strconv.FormatUint(1_000_000_000_000+1_999_999, 16)}
	m := oneEvent(t, open, withClock)
	assert.Equal(t, "2026-12-02T05:30:11.125Z", m["timestamp"], "open: 11.123456789 + 1.999999 ms, truncated")
	assert.Equal(t, "2026-12-02T05:30:08.623Z", procObj(m)["start_time"])

	cl := open
	cl.Close = &trace.Close{End: trace.EndLocal, DurUS: 20_000_000, HasDur: true}
	assert.Equal(t, "2026-12-02T05:30:31.125Z", oneEvent(t, cl, withClock)["timestamp"], "close: open + dur_us")

	assert.Equal(t, "", oneEvent(t, open, nil)["timestamp"], "no clock line")

	pre := trace.Event{Dir: trace.In, Remote: clientAP, Local: serverAP, PID: 7, Conn: "4a2f-0",
		Attrs: []trace.Attr{{Key: "preexisting", Value: "1"}}}
	assert.Equal(t, "2026-12-02T05:30:11.123Z", oneEvent(t, pre, withClock)["timestamp"], "preexisting: the clock line's time")

	// Another host's clock applies to its lines only.
	other := open
	other.Host = "db"
	m = oneEvent(t, other, func(n *NetMon) {
		n.Clock("", clock)
		c := clock
		c.RealtimeNS += int64(time.Hour)
		n.Clock("db", c)
	})
	assert.Equal(t, "2026-12-02T06:30:11.125Z", m["timestamp"])
}

// TestNetMonCookie: one cookie per connection end and host, the same on its open and close
// event, different between ends, connections and hosts, within 53 bits.
func TestNetMonCookie(t *testing.T) {
	seen := map[uint64]string{}
	for _, host := range []string{"", "web", "db"} {
		for i := 0; i < 10000; i++ {
			conn := "ffff8881" + strconv.FormatUint(uint64(i)*0x100, 16) + "-" + strconv.FormatUint(uint64(98760004215+i), 16)
			c := Cookie(host, conn)
			assert.Less(t, c, uint64(1)<<53)
			id := host + "/" + conn
			if prev, dup := seen[c]; dup {
				t.Fatalf("cookie %d of %s is also %s's", c, id, prev)
			}
			seen[c] = id
		}
	}
	assert.Zero(t, Cookie("web", ""))

	var out bytes.Buffer
	n := NewNetMon(&out)
	open := trace.Event{Dir: trace.Out, Remote: serverAP, Local: clientAP, PID: 7, Conn: "ffff01-1"}
	cl := open
	cl.Close = &trace.Close{End: trace.EndLocal}
	acc := trace.Event{Dir: trace.In, Remote: clientAP, Local: serverAP, PID: 8, Conn: "ffff02-2"}
	for _, e := range []*trace.Event{&open, &acc, &cl} {
		require.NoError(t, n.Event(e))
	}
	require.NoError(t, n.Flush())
	var cookies []float64
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m))
		cookies = append(cookies, netEv(m)["cookie"].(float64))
	}
	require.Len(t, cookies, 3)
	assert.Equal(t, cookies[0], cookies[2], "open and close of one end")
	assert.NotEqual(t, cookies[0], cookies[1], "the two ends")
}

// TestNetMonRepeats: a line whose host, conn= and kind were seen is written once; the
// other kind, another host or another conn= is not a repeat. Lines without conn= are all
// written.
func TestNetMonRepeats(t *testing.T) {
	var out bytes.Buffer
	n := NewNetMon(&out)
	open := trace.Event{Dir: trace.Out, Remote: serverAP, Local: clientAP, PID: 7, Conn: "a-1"}
	cl := open
	cl.Close = &trace.Close{End: trace.EndLocal}
	otherHost := open
	otherHost.Host = "web"
	otherConn := open
	otherConn.Conn = "a-2"
	v1 := trace.Event{Dir: trace.Out, Remote: serverAP, Local: clientAP, PID: 7}
	for _, e := range []*trace.Event{&open, &open, &cl, &open, &cl, &otherHost, &otherConn, &v1, &v1} {
		require.NoError(t, n.Event(e))
	}
	require.NoError(t, n.Flush())
	assert.Equal(t, 6, strings.Count(out.String(), "\n"))
	assert.Equal(t, NetMonStats{Events: 6, Repeats: 3}, n.Stats)
}

// TestNetMonSkips: a failed connect, its end=never close and aggregated lines stand for
// no established connection: no event. A connect still in progress (-115) is one.
func TestNetMonSkips(t *testing.T) {
	refused := netip.MustParseAddrPort("0.0.0.0:0")
	for _, e := range []trace.Event{
		{Dir: trace.Out, Remote: serverAP, Local: refused, PID: 7, Ret: -111, Conn: "a-1"},
		{Dir: trace.Out, Remote: serverAP, Local: refused, PID: 7, Conn: "a-1", Close: &trace.Close{End: trace.EndNever}},
		{Dir: trace.Out, Remote: serverAP, Local: netip.AddrPortFrom(clientAP.Addr(), 0), PID: 7, Count: 40},
		{Dir: trace.In, Remote: netip.AddrPortFrom(clientAP.Addr(), 0), Local: serverAP, PID: 8, Count: 1},
	} {
		var out bytes.Buffer
		n := NewNetMon(&out)
		require.NoError(t, n.Event(&e))
		require.NoError(t, n.Flush())
		assert.Empty(t, out.String(), "%+v", e)
		assert.Equal(t, uint64(1), n.Stats.Skipped)
	}
	m := oneEvent(t, trace.Event{Dir: trace.Out, Remote: serverAP, Local: clientAP, PID: 7, Ret: -115, Conn: "b-1"}, nil)
	assert.Equal(t, "TcpConnectionEstablish", netEv(m)["type"])
}

// TestNetMonCloseKeepsTheOpenersProcess: a close event describes the process its open
// line did (tid included), even when a newer proc line took the pid since.
func TestNetMonCloseKeepsTheOpenersProcess(t *testing.T) {
	var out bytes.Buffer
	n := NewNetMon(&out)
	n.Proc("", 7, &trace.Proc{ExePath: "/usr/bin/old", Args: []string{"old", "a"}})
	open := trace.Event{Dir: trace.Out, Remote: serverAP, Local: clientAP, PID: 7, Conn: "a-1", Attrs: []trace.Attr{{Key: "tid", Value: "11"}}}
	require.NoError(t, n.Event(&open))
	n.Proc("", 7, &trace.Proc{ExePath: "/usr/bin/new"})
	cl := trace.Event{Dir: trace.Out, Remote: serverAP, Local: clientAP, PID: 7, Conn: "a-1", Close: &trace.Close{End: trace.EndLocal}}
	require.NoError(t, n.Event(&cl))
	require.NoError(t, n.Flush())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &m))
	assert.Equal(t, "/usr/bin/old", procObj(m)["binary_path"])
	assert.Equal(t, 11.0, procObj(m)["tid"])
}

// TestNetMonHostileNames: whatever a name, path or argument holds, each event is one line
// of valid JSON that gives it back (invalid UTF-8 as U+FFFD, as NetMon's from_utf8_lossy).
func TestNetMonHostileNames(t *testing.T) {
	hostile := []string{"a\nb", "\"}\n{\"type\":\"x\"", `back\slash`, "</script>&", "\u2028\u2029", "\x00\x1b[31m", "\u202etxt.exe"}
	for _, h := range hostile {
		var out bytes.Buffer
		n := NewNetMon(&out)
		n.Proc("", 7, &trace.Proc{ExePath: "/tmp/" + h, Args: []string{h, h, "end"}, Container: h})
		require.NoError(t, n.Event(&trace.Event{Dir: trace.Out, Remote: serverAP, Local: clientAP, PID: 7, Conn: "a-1", Comm: h}))
		require.NoError(t, n.Flush())
		s := out.String()
		require.Equal(t, 1, strings.Count(s, "\n"), "%q", s)
		require.True(t, strings.HasSuffix(s, "\n"))
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(s), &m), "%q", s)
		p := procObj(m)
		assert.Equal(t, h+" end", p["args"])
		assert.Equal(t, "/tmp/"+h, p["binary_path"])
		assert.Equal(t, h, p["container_id"])
	}
	p := procObj(oneEvent(t, trace.Event{Dir: trace.Out, Remote: serverAP, Local: clientAP, PID: 7, Conn: "a-1"}, func(n *NetMon) {
		n.Proc("", 7, &trace.Proc{Args: []string{"x", "bad\xffutf8"}})
	}))
	assert.Equal(t, "bad\ufffdutf8", p["args"])
}

// BenchmarkNetMon writes the open and close events of distinct connections (with a proc
// line and a clock): the cost per event, and the memory kept per connection end.
func BenchmarkNetMon(b *testing.B) {
	n := NewNetMon(io.Discard)
	n.Clock("", trace.Clock{MonotonicNS: 1 << 40, RealtimeNS: time.Now().UnixNano()})
	n.Proc("", 7, &trace.Proc{PPID: 1, ExePath: "/usr/bin/curl", Args: []string{"curl", "-s", "http://127.0.0.1:8080/"}})
	open := trace.Event{Dir: trace.Out, Remote: serverAP, Local: clientAP, PID: 7, Attrs: []trace.Attr{{Key: "tid", Value: "7"}}}
	cl := open
	cl.Close = &trace.Close{End: trace.EndLocal, DurUS: 1500, HasDur: true}
	conns := make([]string, b.N)
	for i := range conns {
		conns[i] = "ffff8881" + strconv.FormatUint(uint64(i), 16) + "-" + strconv.FormatUint(1<<40+uint64(i), 16)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		open.Conn, cl.Conn = conns[i], conns[i]
		if err := n.Event(&open); err != nil {
			b.Fatal(err)
		}
		if err := n.Event(&cl); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(b.N), "kept-B/conn")
	runtime.KeepAlive(n)
}

// allCapNames is every capability NetMon names, as Capabilities joins them.
func allCapNames() string {
	var names []string
	for i := 0; trace.CapName(i) != ""; i++ {
		names = append(names, trace.CapName(i))
	}
	return strings.Join(names, " | ")
}
