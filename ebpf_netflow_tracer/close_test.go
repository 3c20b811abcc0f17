package tracer_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLiveCloseTracepoint: the tracepoint tracer's close lines (docs/line-format.md, version
// 2) for connections whose bytes and ending are known from both ends: closed by the client,
// by the server, reset with SO_LINGER 0 before accept(2), refused, half-closed, with 12345
// and 54321 bytes and with none; then the visualizer's JSON edges built from them.
func TestLiveCloseTracepoint(t *testing.T) {
	testClose(t, "tracepoint")
}

// TestLiveCloseKprobe does the same with the kprobe tracer, where the kernel has kprobes
// (scripts/test-kernels runs it in the kernel matrix).
func TestLiveCloseKprobe(t *testing.T) {
	if !haveKprobes() {
		t.Skip("this kernel has no kprobes; scripts/test-kernels runs this in the kernel matrix")
	}
	testClose(t, "kprobe")
}

// closeCase is one workload: a netpeer server and a netpeer client that makes n
// connections to it, each moving up bytes to the server and down bytes back and ending
// the same way. Without a server, the client is refused.
type closeCase struct {
	name       string
	server     []string // netpeer server flags (-listen, -n are added)
	client     []string // netpeer client flags (-connect, -n are added)
	n          int
	hold       bool  // the server accepts only once the client has exited
	up, down   int64 // bytes client → server, server → client
	clientEnd  string
	serverEnd  string
	closedBy   string // the JSON edge's closed{} key that counts these connections
	refused    bool
	reconnects int // of the JSON edge: connections after the first to the same server
}

var closeCases = []closeCase{
	{name: "client closes first, 12345 up 54321 down", n: 1,
		server: []string{"-end", "last", "-recv", "12345", "-send", "54321"},
		client: []string{"-end", "first", "-send", "12345", "-recv", "54321"},
		up:     12345, down: 54321, clientEnd: "local", serverEnd: "peer", closedBy: "client"},
	// Two in a row from one process: the second is a reconnect (within 5 s of the first's end).
	{name: "client closes first, no bytes, twice", n: 2,
		server:    []string{"-end", "last"},
		client:    []string{"-end", "first"},
		clientEnd: "local", serverEnd: "peer", closedBy: "client", reconnects: 1},
	// The server's socket reaches TCP_CLOSE when the client's FIN arrives, in the client's
	// context on loopback: the close is the server's all the same (bcc's tcplife errs here).
	{name: "server closes first, 54321 up 12345 down", n: 1,
		server: []string{"-end", "first", "-recv", "54321", "-send", "12345"},
		client: []string{"-end", "last", "-send", "54321", "-recv", "12345"},
		up:     54321, down: 12345, clientEnd: "peer", serverEnd: "local", closedBy: "server"},
	{name: "server closes first, no bytes", n: 1,
		server:    []string{"-end", "first"},
		client:    []string{"-end", "last"},
		clientEnd: "peer", serverEnd: "local", closedBy: "server"},
	{name: "half-close, 12345 up then 54321 down", n: 1,
		server: []string{"-end", "last", "-recv", "-1", "-send", "54321"},
		client: []string{"-end", "half", "-send", "12345", "-recv", "54321"},
		up:     12345, down: 54321, clientEnd: "local", serverEnd: "peer", closedBy: "client"},
	// SO_LINGER {1, 0} right after connecting, before the server's accept(2) returns: a
	// health check or a scanner. The accepted socket is already closed when accept returns.
	{name: "reset right after connecting, before accept", n: 1, hold: true,
		server:    []string{"-end", "first", "-recv", "-1"},
		client:    []string{"-end", "reset"},
		clientEnd: "reset-sent", serverEnd: "reset-recv", closedBy: "reset"},
	{name: "refused", n: 1, refused: true, client: []string{"-expect-fail"}, clientEnd: "never"},
}

// closeConn is one connection of a case, with what each end's netpeer said of it.
type closeConn struct {
	c            *closeCase
	i            int // which of the case's connections
	clientPid    int
	serverPid    int
	server       netip.AddrPort // the server's address (the refused one: nobody's)
	client       netip.AddrPort // the client's end (a refused one: none)
	clientEnd    end
	serverEnd    end
	cOpen, cEnd  v2line // the client's lines in the trace
	sOpen, sEnd  v2line // the server's
	haveC, haveS bool   // all the side's lines were seen
}

