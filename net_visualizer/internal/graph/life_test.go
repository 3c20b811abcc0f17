package graph

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netflow/net_visualizer/internal/trace"
)

// lifeList is edgeList with each edge's Life, when it has one.
func lifeList(g *Graph) []string {
	out := edgeList(g)
	for i, e := range g.Edges {
		if l := e.Life; l != nil {
			out[i] += fmt.Sprintf(" | to-server %d to-client %d retrans %d closed %+v open %d reconnects %d connect %v dur %v",
				l.BytesToServer, l.BytesToClient, l.Retransmits, l.Closed, l.Open, l.Reconnects, l.ConnectUS, l.DurUS)
		}
	}
	return out
}

// A connection between curl (client, pid 1) and nginx (server, pid 2), both ends traced.
var curlNginx = []string{
	"127.0.0.1:8080→127.0.0.1:51044|pid=1 conn=c1 comm=curl",
	"127.0.0.1:51044←127.0.0.1:8080|pid=2 conn=s1 comm=nginx",
	"close 127.0.0.1:8080→127.0.0.1:51044|pid=1 conn=c1 end=local dur_us=1532 sent=12345 recv=54321 retrans=1 connect_us=85 comm=curl",
	"close 127.0.0.1:51044←127.0.0.1:8080|pid=2 conn=s1 end=peer dur_us=1449 sent=54321 recv=12345 retrans=2 comm=nginx",
}

