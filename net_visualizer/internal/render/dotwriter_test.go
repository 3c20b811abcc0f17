package render

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/netip"
	"testing"

	"github.com/emicklei/dot"
	"github.com/stretchr/testify/require"

	"netflow/net_visualizer/internal/graph"
)

// emickleiDOT is how DOT was written before dotWriter: an emicklei/dot graph built whole,
// then written. It is the reference TestDOTMatchesEmicklei holds dotWriter to.
func emickleiDOT(w io.Writer, g *graph.Graph) error {
	d := dot.NewGraph(dot.Directed)
	d.ID("netflow")
	d.Attr("rankdir", "LR")
	d.Attr("label", dotText(Title(g)))
	d.Attr("labelloc", "t")
	d.Attr("fontname", "Helvetica")
	clusters := map[string]*dot.Graph{}
	for i := range g.Nodes {
		if h := g.Nodes[i].Host; h != "" && clusters[h] == nil {
			c := d.Subgraph(fmt.Sprintf("cluster_%d", len(clusters)+1), dot.ClusterOption{})
			c.Attr("label", dotText("host "+labelText(h)))
			c.Attr("fontname", "Helvetica")
			c.Attr("style", "rounded")
			clusters[h] = c
		}
	}
	nodes := make([]dot.Node, len(g.Nodes))
	for i := range g.Nodes {
		n := &g.Nodes[i]
		parent := d
		if n.Host != "" {
			parent = clusters[n.Host]
		}
		dn := parent.Node(fmt.Sprintf("%09d", i)).Label(dotText(NodeLabel(n, "\n"))).Attr("fontname", "Helvetica")
		if n.Kind == graph.Process {
			dn.Attr("shape", "box").Attr("style", "rounded,filled").Attr("fillcolor", "#dbe9f6")
			if n.PIDCount > 1 {
				dn.Attr("peripheries", "2")
			}
		} else {
			dn.Attr("shape", "ellipse").Attr("style", "dashed").Attr("color", "#666666")
		}
		nodes[i] = dn
	}
	for i := range g.Edges {
		e := &g.Edges[i]
		de := d.Edge(nodes[e.From], nodes[e.To]).Label(dotText(EdgeLabel(e, "\n"))).Attr("fontname", "Helvetica")
		switch {
		case e.Diff == graph.Added:
			de.Attr("color", "#1a9850").Attr("fontcolor", "#1a9850")
		case e.Diff == graph.Removed:
			de.Attr("color", "#999999").Attr("fontcolor", "#999999").Attr("style", "dotted")
		case e.Failed:
			de.Attr("color", "red").Attr("fontcolor", "red")
		case e.Life != nil && e.Life.Retransmits > 0:
			de.Attr("color", warning).Attr("fontcolor", warning)
		}
		if e.Failed || e.Diff != graph.Removed && allPreexisting(e) {
			de.Attr("style", "dashed")
		}
		switch {
		case e.Life != nil && e.Life.BytesToServer+e.Life.BytesToClient >= 2048:
			de.Attr("penwidth", fmt.Sprintf("%.1f", penWidth(sat(e.Life.BytesToServer, e.Life.BytesToClient)/1024)))
		case e.Connections > 1 && (e.Life == nil || e.Life.BytesToServer+e.Life.BytesToClient == 0):
			de.Attr("penwidth", fmt.Sprintf("%.1f", penWidth(e.Connections)))
		}
	}
	bw := bufio.NewWriter(w)
	d.Write(bw)
	return bw.Flush()
}