func (k *closeConn) name() string {
	if k.c.n == 1 {
		return k.c.name
	}
	return fmt.Sprintf("%s/%d", k.c.name, k.i+1)
}

func testClose(t *testing.T, variant string) {
	requireBPF(t)
	root := repoRoot(t)
	netpeer := buildNetpeer(t, root)
	visualizer := filepath.Join(t.TempDir(), "net_visualizer")
	buildProgram(t, root, "./net_visualizer", visualizer)

	tr := startTracer(t, root, "--variant", variant, "--comm", "netpeer")
	if variant == "kprobe" {
		requireKprobesAttached(t, "tcp_v4_connect", "tcp_v6_connect", "inet_csk_accept")
	}

	// The workload, one case after the other, each end's own account of each connection.
	var conns []*closeConn
	for ci := range closeCases {
		c := &closeCases[ci]
		if c.refused {
			addr := closedPort(t, "tcp4", "127.0.0.1")
			cl := startPeer(t, append([]string{netpeer, "client", "-connect", addr.String(), "-n", "1"}, c.client...)...)
			cl.wait(t)
			require.Contains(t, cl.text(), "connection refused")
			conns = append(conns, &closeConn{c: c, clientPid: cl.pid, server: addr})
			continue
		}
		srvArgs := append([]string{netpeer, "server", "-listen", "127.0.0.1:0", "-n", strconv.Itoa(c.n)}, c.server...)
		if c.hold {
			srvArgs = append(srvArgs, "-hold")
		}
		srv := startPeer(t, srvArgs...)
		cl := startPeer(t, append([]string{netpeer, "client", "-connect", srv.addr.String(), "-n", strconv.Itoa(c.n)}, c.client...)...)
		cl.wait(t)
		if c.hold {
			for i := 0; i < c.n; i++ {
				srv.release(t)
			}
		}
		cEnds, sEnds := cl.closedEnds(t, c.n), srv.closedEnds(t, c.n)
		require.Len(t, cEnds, c.n, cl.text())
		for i, ce := range cEnds {
			k := &closeConn{c: c, i: i, clientPid: cl.pid, serverPid: srv.pid, server: srv.addr, client: ce.local, clientEnd: ce}
			found := false
			for _, se := range sEnds {
				if se.remote == ce.local {
					k.serverEnd, found = se, true
				}
			}
			require.True(t, found, "the server's account of %s:\n%s", ce.local, srv.text())
			// What the peers did is the premise: the bytes each way as the case says.
			require.Equal(t, []int64{c.up, c.down}, []int64{ce.sent, ce.recv}, "client %s", cl.text())
			require.Equal(t, []int64{c.down, c.up}, []int64{k.serverEnd.sent, k.serverEnd.recv}, "server %s", srv.text())
			conns = append(conns, k)
		}
	}

	// Each connection's lines: the client's → and its close, the server's ← and its close.
	// Found by the 4-tuple, never by pid (the pid is under test); the server's by the
	// client's port alone, as the local port is under test too. One deadline for all.
	deadline := time.Now().Add(2 * lineTimeout)
	for _, k := range conns {
		k := k
		isClient := func(l v2line) bool {
			if k.c.refused {
				return l.out && l.remote == k.server
			}
			return l.out && l.remote == k.server && l.local == k.client
		}
		isServer := func(l v2line) bool {
			return !l.out && l.remote == k.client && l.remote.Port() != 0
		}
		var ok1, ok2, ok3, ok4 bool
		k.cOpen, ok1 = waitV2(t, tr, "→ of "+k.name(), deadline, func(l v2line) bool { return !l.close && isClient(l) })
		k.cEnd, ok2 = waitV2(t, tr, "close → of "+k.name(), deadline, func(l v2line) bool { return l.close && isClient(l) })
		k.haveC = ok1 && ok2
		if !k.c.refused {
			k.sOpen, ok3 = waitV2(t, tr, "← of "+k.name(), deadline, func(l v2line) bool { return !l.close && isServer(l) })
			k.sEnd, ok4 = waitV2(t, tr, "close ← of "+k.name(), deadline, func(l v2line) bool { return l.close && isServer(l) })
			k.haveS = ok3 && ok4
		}
	}
	tr.stop(t)
	trace := tr.text(&tr.stdout)
	t.Logf("%s trace:\n%s", variant, trace)
	all := v2Lines(tr)

	for _, k := range conns {
		k := k
		t.Run(k.name(), func(t *testing.T) {
			c := k.c
			if k.haveC {
				o, e := k.cOpen, k.cEnd
				assert.Equal(t, k.clientPid, o.pid(), "→ line, the client's pid: %s", o.raw)
				assert.Equal(t, k.clientPid, e.pid(), "close →, the client's pid: %s", e.raw)
				assert.Equal(t, "netpeer", e.comm, e.raw)
				assert.NotEmpty(t, o.kv["conn"], "→ line without conn=: %s", o.raw)
				assert.Equal(t, o.kv["conn"], e.kv["conn"], "conn= of the close line is its open line's:\n%s\n%s", o.raw, e.raw)
				assert.Equal(t, o.local, e.local, "the close line has its open line's endpoints:\n%s\n%s", o.raw, e.raw)
				assert.Equal(t, c.clientEnd, e.kv["end"], "end= of the client: %s", e.raw)
				checkNum(t, e, "sent", c.up)
				checkNum(t, e, "recv", c.down)
				checkRetrans(t, e, k.clientEnd.retrans)
				_, hasDur := e.num("dur_us")
				assert.True(t, hasDur, "dur_us= missing: %s", e.raw)
				if c.refused {
					assert.Equal(t, "-111", o.kv["ret"], "refused: %s", o.raw)
					assert.Zero(t, e.local.Port(), "a failed connect has local port 0: %s", e.raw)
					assert.NotContains(t, e.kv, "connect_us", "never established, no connect_us=: %s", e.raw)
				} else {
					connectUS, ok := e.num("connect_us")
					assert.True(t, ok, "a → close line has connect_us=: %s", e.raw)
					assert.GreaterOrEqual(t, connectUS, int64(0), e.raw)
				}
				reconnect, has := o.kv["reconnect"]
				if k.i > 0 {
					assert.Equal(t, "1", reconnect, "the same process again to the same server within 5 s: %s", o.raw)
				} else {
					assert.False(t, has, "a first connection is no reconnect: %s", o.raw)
				}
			}
			if k.haveS {
				o, e := k.sOpen, k.sEnd
				assert.Equal(t, k.server, o.local, "← line: its local end is the server's address and port: %s", o.raw)
				assert.Equal(t, k.server, e.local, "close ←: its local end is the server's address and port: %s", e.raw)
				assert.Equal(t, k.serverPid, o.pid(), "← line, the server's pid: %s", o.raw)
				assert.Equal(t, k.serverPid, e.pid(), "close ←, the server's pid (not whoever ran when it closed): %s", e.raw)
				assert.Equal(t, "netpeer", e.comm, e.raw)
				assert.NotEmpty(t, o.kv["conn"], "← line without conn=: %s", o.raw)
				assert.Equal(t, o.kv["conn"], e.kv["conn"], "conn= of the close line is its open line's:\n%s\n%s", o.raw, e.raw)
				assert.Equal(t, c.serverEnd, e.kv["end"], "end= of the server: %s", e.raw)
				checkNum(t, e, "sent", c.down)
				checkNum(t, e, "recv", c.up)
				checkRetrans(t, e, k.serverEnd.retrans)
				_, hasDur := e.num("dur_us")
				assert.True(t, hasDur, "dur_us= missing: %s", e.raw)
				assert.NotContains(t, e.kv, "connect_us", "connect_us= is for → lines only: %s", e.raw)
				assert.NotContains(t, o.kv, "reconnect", "reconnect= is for → lines only: %s", o.raw)
			}
			// Once each: one open line and one close line for each end.
			count := map[string]int{}
			for _, l := range all {
				switch {
				case l.out && l.remote == k.server && (c.refused || l.local == k.client):
					count[fmt.Sprintf("close=%v →", l.close)]++
				case !c.refused && !l.out && l.remote == k.client:
					count[fmt.Sprintf("close=%v ←", l.close)]++
				}
			}
			want := map[string]int{"close=false →": 1, "close=true →": 1}
			if !c.refused {
				want["close=false ←"], want["close=true ←"] = 1, 1
			}
			assert.Equal(t, want, count, "lines of this connection")
		})
	}

	t.Run("conn= differs between connections", func(t *testing.T) {
		seen := map[string]string{}
		for _, k := range conns {
			for _, l := range []v2line{k.cOpen, k.sOpen} {
				id := l.kv["conn"]
				if l.raw == "" || id == "" {
					continue // reported above
				}
				assert.NotContains(t, seen, id, "conn=%s on two connections:\n%s\n%s", id, seen[id], l.raw)
				seen[id] = l.raw
			}
		}
	})

	// The visualizer on the capture, restricted to this test's connections (other tests'
	// netpeers may run at the same time): the lines with one of their ports at either end,
	// and the lines that are not events.
	ports := map[uint16]bool{}
	for _, k := range conns {
		ports[k.server.Port()] = true
		if k.client.IsValid() {
			ports[k.client.Port()] = true
		}
	}
	var capture strings.Builder
	for _, s := range strings.Split(trace, "\n") {
		l, err := parseV2(s)
		if err != nil && (s == "" || strings.HasPrefix(s, "#")) || err == nil && (ports[l.remote.Port()] || ports[l.local.Port()]) {
			capture.WriteString(s + "\n")
		}
	}
	dir := t.TempDir()
	once, twice := filepath.Join(dir, "close.trace"), filepath.Join(dir, "close-twice.trace")
	require.NoError(t, os.WriteFile(once, []byte(capture.String()), 0o644))
	require.NoError(t, os.WriteFile(twice, []byte(capture.String()+capture.String()), 0o644))
	js := runVisualizerJSON(t, visualizer, once)
	var g vizGraph
	require.NoError(t, json.Unmarshal(js, &g), "%s", js)

	t.Run("json edges", func(t *testing.T) {
		node := map[string]vizNode{}
		for _, n := range g.Nodes {
			node[n.ID] = n
		}
		// One edge per case: client pid → server pid, or → the refused address; no other
		// node, no phantom edge (the reset connection's two sides join).
		var wantExternal []string
		for ci := range closeCases {
			c := &closeCases[ci]
			var ks []*closeConn
			for _, k := range conns {
				if k.c == c {
					ks = append(ks, k)
				}
			}
			require.NotEmpty(t, ks, c.name)
			var edges []vizEdge
			for _, e := range g.Edges {
				from, to := node[e.From], node[e.To]
				if from.Kind != "process" || int(from.PID) != ks[0].clientPid {
					continue
				}
				if c.refused && to.Kind == "external" && to.Addr == ks[0].server.String() ||
					!c.refused && to.Kind == "process" && int(to.PID) == ks[0].serverPid {
					edges = append(edges, e)
				}
			}
			if !assert.Len(t, edges, 1, "%s: one edge client → server in\n%s", c.name, js) {
				continue
			}
			e := edges[0]
			if c.refused {
				wantExternal = append(wantExternal, ks[0].server.String())
				assert.True(t, e.Failed, "%s: refused, a failed edge", c.name)
				assert.EqualValues(t, 1, e.Connections, c.name)
				for _, p := range []*int64{e.BytesToServer, e.BytesToClient} {
					if p != nil {
						assert.Zero(t, *p, "%s: no bytes", c.name)
					}
				}
				continue
			}
			assert.False(t, e.Failed, c.name)
			assert.EqualValues(t, c.n, e.Connections, c.name)
			assert.Equal(t, []uint16{ks[0].server.Port()}, e.Ports, c.name)
			var retrans int64
			for _, k := range ks {
				retrans += k.clientEnd.retrans + k.serverEnd.retrans
			}
			checkField(t, c.name+": bytes_to_server", e.BytesToServer, int64(c.n)*c.up)
			checkField(t, c.name+": bytes_to_client", e.BytesToClient, int64(c.n)*c.down)
			if assert.NotNil(t, e.Retransmits, "%s: retransmits missing", c.name) {
				assert.GreaterOrEqual(t, *e.Retransmits, retrans, "%s: retransmits, at least the ends' own count", c.name)
				assert.LessOrEqual(t, *e.Retransmits, retrans+int64(2*c.n*maxLateRetrans), "%s: retransmits", c.name)
			}
			checkField(t, c.name+": open", e.Open, 0)
			checkField(t, c.name+": reconnects", e.Reconnects, int64(c.reconnects))
			if assert.NotNil(t, e.Closed, "%s: closed{} missing", c.name) {
				want := map[string]int64{"client": 0, "server": 0, "reset": 0}
				want[c.closedBy] = int64(c.n)
				got := map[string]int64{"client": 0, "server": 0, "reset": 0}
				for key, v := range e.Closed {
					got[key] = v
				}
				assert.Equal(t, want, got, "%s: closed{}", c.name)
			}
			for name, q := range map[string]*quantiles{"connect_ms": e.ConnectMS, "duration_ms": e.DurationMS} {
				if assert.NotNil(t, q, "%s: %s missing", c.name, name) &&
					assert.NotNil(t, q.P50, "%s: %s.p50", c.name, name) && assert.NotNil(t, q.Max, "%s: %s.max", c.name, name) {
					assert.GreaterOrEqual(t, *q.P50, 0.0, "%s: %s", c.name, name)
					assert.LessOrEqual(t, *q.P50, *q.Max, "%s: %s p50 <= max", c.name, name)
				}
			}
		}
		var external []string
		for _, n := range g.Nodes {
			if n.Kind != "process" {
				external = append(external, n.Addr+n.Label)
			}
		}
		sort.Strings(external)
		assert.Equal(t, wantExternal, external, "the only external node is the refused address: no phantom ends\n%s", js)
		assert.Len(t, g.Edges, len(closeCases), "one edge per case\n%s", js)
	})

	t.Run("the same trace twice draws the same graph", func(t *testing.T) {
		js2 := runVisualizerJSON(t, visualizer, twice)
		a, b := withoutInputCounts(t, js), withoutInputCounts(t, js2)
		assert.Equal(t, string(a), string(b), "every line twice (cat t t): the JSON of once, but for the counts of input lines")
	})
}

