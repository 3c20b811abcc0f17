package graph

import (
	"fmt"
	"math/rand"
	"runtime"
	"testing"

	"netflow/net_visualizer/internal/trace"
)

// BenchmarkAdd measures the graph builder alone on pre-parsed events shaped like
// netflow-gen's default trace: local pairs (both sides, a little shuffled), 20% external.
func BenchmarkAdd(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	var p trace.Parser
	var evs []trace.Event
	port := 32768
	for len(evs) < 200000 {
		port++
		if port > 60999 {
			port = 32768
		}
		cl, sv := r.Intn(60), r.Intn(60)
		var lines []string
		if r.Intn(5) == 0 {
			lines = append(lines, fmt.Sprintf("198.51.100.%d:443→10.0.2.15:%d|pid=%d comm=c%d", r.Intn(40), port, 1000+cl, cl))
		} else {
			lines = append(lines,
				fmt.Sprintf("127.0.0.1:%d→127.0.0.1:%d|pid=%d comm=c%d", 3000+sv, port, 1000+cl, cl),
				fmt.Sprintf("127.0.0.1:%d←127.0.0.1:%d|pid=%d comm=s%d", port, 3000+sv, 2000+sv, sv))
		}
		for _, l := range lines {
			var ev trace.Event
			if _, err := p.Parse([]byte(l), &ev); err != nil {
				b.Fatal(err)
			}
			evs = append(evs, ev)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g := New()
		for j := range evs {
			g.Add(&evs[j])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}

// BenchmarkAddWholeConnections measures the builder on version 2 lines (both ends' open and
// close lines of every connection), and the memory kept per connection (B/conn: the heap
// in use after the run, over the connections).
func BenchmarkAddWholeConnections(b *testing.B) {
	var p trace.Parser
	var evs []trace.Event
	const conns = 100000
	for i := 0; i < conns; i++ {
		port := 32768 + i%28000
		host := 1 + i/28000
		for _, l := range []string{
			fmt.Sprintf("127.0.0.%d:3000→127.0.0.1:%d|pid=1 conn=ffff8881%08x-c comm=c", host, port, i),
			fmt.Sprintf("127.0.0.1:%d←127.0.0.%d:3000|pid=2 conn=ffff8881%08x-s comm=s", port, host, i),
			fmt.Sprintf("close 127.0.0.%d:3000→127.0.0.1:%d|pid=1 conn=ffff8881%08x-c end=local dur_us=100 sent=10 recv=20 retrans=0 connect_us=10 comm=c", host, port, i),
			fmt.Sprintf("close 127.0.0.1:%d←127.0.0.%d:3000|pid=2 conn=ffff8881%08x-s end=peer dur_us=90 sent=20 recv=10 retrans=0 comm=s", port, host, i),
		} {
			var ev trace.Event
			if _, err := p.Parse([]byte(l), &ev); err != nil {
				b.Fatal(err)
			}
			evs = append(evs, ev)
		}
	}
	b.ResetTimer()
	var kept uint64
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		g := New()
		for j := range evs {
			g.Add(&evs[j])
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		kept = after.HeapInuse - before.HeapInuse
		runtime.KeepAlive(g)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
	b.ReportMetric(float64(kept)/conns, "B/conn")
}
