package graph

import (
	"fmt"
	"math/rand"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netflow/net_visualizer/internal/trace"
)

func events(t *testing.T, lines ...string) []trace.Event {
	t.Helper()
	var p trace.Parser
	var out []trace.Event
	for _, l := range lines {
		var ev trace.Event
		kind, err := p.Parse([]byte(l), &ev)
		require.NoError(t, err, l)
		require.Equal(t, trace.EventLine, kind, l)
		ev.Attrs = append([]trace.Attr(nil), ev.Attrs...)
		out = append(out, ev)
	}
	return out
}

func build(evs []trace.Event) *Graph {
	b := New()
	for i := range evs {
		b.Add(&evs[i])
	}
	return b.Graph()
}

// edgeList renders edges as "from -> to xN ports [failed]" with readable node names.
func edgeList(g *Graph) []string {
	name := func(i int) string {
		n := g.Nodes[i]
		if n.Kind == Process {
			return fmt.Sprintf("%s/%d", n.Comm, n.PID)
		}
		return "ext:" + n.AddrString()
	}
	var out []string
	for _, e := range g.Edges {
		s := fmt.Sprintf("%s -> %s x%d %v", name(e.From), name(e.To), e.Connections, e.Ports)
		if e.Failed {
			s += " failed"
		}
		out = append(out, s)
	}
	return out
}