func checkNum(t *testing.T, l v2line, key string, want int64) {
	t.Helper()
	got, ok := l.num(key)
	if assert.True(t, ok, "%s= missing or not a number: %s", key, l.raw) {
		assert.Equal(t, want, got, "%s=: %s", key, l.raw)
	}
}

// maxLateRetrans bounds the retransmits an end may make after netpeer's last look at its
// TCP_INFO, just before close(): a FIN the kernel sends again (a tail loss probe, or the
// retransmit timer) when the ACK is late, as it can be when the guest of the kernel matrix
// stalls under emulation. The tracer counts to the socket's end, rightly.
const maxLateRetrans = 2

// checkRetrans: retrans= is the end's own count, or a little more (maxLateRetrans).
func checkRetrans(t *testing.T, l v2line, want int64) {
	t.Helper()
	got, ok := l.num("retrans")
	if assert.True(t, ok, "retrans= missing or not a number: %s", l.raw) {
		assert.GreaterOrEqual(t, got, want, "retrans=, at least what the end counted before closing: %s", l.raw)
		assert.LessOrEqual(t, got, want+maxLateRetrans, "retrans=: %s", l.raw)
	}
}

func checkField(t *testing.T, what string, got *int64, want int64) {
	t.Helper()
	if assert.NotNil(t, got, "%s missing", what) {
		assert.Equal(t, want, *got, what)
	}
}

