package render

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netflow/net_visualizer/internal/graph"
)

// An edge whose connections were all open before the trace is dashed in DOT; JSON counts
// them per edge, and leaves the count out when there are none.
func TestPreexistingEdges(t *testing.T) {
	g := graph.Finish([]graph.Node{
		{Kind: graph.Process, PID: 1, Comm: "app"},
		{Kind: graph.Process, PID: 2, Comm: "postgres"},
		{Kind: graph.External, Addr: netip.MustParseAddrPort("10.0.0.9:22"), Port: true},
		{Kind: graph.Process, PID: 3, Comm: "curl"},
	}, []graph.Edge{
		{From: 0, To: 1, Connections: 2, Ports: []uint16{5432}, Life: &graph.Life{Open: 2, Preexisting: 2}},
		{From: 2, To: 0, Connections: 3, Ports: []uint16{22}, Life: &graph.Life{Open: 3, Preexisting: 1}},
		{From: 3, To: 1, Connections: 1, Ports: []uint16{5432}, Life: &graph.Life{Open: 1}},
	})
	var b bytes.Buffer
	require.NoError(t, DOT(&b, g))
	edges := map[string]string{}
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, "->") {
			edges[l[strings.Index(l, "label=")+len(`label="`):]] = l
		}
	}
	dashed := 0
	for label, l := range edges {
		if strings.Contains(l, `style="dashed"`) {
			dashed++
			assert.Contains(t, label, `×2`, "only the all-preexisting edge: %s", l)
			assert.Contains(t, l, `2 open before the trace`)
		}
	}
	assert.Equal(t, 1, dashed, b.String())
	assert.Contains(t, b.String(), `1 open before the trace`, "the mixed edge says how many")

	b.Reset()
	require.NoError(t, JSON(&b, g))
	var doc struct {
		Edges []map[string]any `json:"edges"`
	}
	require.NoError(t, json.Unmarshal(b.Bytes(), &doc))
	var counts []any
	for _, e := range doc.Edges {
		counts = append(counts, e["preexisting"])
	}
	assert.ElementsMatch(t, []any{2.0, 1.0, nil}, counts, b.String())
}