// randomGraph is a graph with what DOT draws differently: hosts (up to 13, so that the
// clusters' names sort as strings: cluster_10 before cluster_2), groups, externals with
// labels and DNS names, hostile names, failed edges, diffs, and whole-connection numbers.
func randomGraph(r *rand.Rand) *graph.Graph {
	names := []string{"nginx", "curl", `a"b\c`, "<img src=x onerror=alert(1)>", "caf\\xc3\\xa9", "x&amp;y", "tab\\x09", "{}[];,=->"}
	hosts := []string{""}
	for i, n := 0, r.Intn(14); i < n; i++ {
		hosts = append(hosts, fmt.Sprintf("h%d%s", i, names[r.Intn(len(names))]))
	}
	var nodes []graph.Node
	for i, n := 0, 1+r.Intn(30); i < n; i++ {
		nd := graph.Node{Host: hosts[r.Intn(len(hosts))]}
		switch r.Intn(4) {
		case 0, 1:
			nd.Kind, nd.PID, nd.Comm = graph.Process, uint32(r.Intn(1<<20)), names[r.Intn(len(names))]
			if r.Intn(4) == 0 {
				nd.PID, nd.PIDCount = 0, 1+r.Intn(9)
				for j := 0; j < min(nd.PIDCount, 5); j++ {
					nd.PIDs = append(nd.PIDs, uint32(100+j))
				}
			}
		case 2:
			nd.Kind, nd.Addr, nd.Port = graph.External, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(r.Intn(256)), byte(i)}), uint16(r.Intn(65536))), r.Intn(2) == 0
			if r.Intn(3) == 0 {
				nd.DNS = names[r.Intn(len(names))] + ".example"
			}
		default:
			nd.Kind, nd.Label = graph.External, names[r.Intn(len(names))]+fmt.Sprint(i)
		}
		nodes = append(nodes, nd)
	}
	var edges []graph.Edge
	for i, n := 0, r.Intn(60); i < n; i++ {
		e := graph.Edge{From: r.Intn(len(nodes)), To: r.Intn(len(nodes)), Connections: uint64(1 + r.Intn(3000)), Failed: r.Intn(5) == 0}
		for j, np := 0, 1+r.Intn(8); j < np; j++ {
			e.Ports = append(e.Ports, uint16(r.Intn(10000)))
		}
		e.Diff = []graph.Change{graph.Same, graph.Same, graph.Added, graph.Removed}[r.Intn(4)]
		if r.Intn(2) == 0 {
			e.Life = &graph.Life{BytesToServer: uint64(r.Intn(1 << 20)), BytesToClient: uint64(r.Intn(3000)), Retransmits: uint64(r.Intn(3)),
				Closed: graph.Closed{Client: uint64(r.Intn(3)), Reset: uint64(r.Intn(2))}, Open: uint64(r.Intn(2)), Closes: 1,
				Preexisting: uint64(r.Intn(3) * 1000), ConnectUS: []uint64{uint64(r.Intn(5000))}, DurUS: []uint64{uint64(r.Intn(5e6))}}
		}
		edges = append(edges, e)
	}
	g := graph.Finish(nodes, edges)
	g.Stats.Lost = uint64(r.Intn(2))
	return g
}

// TestDOTMatchesEmicklei: the DOT written as the graph is walked is, byte for byte, what
// emicklei/dot wrote for the same graph (the goldens pin a few; this, every shape).
func TestDOTMatchesEmicklei(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		g := randomGraph(r)
		var want, got bytes.Buffer
		require.NoError(t, emickleiDOT(&want, g))
		require.NoError(t, DOT(&got, g))
		require.Equal(t, want.String(), got.String(), "graph %d", i)
	}
}

// encoderJSON is how JSON was written before it was streamed: the whole document built,
// then one indented Encode. TestJSONMatchesEncoder holds JSON to it.
func encoderJSON(w io.Writer, g *graph.Graph) error {
	out := jsonGraph{Nodes: make([]jsonNode, 0, len(g.Nodes)), Edges: make([]jsonEdge, 0, len(g.Edges)),
		Stats: g.Stats, Incomplete: g.Stats.Lost > 0 || (g.Stats.Old != nil && g.Stats.Old.Lost > 0)}
	for i := range g.Nodes {
		out.Nodes = append(out.Nodes, *newJSONNode(&g.Nodes[i]))
	}
	for i := range g.Edges {
		out.Edges = append(out.Edges, *newJSONEdge(g, &g.Edges[i]))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// TestJSONMatchesEncoder: the streamed JSON is, byte for byte, the indented encoding of the
// whole document (empty graphs, diffs with old stats, hostile names included).
func TestJSONMatchesEncoder(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for i := 0; i < 1000; i++ {
		g := randomGraph(r)
		if i%3 == 0 {
			g.Stats.Old = &graph.Stats{Lost: uint64(r.Intn(2)), Events: 7}
		}
		if i%7 == 0 {
			g = graph.Finish(nil, nil)
		}
		var want, got bytes.Buffer
		require.NoError(t, encoderJSON(&want, g))
		require.NoError(t, JSON(&got, g))
		require.Equal(t, want.String(), got.String(), "graph %d", i)
		require.True(t, json.Valid(got.Bytes()))
	}
}