// The JSON graph (net_visualizer -format json), the fields these tests read.
type vizGraph struct {
	Nodes []vizNode `json:"nodes"`
	Edges []vizEdge `json:"edges"`
}

type vizNode struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	PID   uint32 `json:"pid"`
	Addr  string `json:"addr"`
	Label string `json:"label"`
}

type quantiles struct {
	P50 *float64 `json:"p50"`
	Max *float64 `json:"max"`
}

type vizEdge struct {
	From          string           `json:"from"`
	To            string           `json:"to"`
	Connections   uint64           `json:"connections"`
	Ports         []uint16         `json:"ports"`
	Failed        bool             `json:"failed"`
	BytesToServer *int64           `json:"bytes_to_server"`
	BytesToClient *int64           `json:"bytes_to_client"`
	Retransmits   *int64           `json:"retransmits"`
	Closed        map[string]int64 `json:"closed"`
	Open          *int64           `json:"open"`
	ConnectMS     *quantiles       `json:"connect_ms"`
	DurationMS    *quantiles       `json:"duration_ms"`
	Reconnects    *int64           `json:"reconnects"`
}

func runVisualizerJSON(t *testing.T, visualizer, file string) []byte {
	t.Helper()
	cmd := exec.Command(visualizer, "-q", "-format", "json", file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	js, err := cmd.Output()
	require.NoError(t, err, "net_visualizer %s: %s", file, stderr.String())
	return js
}

// withoutInputCounts is the JSON without the counts of what was read (stats.lines, events,
// repeats: twice as many lines, and the repeats among them, when every line comes twice),
// all else as it was.
func withoutInputCounts(t *testing.T, js []byte) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(js, &m))
	if s, ok := m["stats"].(map[string]any); ok {
		for _, k := range []string{"lines", "events", "repeats"} {
			delete(s, k)
		}
	}
	out, err := json.MarshalIndent(m, "", "  ")
	require.NoError(t, err)
	return out
}