func TestGraph(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  []string
	}{
		{"both sides joined into client -> server", []string{
			"127.0.0.1:8080→127.0.0.1:40000|pid=1 comm=curl",
			"127.0.0.1:40000←127.0.0.1:8080|pid=2 comm=nginx",
		}, []string{"curl/1 -> nginx/2 x1 [8080]"}},
		{"accept before connect", []string{
			"127.0.0.1:40000←127.0.0.1:8080|pid=2 comm=nginx",
			"127.0.0.1:8080→127.0.0.1:40000|pid=1 comm=curl",
		}, []string{"curl/1 -> nginx/2 x1 [8080]"}},
		{"repeated connections are one edge with a count", []string{
			"127.0.0.1:8080→127.0.0.1:40000|pid=1 comm=curl",
			"127.0.0.1:8080→127.0.0.1:40001|pid=1 comm=curl",
			"127.0.0.1:40001←127.0.0.1:8080|pid=2 comm=nginx",
			"127.0.0.1:40000←127.0.0.1:8080|pid=2 comm=nginx",
		}, []string{"curl/1 -> nginx/2 x2 [8080]"}},
		{"the same line twice is one connection", []string{
			"127.0.0.1:8080→127.0.0.1:40000|pid=1 comm=curl",
			"127.0.0.1:8080→127.0.0.1:40000|pid=1 comm=curl",
			"127.0.0.1:40000←127.0.0.1:8080|pid=2 comm=nginx",
		}, []string{"curl/1 -> nginx/2 x1 [8080]"}},
		{"a 4-tuple used again by another process before its peer showed", []string{
			"127.0.0.1:8080→127.0.0.1:40000|pid=1 comm=curl",
			"127.0.0.1:8080→127.0.0.1:40000|pid=3 comm=wget",
			"127.0.0.1:40000←127.0.0.1:8080|pid=2 comm=nginx",
		}, []string{"wget/3 -> nginx/2 x1 [8080]", "curl/1 -> ext:127.0.0.1:8080 x1 [8080]"}},
		{"a local non-loopback address joins", []string{
			"10.0.2.15:3000→10.0.2.15:40000|pid=1 comm=curl",
			"10.0.2.15:40000←10.0.2.15:3000|pid=2 comm=srv",
		}, []string{"curl/1 -> srv/2 x1 [3000]"}},
		{"unmatched connect goes to remote ip:port", []string{
			"93.184.216.34:443→10.0.0.2:50000|pid=1 comm=curl",
			"93.184.216.34:443→10.0.0.2:50001|pid=1 comm=curl",
		}, []string{"curl/1 -> ext:93.184.216.34:443 x2 [443]"}},
		{"unmatched accepts come from the remote ip", []string{
			"203.0.113.9:61000←10.0.0.2:22|pid=3 comm=sshd",
			"203.0.113.9:61001←10.0.0.2:22|pid=3 comm=sshd",
		}, []string{"ext:203.0.113.9 -> sshd/3 x2 [22]"}},
		{"self loop", []string{
			"127.0.0.1:9000→127.0.0.1:40000|pid=5 comm=app",
			"127.0.0.1:40000←127.0.0.1:9000|pid=5 comm=app",
		}, []string{"app/5 -> app/5 x1 [9000]"}},
		{"ipv4-mapped accept joins an ipv4 connect", []string{
			"127.0.0.1:8080→127.0.0.1:40000|pid=1 comm=curl",
			"[::ffff:127.0.0.1]:40000←[::ffff:127.0.0.1]:8080|pid=2 comm=srv",
		}, []string{"curl/1 -> srv/2 x1 [8080]"}},
		{"ipv6", []string{
			"[::1]:8080→[::1]:40000|pid=1 comm=curl",
			"[::1]:40000←[::1]:8080|pid=2 comm=srv",
		}, []string{"curl/1 -> srv/2 x1 [8080]"}},
		{"failed connects are their own edge and never match", []string{
			"127.0.0.1:8080→127.0.0.1:0|pid=1 ret=-111 comm=curl",
			"127.0.0.1:8080→127.0.0.1:0|pid=1 ret=-111 comm=curl",
			"127.0.0.1:8080→127.0.0.1:40000|pid=1 comm=curl",
			"127.0.0.1:40000←127.0.0.1:8080|pid=2 comm=srv",
			"127.0.0.1:0←127.0.0.1:8080|pid=2 comm=srv",
		}, []string{"curl/1 -> srv/2 x1 [8080]", "curl/1 -> ext:127.0.0.1:8080 x2 [8080] failed", "ext:127.0.0.1 -> srv/2 x1 [8080]"}},
		{"an in-progress connect whose outcome is a failure is the failure only", []string{
			"10.0.0.2:5432→10.0.0.2:40001|pid=1 ret=-115 comm=psql",
			"10.0.0.2:5432→10.0.0.2:40001|pid=1 ret=-111 comm=psql",
			"198.51.100.9:5432→10.0.0.2:40002|pid=1 ret=-115 comm=psql",
		}, []string{"psql/1 -> ext:10.0.0.2:5432 x1 [5432] failed", "psql/1 -> ext:198.51.100.9:5432 x1 [5432]"}},
		{"in-progress connect matches its accept", []string{
			"127.0.0.1:8080→127.0.0.1:40000|pid=1 ret=-115 comm=curl",
			"127.0.0.1:40000←127.0.0.1:8080|pid=2 comm=srv",
		}, []string{"curl/1 -> srv/2 x1 [8080]"}},
		{"several server ports on one edge", []string{
			"127.0.0.1:80→127.0.0.1:40000|pid=1 comm=c",
			"127.0.0.1:40000←127.0.0.1:80|pid=2 comm=s",
			"127.0.0.1:443→127.0.0.1:40001|pid=1 comm=c",
			"127.0.0.1:40001←127.0.0.1:443|pid=2 comm=s",
		}, []string{"c/1 -> s/2 x2 [80 443]"}},
		{"same pid, new name after exec, is a new node", []string{
			"127.0.0.1:80→127.0.0.1:40000|pid=1 comm=sh",
			"127.0.0.1:80→127.0.0.1:40001|pid=1 comm=curl",
		}, []string{"curl/1 -> ext:127.0.0.1:80 x1 [80]", "sh/1 -> ext:127.0.0.1:80 x1 [80]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := build(events(t, tt.lines...))
			assert.ElementsMatch(t, tt.want, edgeList(g))
		})
	}
}

