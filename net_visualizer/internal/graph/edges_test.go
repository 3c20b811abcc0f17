package graph

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSnapshotsAndFinalAgree: on a trace of more edges than a chunk of records holds (and
// than the key table first has room for), with edges of many ports, local pairs still
// waiting and connections with close lines: a snapshot (Graph) changes nothing in the
// builder (the same snapshot twice, and the builder goes on to the same end as one that never
// took one), and the last graph (Final, which takes the builder's edges) is the snapshot of
// the same point.
func TestSnapshotsAndFinalAgree(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	var lines []string
	for i := 0; i < 3*chunkLen; i++ {
		pid := 100 + r.Intn(300)
		switch r.Intn(6) {
		case 0: // an external client, to one of a few server ports: edges of many ports
			lines = append(lines, fmt.Sprintf("203.0.113.%d:%d←10.0.0.2:%d|pid=%d comm=srv", r.Intn(50), 1024+r.Intn(60000), 8000+r.Intn(20), pid))
		case 1: // a local pair, both ends, with close lines
			c := 30000 + i%30000
			lines = append(lines,
				fmt.Sprintf("127.0.0.1:9000→127.0.0.1:%d|pid=%d conn=c%d comm=cl", c, pid, i),
				fmt.Sprintf("127.0.0.1:%d←127.0.0.1:9000|pid=7 conn=s%d comm=db", c, i),
				fmt.Sprintf("close 127.0.0.1:9000→127.0.0.1:%d|pid=%d conn=c%d end=local sent=10 recv=20 retrans=0 dur_us=5 comm=cl", c, pid, i))
		case 2: // one end of a local pair: waits for its other side
			lines = append(lines, fmt.Sprintf("127.0.0.1:9100→127.0.0.1:%d|pid=%d comm=lone", 1024+i%60000, pid))
		default: // an external server
			lines = append(lines, fmt.Sprintf("198.51.100.%d:%d→10.0.0.2:%d|pid=%d comm=cl", r.Intn(200), 443+r.Intn(3), 1024+r.Intn(60000), pid))
		}
	}
	evs := events(t, lines...)
	half := len(evs) / 2

	b, plain := New(), New()
	for i := range evs[:half] {
		b.Add(&evs[i])
		plain.Add(&evs[i])
	}
	first := b.Graph()
	require.Equal(t, first, b.Graph(), "a snapshot changes nothing")
	require.Greater(t, len(first.Edges), chunkLen/2)
	for i := range evs[half:] {
		b.Add(&evs[half+i])
		plain.Add(&evs[half+i])
	}
	last := b.Graph()
	require.Greater(t, len(last.Edges), chunkLen, "more edges than a chunk")
	require.Equal(t, last, plain.Graph(), "taking snapshots changed the builder")
	require.Equal(t, last, b.Final(), "Final is the snapshot of the same point")
	manyPorts := 0
	for _, e := range last.Edges {
		if len(e.Ports) > 1 {
			manyPorts++
		}
	}
	require.NotZero(t, manyPorts)
}