func TestLife(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  []string
	}{
		{"both ends, both closes: the client's bytes, both ends' retransmits", curlNginx,
			[]string{"curl/1 -> nginx/2 x1 [8080] | to-server 12345 to-client 54321 retrans 3 closed {Client:1 Server:0 Reset:0 Timeout:0} open 0 reconnects 0 connect [85] dur [1532]"}},
		{"the server's close only: its bytes swapped, its duration", []string{
			curlNginx[0], curlNginx[1], curlNginx[3],
		}, []string{"curl/1 -> nginx/2 x1 [8080] | to-server 12345 to-client 54321 retrans 2 closed {Client:1 Server:0 Reset:0 Timeout:0} open 0 reconnects 0 connect [] dur [1449]"}},
		{"close lines only: drawn from them", []string{curlNginx[3], curlNginx[2]},
			[]string{"curl/1 -> nginx/2 x1 [8080] | to-server 12345 to-client 54321 retrans 3 closed {Client:1 Server:0 Reset:0 Timeout:0} open 0 reconnects 0 connect [85] dur [1532]"}},
		{"close before open joins", []string{curlNginx[2], curlNginx[1], curlNginx[0], curlNginx[3]},
			[]string{"curl/1 -> nginx/2 x1 [8080] | to-server 12345 to-client 54321 retrans 3 closed {Client:1 Server:0 Reset:0 Timeout:0} open 0 reconnects 0 connect [85] dur [1532]"}},
		{"no close line: open", []string{curlNginx[0], curlNginx[1]},
			[]string{"curl/1 -> nginx/2 x1 [8080] | to-server 0 to-client 0 retrans 0 closed {Client:0 Server:0 Reset:0 Timeout:0} open 1 reconnects 0 connect [] dur []"}},
		{"server closed first, seen from the server", []string{
			"127.0.0.1:51044←127.0.0.1:8080|pid=2 conn=s1 comm=nginx",
			"close 127.0.0.1:51044←127.0.0.1:8080|pid=2 conn=s1 end=local comm=nginx",
		}, []string{"ext:127.0.0.1 -> nginx/2 x1 [8080] | to-server 0 to-client 0 retrans 0 closed {Client:0 Server:1 Reset:0 Timeout:0} open 0 reconnects 0 connect [] dur []"}},
		{"resets and timeouts, from either end; a reconnect", []string{
			"127.0.0.1:8080→127.0.0.1:40001|pid=1 conn=a comm=c",
			"close 127.0.0.1:8080→127.0.0.1:40001|pid=1 conn=a end=reset-sent comm=c",
			"127.0.0.1:8080→127.0.0.1:40002|pid=1 conn=b reconnect=1 comm=c",
			"close 127.0.0.1:40002←127.0.0.1:8080|pid=2 conn=y end=reset-recv comm=s",
			"close 127.0.0.1:8080→127.0.0.1:40003|pid=1 conn=c end=timeout dur_us=9 comm=c",
			"close 127.0.0.1:40003←127.0.0.1:8080|pid=2 conn=z end=local dur_us=8 comm=s",
			"close 127.0.0.1:8080→127.0.0.1:40004|pid=1 conn=d end=peer dur_us=7 comm=c",
		}, []string{"c/1 -> ext:127.0.0.1:8080 x2 [8080] | to-server 0 to-client 0 retrans 0 closed {Client:0 Server:1 Reset:1 Timeout:0} open 0 reconnects 0 connect [] dur [7]",
			"c/1 -> s/2 x2 [8080] | to-server 0 to-client 0 retrans 0 closed {Client:0 Server:0 Reset:1 Timeout:1} open 0 reconnects 1 connect [] dur [9]"}},
		{"a failed connect is failed, not closed", []string{
			"127.0.0.1:8081→127.0.0.1:0|pid=1 ret=-111 conn=f comm=c",
			"close 127.0.0.1:8081→127.0.0.1:0|pid=1 conn=f end=never retrans=0 comm=c",
			"close 127.0.0.1:8082→127.0.0.1:0|pid=1 conn=g end=never retrans=5 comm=c",
		}, []string{"c/1 -> ext:127.0.0.1:8081 x1 [8081] failed | to-server 0 to-client 0 retrans 0 closed {Client:0 Server:0 Reset:0 Timeout:0} open 0 reconnects 0 connect [] dur []",
			"c/1 -> ext:127.0.0.1:8082 x1 [8082] failed | to-server 0 to-client 0 retrans 5 closed {Client:0 Server:0 Reset:0 Timeout:0} open 0 reconnects 0 connect [] dur []"}},
		{"a 4-tuple used again with a new conn= is a new connection", []string{
			curlNginx[0], curlNginx[1], curlNginx[2], curlNginx[3],
			"127.0.0.1:8080→127.0.0.1:51044|pid=1 conn=c2 reconnect=1 comm=curl",
			"127.0.0.1:51044←127.0.0.1:8080|pid=2 conn=s2 comm=nginx",
			"close 127.0.0.1:8080→127.0.0.1:51044|pid=1 conn=c2 end=peer dur_us=100 sent=1 recv=2 connect_us=50 comm=curl",
		}, []string{"curl/1 -> nginx/2 x2 [8080] | to-server 12346 to-client 54323 retrans 3 closed {Client:1 Server:1 Reset:0 Timeout:0} open 0 reconnects 1 connect [50 85] dur [100 1532]"}},
		{"percentiles: the lower median and the maximum", []string{
			"close 127.0.0.1:80→127.0.0.1:1|pid=1 conn=1 end=local dur_us=30 connect_us=3 comm=c",
			"close 127.0.0.1:80→127.0.0.1:2|pid=1 conn=2 end=local dur_us=10 connect_us=1 comm=c",
			"close 127.0.0.1:80→127.0.0.1:3|pid=1 conn=3 end=local dur_us=40 connect_us=4 comm=c",
			"close 127.0.0.1:80→127.0.0.1:4|pid=1 conn=4 end=local dur_us=20 connect_us=2 comm=c",
		}, []string{"c/1 -> ext:127.0.0.1:80 x4 [80] | to-server 0 to-client 0 retrans 0 closed {Client:4 Server:0 Reset:0 Timeout:0} open 0 reconnects 0 connect [1 2 3 4] dur [10 20 30 40]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := build(events(t, tt.lines...))
			assert.ElementsMatch(t, tt.want, lifeList(g))
		})
	}
}

func TestLifePercentiles(t *testing.T) {
	l := &Life{ConnectUS: []uint64{1, 2, 3, 4}, DurUS: []uint64{7}}
	p50, max, ok := l.Connect()
	assert.True(t, ok)
	assert.Equal(t, [2]uint64{2, 4}, [2]uint64{p50, max})
	p50, max, ok = l.Duration()
	assert.True(t, ok)
	assert.Equal(t, [2]uint64{7, 7}, [2]uint64{p50, max})
	_, _, ok = (&Life{}).Connect()
	assert.False(t, ok)
}

