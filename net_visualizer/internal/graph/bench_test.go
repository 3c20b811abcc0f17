package graph

import (
	"fmt"
	"math/rand"
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
