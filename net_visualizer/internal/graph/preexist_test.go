package graph

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Lines listed at the tracer's start (preexisting=1) count on their edge: a connection
// once, whichever of its ends was listed, and not those traced at their connect.
func TestPreexistingCounted(t *testing.T) {
	g := build(events(t,
		// Both ends listed: one connection.
		"127.0.0.1:5432→127.0.0.1:40000|pid=1 conn=a1-0 netns=4026531833 preexisting=1 comm=app",
		"127.0.0.1:40000←127.0.0.1:5432|pid=2 conn=a2-0 netns=4026531833 preexisting=1 comm=postgres",
		// A connection of the same pair traced at its connect and accept.
		"127.0.0.1:5432→127.0.0.1:40001|pid=1 conn=b1-5 comm=app",
		"127.0.0.1:40001←127.0.0.1:5432|pid=2 conn=b2-6 comm=postgres",
		// A listed end whose peer is outside: drawn to the external end.
		"10.0.0.5:22←10.0.0.2:22|pid=3 conn=c1-0 preexisting=1 comm=sshd",
		// In a name it is no mark.
		"127.0.0.1:80→127.0.0.1:40002|pid=4 conn=d1-7 comm=x preexisting=1",
	))
	got := map[string]uint64{}
	for _, e := range g.Edges {
		require.NotNil(t, e.Life, "conn= lines have a Life")
		got[g.Nodes[e.From].Comm+">"+g.Nodes[e.To].Comm] = e.Life.Preexisting
		if g.Nodes[e.From].Comm == "app" {
			assert.Equal(t, uint64(2), e.Connections)
		}
	}
	assert.Equal(t, uint64(1), got["app>postgres"])
	assert.Equal(t, uint64(1), got[">sshd"])
	assert.Equal(t, uint64(0), got["x preexisting=1>"])
	assert.Len(t, got, 3)
}
