package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// preexisting=1 reaches the graph on every line of a process, not only on its first (the
// pipeline decodes the other keys of a process's first line only).
func TestPreexistingThroughThePipeline(t *testing.T) {
	in := strings.Join([]string{
		"# line format 3",
		"127.0.0.1:9000→127.0.0.1:40000|pid=1 uid=0 conn=a-1 comm=app",
		"127.0.0.1:40000←127.0.0.1:9000|pid=2 uid=0 conn=b-2 comm=srv",
		"10.0.0.1:40009←127.0.0.1:6000|pid=3 uid=0 conn=e-3 comm=db",
		"127.0.0.1:5432→127.0.0.1:40001|pid=1 uid=0 conn=c-0 netns=1 preexisting=1 comm=app",
		"127.0.0.1:40001←127.0.0.1:5432|pid=3 uid=0 conn=d-0 netns=1 preexisting=1 comm=db",
		"",
	}, "\n")
	for _, args := range [][]string{{"-format", "json"}, {"-format", "json", "-comm", "app"}} {
		code, out, stderr := runMain(t, in, args...)
		require.Equal(t, 0, code, stderr)
		var doc struct {
			Nodes []struct {
				Attrs map[string]string `json:"attrs"`
			} `json:"nodes"`
			Edges []struct {
				Ports       []uint16 `json:"ports"`
				Preexisting uint64   `json:"preexisting"`
			} `json:"edges"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &doc))
		for _, n := range doc.Nodes {
			assert.NotContains(t, n.Attrs, "preexisting", "a connection's mark, not the process's: %s", out)
		}
		got := map[uint16]uint64{}
		for _, e := range doc.Edges {
			got[e.Ports[0]] = e.Preexisting
		}
		assert.Equal(t, uint64(1), got[5432], "%v: %s", args, out)
		assert.Contains(t, got, uint16(9000), "%v: %s", args, out)
		assert.Equal(t, uint64(0), got[9000]+got[6000], "%v: %s", args, out)
	}
}