// TestRepeatsChangeNothing: every line delivered twice, in any order, draws the same graph.
func TestRepeatsChangeNothing(t *testing.T) {
	var lines []string
	for i := 0; i < 40; i++ {
		cp := 40000 + i
		lines = append(lines,
			fmt.Sprintf("127.0.0.1:8080→127.0.0.1:%d|pid=1 conn=c%d reconnect=%d comm=curl", cp, i, i%2),
			fmt.Sprintf("127.0.0.1:%d←127.0.0.1:8080|pid=2 conn=s%d comm=nginx", cp, i))
		if i%3 != 0 {
			lines = append(lines,
				fmt.Sprintf("close 127.0.0.1:8080→127.0.0.1:%d|pid=1 conn=c%d end=local dur_us=%d sent=%d recv=%d retrans=%d connect_us=%d comm=curl", cp, i, 100+i, i, 2*i, i%2, i),
				fmt.Sprintf("close 127.0.0.1:%d←127.0.0.1:8080|pid=2 conn=s%d end=peer dur_us=%d sent=%d recv=%d retrans=1 comm=nginx", cp, i, 90+i, 2*i, i))
		}
		if i%5 == 0 {
			lines = append(lines, fmt.Sprintf("198.51.100.1:443→10.0.2.15:%d|pid=1 conn=x%d comm=curl", cp, i),
				fmt.Sprintf("close 198.51.100.1:443→10.0.2.15:%d|pid=1 conn=x%d end=reset-recv sent=5 comm=curl", cp, i),
				fmt.Sprintf("127.0.0.1:9999→127.0.0.1:0|pid=1 ret=-111 conn=f%d comm=curl", i),
				fmt.Sprintf("close 127.0.0.1:9999→127.0.0.1:0|pid=1 conn=f%d end=never comm=curl", i))
		}
	}
	want := lifeList(build(events(t, lines...)))
	require.NotEmpty(t, want)
	for seed := int64(1); seed <= 20; seed++ {
		r := rand.New(rand.NewSource(seed))
		twice := append(append([]string(nil), lines...), lines...)
		r.Shuffle(len(twice), func(a, b int) { twice[a], twice[b] = twice[b], twice[a] })
		g := build(events(t, twice...))
		require.Equal(t, want, lifeList(g), "seed %d:\n%s", seed, strings.Join(twice, "\n"))
	}
}

// TestVersion1RepeatAfterTheMatchIsNoPhantom is the real capture's case: redis-cli's connect
// line delivered twice, the second after its connection was joined. It drew
// redis-cli → 127.0.0.1:6390 beside the true redis-cli → redis-server.
func TestVersion1RepeatAfterTheMatchIsNoPhantom(t *testing.T) {
	connect := "127.0.0.1:6390→127.0.0.1:43120|pid=10 comm=redis-cli"
	accept := "127.0.0.1:43120←127.0.0.1:6390|pid=20 comm=redis-server"
	for name, tt := range map[string]struct {
		lines []string
		n     int
	}{
		"connect, accept, connect":  {[]string{connect, accept, connect}, 1},
		"accept, connect, accept":   {[]string{accept, connect, accept}, 1},
		"connect, connect, accept":  {[]string{connect, connect, accept}, 1},
		"repeat after other conns":  {[]string{connect, accept, "127.0.0.1:6390→127.0.0.1:43121|pid=10 comm=redis-cli", "127.0.0.1:43121←127.0.0.1:6390|pid=20 comm=redis-server", connect}, 2},
		"as many from each end: 2":  {[]string{connect, accept, connect, accept}, 2},
		"as many, in another order": {[]string{connect, connect, accept, accept}, 2},
	} {
		t.Run(name, func(t *testing.T) {
			g := build(events(t, tt.lines...))
			assert.Equal(t, []string{fmt.Sprintf("redis-cli/10 -> redis-server/20 x%d [6390]", tt.n)}, edgeList(g))
		})
	}
	// Beyond the number seen from the other end, lines are repeats; as many on each side are
	// that many connections (a 4-tuple used again).
	g := build(events(t, connect, connect, accept, accept, connect, accept, connect))
	assert.Equal(t, []string{"redis-cli/10 -> redis-server/20 x3 [6390]"}, edgeList(g))
	// The other end not traced: each line is a connection.
	g = build(events(t, connect, connect))
	assert.Equal(t, []string{"redis-cli/10 -> ext:127.0.0.1:6390 x2 [6390]"}, edgeList(g))
}