func TestGraphSnapshotDoesNotConsumePending(t *testing.T) {
	b := New()
	evs := events(t,
		"127.0.0.1:8080→127.0.0.1:40000|pid=1 comm=curl",
		"127.0.0.1:40000←127.0.0.1:8080|pid=2 comm=srv")
	b.Add(&evs[0])
	assert.Equal(t, []string{"curl/1 -> ext:127.0.0.1:8080 x1 [8080]"}, edgeList(b.Graph()))
	b.Add(&evs[1])
	assert.Equal(t, []string{"curl/1 -> srv/2 x1 [8080]"}, edgeList(b.Graph()))
	assert.Equal(t, uint64(1), b.Graph().Stats.Connections)
}

func TestGraphOrderIsDeterministic(t *testing.T) {
	lines := []string{
		"127.0.0.1:8080→127.0.0.1:40000|pid=1 comm=curl",
		"127.0.0.1:40000←127.0.0.1:8080|pid=2 comm=nginx",
		"10.1.1.1:5432→127.0.0.1:40001|pid=2 comm=nginx",
		"203.0.113.9:61000←10.0.0.2:22|pid=3 comm=sshd",
		"[2001:db8::1]:443→[2001:db8::2]:50000|pid=1 comm=curl",
	}
	want := build(events(t, lines...))
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 20; i++ {
		r.Shuffle(len(lines), func(a, b int) { lines[a], lines[b] = lines[b], lines[a] })
		assert.Equal(t, want, build(events(t, lines...)), "order %v", lines)
	}
}

