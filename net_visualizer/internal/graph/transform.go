package graph

import (
	"net/netip"
	"strconv"
	"strings"

	"netflow/net_visualizer/internal/trace"
)

// Focus keeps the nodes that match spec and their neighbours, with the edges that touch a
// matching node. spec matches a process by pid ("1234") or name ("nginx", exactly, or a
// group's label), an external node by address ("10.0.0.5" or "10.0.0.5:443") or label.
func Focus(g *Graph, spec string) *Graph {
	match := make([]bool, len(g.Nodes))
	for i := range g.Nodes {
		match[i] = g.Nodes[i].Matches(spec)
	}
	var edges []Edge
	for _, e := range g.Edges {
		if match[e.From] || match[e.To] {
			edges = append(edges, e)
		}
	}
	out := Finish(g.Nodes, edges)
	out.Stats = recount(g.Stats, out)
	return out
}

// Matches reports whether spec names this node (see Focus).
func (n *Node) Matches(spec string) bool {
	if n.Kind == Process {
		if pid, err := strconv.ParseUint(spec, 10, 32); err == nil {
			if uint32(pid) == n.PID {
				return true
			}
			for _, p := range n.PIDs {
				if p == uint32(pid) {
					return true
				}
			}
			return false
		}
		// The tracers print a name's non-ASCII bytes as \xNN: "café" names caf\xc3\xa9 too.
		return n.Comm == spec || n.Comm == trace.Escape(spec)
	}
	if n.Label != "" && n.Label == spec {
		return true
	}
	if !n.Addr.IsValid() {
		return false
	}
	if ap, err := netip.ParseAddrPort(spec); err == nil {
		return n.Port && ap.Addr().Unmap() == n.Addr.Addr() && ap.Port() == n.Addr.Port()
	}
	a, err := netip.ParseAddr(strings.Trim(spec, "[]"))
	return err == nil && a.Unmap() == n.Addr.Addr()
}

// recount keeps the reading statistics of before and counts the new graph.
func recount(before Stats, g *Graph) Stats {
	s := before
	s.Processes, s.Edges, s.Connections = g.Stats.Processes, g.Stats.Edges, 0
	for _, e := range g.Edges {
		s.Connections += e.Connections
	}
	return s
}

// Diff is the union of two graphs with every edge marked: Added (only in new), Removed
// (only in old), or Same (in both; its counts are new's). Its Stats are new's, with old's in
// Stats.Old. Nodes are the same node when they
// have the same identity: for captures taken at different times, group processes by name
// (-group-by comm) so that new pids do not make every edge new.
func Diff(old, new *Graph) *Graph {
	// New nodes first: where a node is in both, it shows what it is now (its pids).
	nodes := append(append([]Node(nil), new.Nodes...), old.Nodes...)
	type key struct {
		from, to string
		failed   bool
	}
	inOld := make(map[key]bool, len(old.Edges))
	for _, e := range old.Edges {
		inOld[key{old.Nodes[e.From].identity(), old.Nodes[e.To].identity(), e.Failed}] = true
	}
	inNew := make(map[key]bool, len(new.Edges))
	var edges []Edge
	for _, e := range new.Edges {
		k := key{new.Nodes[e.From].identity(), new.Nodes[e.To].identity(), e.Failed}
		inNew[k] = true
		if !inOld[k] {
			e.Diff = Added
		}
		edges = append(edges, e)
	}
	for _, e := range old.Edges {
		if !inNew[key{old.Nodes[e.From].identity(), old.Nodes[e.To].identity(), e.Failed}] {
			e.From, e.To = e.From+len(new.Nodes), e.To+len(new.Nodes)
			e.Diff = Removed
			edges = append(edges, e)
		}
	}
	g := Finish(nodes, edges)
	// The counts stay each capture's own: a union's would mix the two.
	oldStats := old.Stats
	g.Stats, g.Stats.Old = new.Stats, &oldStats
	return g
}