func TestAggregatedCloseLines(t *testing.T) {
	g := build(events(t,
		"127.0.0.1:5432→127.0.0.1:0|pid=1 count=40 comm=app",
		"127.0.0.1:0←127.0.0.1:5432|pid=2 count=40 comm=pg",
		"close 127.0.0.1:5432→127.0.0.1:0|pid=1 count=30 end=local sent=300 recv=3000 retrans=2 comm=app",
		"close 127.0.0.1:5432→127.0.0.1:0|pid=1 count=10 end=reset-recv sent=5 recv=0 comm=app",
		"close 127.0.0.1:0←127.0.0.1:5432|pid=2 count=40 end=peer sent=3000 recv=305 retrans=1 comm=pg",
	))
	assert.Equal(t, []string{"app/1 -> pg/2 x40 [5432] | to-server 305 to-client 3000 retrans 2 closed {Client:30 Server:0 Reset:10 Timeout:0} open 0 reconnects 0 connect [] dur []"},
		lifeList(g), "the client's sums, counts not added to the connections, no percentiles")
	// Only the server's close lines: theirs, swapped.
	g = build(events(t,
		"127.0.0.1:5432→127.0.0.1:0|pid=1 count=4 comm=app",
		"127.0.0.1:0←127.0.0.1:5432|pid=2 count=4 comm=pg",
		"close 127.0.0.1:0←127.0.0.1:5432|pid=2 count=4 end=local sent=40 recv=4 retrans=1 comm=pg",
	))
	assert.Equal(t, []string{"app/1 -> pg/2 x4 [5432] | to-server 4 to-client 40 retrans 1 closed {Client:0 Server:4 Reset:0 Timeout:0} open 0 reconnects 0 connect [] dur []"}, lifeList(g))
}

// TestWaitingEndsAreBounded: an end with conn= whose peer is never traced waits at most
// Window connections too.
func TestWaitingEndsAreBounded(t *testing.T) {
	b := New()
	var p trace.Parser
	var ev trace.Event
	n := Window + 500
	for i := 0; i < n; i++ {
		line := fmt.Sprintf("127.0.0.1:8080→127.0.0.%d:%d|pid=1 conn=%x comm=curl", 1+i/60000, 1024+i%60000, i)
		_, err := p.Parse([]byte(line), &ev)
		require.NoError(t, err)
		b.Add(&ev)
	}
	assert.Len(t, b.pending, Window)
	assert.Len(t, b.ends, n)
	g := b.Graph()
	assert.Equal(t, []string{fmt.Sprintf("curl/1 -> ext:127.0.0.1:8080 x%d [8080]", n)}, edgeList(g))
	assert.Equal(t, uint64(n), g.Edges[0].Life.Open)
}

// TestSnapshotDoesNotConsumeEnds: Graph (as -every calls it) leaves waiting ends waiting.
func TestSnapshotDoesNotConsumeEnds(t *testing.T) {
	b := New()
	evs := events(t, curlNginx...)
	b.Add(&evs[2])
	assert.Equal(t, []string{"curl/1 -> ext:127.0.0.1:8080 x1 [8080] | to-server 12345 to-client 54321 retrans 1 closed {Client:1 Server:0 Reset:0 Timeout:0} open 0 reconnects 0 connect [85] dur [1532]"}, lifeList(b.Graph()))
	for i := range evs {
		b.Add(&evs[i])
	}
	assert.Equal(t, []string{"curl/1 -> nginx/2 x1 [8080] | to-server 12345 to-client 54321 retrans 3 closed {Client:1 Server:0 Reset:0 Timeout:0} open 0 reconnects 0 connect [85] dur [1532]"}, lifeList(b.Graph()))
	assert.Equal(t, uint64(1), b.Graph().Stats.Repeats, "the close line added twice")
}