// reference computes the graph the slow, obvious way: all lines in memory, grouped by
// connection 4-tuple after the fact. Valid for traces where each 4-tuple is used once.
func reference(evs []trace.Event) []string {
	type key struct{ client, server netip.AddrPort }
	type sides struct{ out, in *trace.Event }
	conns := map[key]*sides{}
	var failed []*trace.Event
	for i := range evs {
		ev := &evs[i]
		if ev.Dir == trace.Out && ev.Failed() {
			failed = append(failed, ev)
			continue
		}
		k := key{ev.Local, ev.Remote}
		if ev.Dir == trace.In {
			k = key{ev.Remote, ev.Local}
		}
		if conns[k] == nil {
			conns[k] = &sides{}
		}
		if ev.Dir == trace.Out {
			conns[k].out = ev
		} else {
			conns[k].in = ev
		}
	}
	type edge struct {
		from, to string
		failed   bool
	}
	counts := map[edge]uint64{}
	ports := map[edge]map[uint16]bool{}
	add := func(e edge, port uint16) {
		counts[e]++
		if ports[e] == nil {
			ports[e] = map[uint16]bool{}
		}
		ports[e][port] = true
	}
	proc := func(ev *trace.Event) string { return fmt.Sprintf("%s/%d", ev.Comm, ev.PID) }
	for k, s := range conns {
		switch {
		case s.out != nil && s.in != nil:
			add(edge{proc(s.out), proc(s.in), false}, k.server.Port())
		case s.out != nil:
			add(edge{proc(s.out), "ext:" + k.server.String(), false}, k.server.Port())
		default:
			add(edge{"ext:" + k.client.Addr().String(), proc(s.in), false}, k.server.Port())
		}
	}
	for _, ev := range failed {
		add(edge{proc(ev), "ext:" + ev.Remote.String(), true}, ev.Remote.Port())
	}
	var out []string
	for e, n := range counts {
		var ps []int
		for p := range ports[e] {
			ps = append(ps, int(p))
		}
		sort.Ints(ps)
		s := fmt.Sprintf("%s -> %s x%d %v", e.from, e.to, n, ps)
		if e.failed {
			s += " failed"
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// TestGraphMatchesReference builds random traces (local pairs, external peers, IPv6, failures,
// lines shuffled) and checks the streaming builder against the obvious computation.
func TestGraphMatchesReference(t *testing.T) {
	for seed := int64(1); seed <= 30; seed++ {
		r := rand.New(rand.NewSource(seed))
		var lines []string
		procs := 3 + r.Intn(8)
		port := 30000
		for c := 0; c < 200+r.Intn(300); c++ {
			port++
			cl, sv := r.Intn(procs), r.Intn(procs)
			comm := func(p int) string { return fmt.Sprintf("proc %d", p) }
			srvPort := 8000 + sv%4
			cAddr, sAddr := "127.0.0.1", "127.0.0.1"
			if r.Intn(10) == 0 {
				cAddr, sAddr = "[::1]", "[::1]"
			}
			switch r.Intn(10) {
			case 0: // external server
				lines = append(lines, fmt.Sprintf("198.51.100.%d:443→10.0.0.2:%d|pid=%d comm=%s", r.Intn(5), port, 100+cl, comm(cl)))
			case 1: // external client
				lines = append(lines, fmt.Sprintf("203.0.113.%d:%d←10.0.0.2:%d|pid=%d comm=%s", r.Intn(5), port, srvPort, 100+sv, comm(sv)))
			case 2: // refused
				lines = append(lines, fmt.Sprintf("%s:%d→%s:0|pid=%d ret=-111 comm=%s", sAddr, srvPort, cAddr, 100+cl, comm(cl)))
			default: // local pair
				lines = append(lines,
					fmt.Sprintf("%s:%d→%s:%d|pid=%d comm=%s", sAddr, srvPort, cAddr, port, 100+cl, comm(cl)),
					fmt.Sprintf("%s:%d←%s:%d|pid=%d comm=%s", cAddr, port, sAddr, srvPort, 100+sv, comm(sv)))
			}
		}
		r.Shuffle(len(lines), func(a, b int) { lines[a], lines[b] = lines[b], lines[a] })
		evs := events(t, lines...)
		got := edgeList(build(evs))
		sort.Strings(got)
		require.Equal(t, reference(evs), got, "seed %d:\n%s", seed, strings.Join(lines, "\n"))
	}
}

// TestMemoryDoesNotGrowWithExternalConnections: connections whose remote end is not on this
// host are decided at once, so nothing waits for them, however many there are.
func TestMemoryDoesNotGrowWithExternalConnections(t *testing.T) {
	b := New()
	var p trace.Parser
	var ev trace.Event
	for i := 0; i < 100000; i++ {
		line := fmt.Sprintf("198.51.100.%d:443→10.0.2.15:%d|pid=1 comm=curl", i%7, 1024+i%60000)
		_, err := p.Parse([]byte(line), &ev)
		require.NoError(t, err)
		b.Add(&ev)
	}
	assert.Empty(t, b.pending)
	g := b.Graph()
	assert.Equal(t, uint64(100000), g.Stats.Connections, "4-tuples reused over time are new connections")
	assert.Len(t, g.Edges, 7)
}

// TestWaitingConnectionsAreBounded: a connect whose accept is never traced waits at most
// Window connections, then is drawn as unmatched.
func TestWaitingConnectionsAreBounded(t *testing.T) {
	b := New()
	var p trace.Parser
	var ev trace.Event
	n := Window + 500
	for i := 0; i < n; i++ {
		line := fmt.Sprintf("127.0.0.1:8080→127.0.0.%d:%d|pid=1 comm=curl", 1+i/60000, 1024+i%60000)
		_, err := p.Parse([]byte(line), &ev)
		require.NoError(t, err)
		b.Add(&ev)
	}
	assert.Len(t, b.pending, Window)
	g := b.Graph()
	assert.Equal(t, []string{fmt.Sprintf("curl/1 -> ext:127.0.0.1:8080 x%d [8080]", n)}, edgeList(g))
}

func TestAggregatedLines(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  []string
	}{
		{"counts are added and both sides joined by client address and server", []string{
			"127.0.0.1:5432→127.0.0.1:0|pid=1 count=40 comm=app",
			"127.0.0.1:5432→127.0.0.1:0|pid=1 count=2 comm=app",
			"127.0.0.1:0←127.0.0.1:5432|pid=9 count=42 comm=postgres",
		}, []string{"app/1 -> postgres/9 x42 [5432]"}},
		{"several clients, one server", []string{
			"127.0.0.1:5432→127.0.0.1:0|pid=1 count=30 comm=app",
			"127.0.0.1:5432→127.0.0.1:0|pid=2 count=10 comm=cron",
			"127.0.0.1:0←127.0.0.1:5432|pid=9 count=40 comm=postgres",
		}, []string{"app/1 -> postgres/9 x30 [5432]", "cron/2 -> postgres/9 x10 [5432]"}},
		{"several accepting workers share a client's connections in proportion", []string{
			"127.0.0.1:80→127.0.0.1:0|pid=1 count=10 comm=curl",
			"127.0.0.1:0←127.0.0.1:80|pid=7 count=6 comm=nginx",
			"127.0.0.1:0←127.0.0.1:80|pid=8 count=4 comm=nginx",
		}, []string{"curl/1 -> nginx/7 x6 [80]", "curl/1 -> nginx/8 x4 [80]"}},
		{"shares add up to the client's count", []string{
			"127.0.0.1:80→127.0.0.1:0|pid=1 count=10 comm=curl",
			"127.0.0.1:0←127.0.0.1:80|pid=7 count=1 comm=nginx",
			"127.0.0.1:0←127.0.0.1:80|pid=8 count=1 comm=nginx",
			"127.0.0.1:0←127.0.0.1:80|pid=9 count=1 comm=nginx",
		}, []string{"curl/1 -> nginx/7 x4 [80]", "curl/1 -> nginx/8 x3 [80]", "curl/1 -> nginx/9 x3 [80]"}},
		{"no server side: to the remote endpoint", []string{
			"127.0.0.1:80→127.0.0.1:0|pid=1 count=10 comm=curl",
		}, []string{"curl/1 -> ext:127.0.0.1:80 x10 [80]"}},
		{"no client side: from the remote host", []string{
			"127.0.0.1:0←127.0.0.1:80|pid=7 count=3 comm=nginx",
		}, []string{"ext:127.0.0.1 -> nginx/7 x3 [80]"}},
		{"external peers and failures", []string{
			"198.51.100.7:443→10.0.0.2:0|pid=1 count=5 comm=curl",
			"127.0.0.1:81→127.0.0.1:0|pid=1 ret=-111 count=4 comm=curl",
		}, []string{"curl/1 -> ext:198.51.100.7:443 x5 [443]", "curl/1 -> ext:127.0.0.1:81 x4 [81] failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := build(events(t, tt.lines...))
			assert.ElementsMatch(t, tt.want, edgeList(g))
		})
	}
}

// TestAggregatedWorkerTotals checks that when several processes accept on one address, each
// is drawn with as many incoming connections as its accept line says, however the client
// side's counts are split into lines, in any order, over any number of intervals.
func TestAggregatedWorkerTotals(t *testing.T) {
	// Ten curls, one connect each, to nginx, whose workers 10056 and 10057 accepted 7 and 3.
	curls := func(from, to int) []string {
		var out []string
		for pid := from; pid < to; pid++ {
			out = append(out, fmt.Sprintf("127.0.0.1:80→127.0.0.1:0|pid=%d uid=0 count=1 comm=curl", pid))
		}
		return out
	}
	accept := func(pid, n int) string {
		return fmt.Sprintf("127.0.0.1:0←127.0.0.1:80|pid=%d uid=33 count=%d comm=nginx", pid, n)
	}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name    string
		lines   []string
		servers map[uint32]uint64 // connections into each server pid
		clients map[uint32]uint64 // connections out of each client pid
	}{
		{"ten curls, workers 7 and 3, connects first",
			cat(curls(100, 110), []string{accept(10056, 7), accept(10057, 3)}),
			map[uint32]uint64{10056: 7, 10057: 3}, nil},
		{"ten curls, workers 7 and 3, accepts first, the smaller first",
			cat([]string{accept(10057, 3), accept(10056, 7)}, curls(100, 110)),
			map[uint32]uint64{10056: 7, 10057: 3}, nil},
		{"ten curls over two intervals",
			cat(curls(100, 106), []string{accept(10056, 4), accept(10057, 2)},
				[]string{accept(10057, 1), accept(10056, 3)}, curls(106, 110)),
			map[uint32]uint64{10056: 7, 10057: 3}, nil},
		{"one client over intervals, three workers",
			[]string{
				"127.0.0.1:80→127.0.0.1:0|pid=1 count=2 comm=ab",
				accept(7, 1), accept(8, 1),
				"127.0.0.1:80→127.0.0.1:0|pid=1 count=3 comm=ab",
				accept(9, 2), accept(7, 1),
			},
			map[uint32]uint64{7: 2, 8: 1, 9: 2}, map[uint32]uint64{1: 5}},
		{"clients of unequal counts, workers of unequal counts",
			[]string{
				"127.0.0.1:80→127.0.0.1:0|pid=1 count=1 comm=a",
				"127.0.0.1:80→127.0.0.1:0|pid=2 count=1 comm=b",
				"127.0.0.1:80→127.0.0.1:0|pid=3 count=5 comm=c",
				"127.0.0.1:80→127.0.0.1:0|pid=4 count=2 comm=d",
				accept(7, 1), accept(8, 1), accept(9, 1), accept(10, 6),
			},
			map[uint32]uint64{7: 1, 8: 1, 9: 1, 10: 6}, map[uint32]uint64{1: 1, 2: 1, 3: 5, 4: 2}},
	}
	for _, tt := range tests {
		for _, reversed := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/reversed=%v", tt.name, reversed), func(t *testing.T) {
				lines := slices.Clone(tt.lines)
				if reversed {
					slices.Reverse(lines)
				}
				g := build(events(t, lines...))
				in, out := map[uint32]uint64{}, map[uint32]uint64{}
				var total uint64
				for _, e := range g.Edges {
					require.Equal(t, Process, g.Nodes[e.From].Kind, edgeList(g))
					require.Equal(t, Process, g.Nodes[e.To].Kind, edgeList(g))
					in[g.Nodes[e.To].PID] += e.Connections
					out[g.Nodes[e.From].PID] += e.Connections
					total += e.Connections
				}
				assert.Equal(t, tt.servers, in, edgeList(g))
				if tt.clients == nil {
					for pid := range out {
						assert.Equal(t, uint64(1), out[pid], "curl %d", pid)
					}
					assert.Len(t, out, 10)
				} else {
					assert.Equal(t, tt.clients, out, edgeList(g))
				}
				assert.Equal(t, total, g.Stats.Connections)
			})
		}
	}
}

// TestShareAddsUp checks share on random counts: every client's flows add up to what it
// made and, when the two sides agree, every server's to what it accepted.
func TestShareAddsUp(t *testing.T) {
	r := rand.New(rand.NewSource(8))
	for range 2000 {
		outs, ins := map[nodeID]uint64{}, map[nodeID]uint64{}
		var total uint64
		for c := range nodeID(1 + r.Intn(12)) {
			n := uint64(1 + r.Intn(5))
			if r.Intn(4) == 0 {
				n += uint64(r.Intn(1000))
			}
			outs[c] += n
			total += n
		}
		servers := 1 + r.Intn(6)
		left := total
		for s := range servers {
			n := left
			if s < servers-1 {
				n = uint64(r.Int63n(int64(left) + 1))
			}
			if n > 0 {
				ins[nodeID(100+s)] = n
			}
			left -= n
		}
		gotOut, gotIn := map[nodeID]uint64{}, map[nodeID]uint64{}
		for _, f := range share(outs, ins, total, total) {
			require.NotZero(t, f.n)
			gotOut[f.client] += f.n
			gotIn[f.server] += f.n
		}
		require.Equal(t, outs, gotOut)
		require.Equal(t, ins, gotIn)
	}
}
