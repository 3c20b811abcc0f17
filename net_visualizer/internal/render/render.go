// Package render writes a graph.Graph as DOT, JSON, or a picture rendered by Graphviz.
// It is the only package that knows about github.com/emicklei/dot.
package render

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/emicklei/dot"

	"netflow/net_visualizer/internal/trace"

	"netflow/net_visualizer/internal/graph"
	"netflow/net_visualizer/internal/names"
)

// Formats lists the output formats, in the order the manual gives them.
var Formats = []string{"dot", "json", "svg", "png", "mermaid"}

// Write renders g in format to w. Cancelling ctx stops Graphviz (svg, png).
func Write(ctx context.Context, w io.Writer, g *graph.Graph, format string) error {
	switch format {
	case "dot":
		return DOT(w, g)
	case "json":
		return JSON(w, g)
	case "svg", "png":
		return Image(ctx, w, g, format)
	case "mermaid":
		return Mermaid(w, g)
	}
	return fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(Formats, ", "))
}

// Text makes a name safe and readable to show. The tracers write every byte of a name that
// is not printable ASCII as \xNN (docs/line-format.md): Text shows such escapes as the bytes
// they stand for, and then writes as \xNN every byte that is not part of printable UTF-8
// (control characters, invalid UTF-8, and format characters such as U+202E, which would
// reorder what is shown), so that `caf\xc3\xa9` shows as café while a hostile name shows up
// literally and cannot break a label or a line. A name holding a literal `\x41` cannot be
// told from one holding "A"; that ambiguity is the tracers' format's.
func Text(s string) string {
	if isPrint(s) && !strings.Contains(s, `\x`) {
		return s
	}
	raw := unescape(s)
	if isPrint(raw) {
		return raw
	}
	var b strings.Builder
	for i := 0; i < len(raw); {
		r, size := utf8.DecodeRuneInString(raw[i:])
		if (r == utf8.RuneError && size <= 1) || !strconv.IsPrint(r) {
			for _, c := range []byte(raw[i : i+size]) {
				fmt.Fprintf(&b, `\x%02x`, c)
			}
		} else {
			b.WriteString(raw[i : i+size])
		}
		i += size
	}
	return b.String()
}

// isPrint reports whether s is valid UTF-8 of printable characters only.
func isPrint(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			return false
		}
	}
	return true
}

// unescape replaces every \xNN (either case of hex) in s by the byte it stands for.
func unescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if hi, lo := unhex(s[i+2]), unhex(s[i+3]); hi >= 0 && lo >= 0 {
				b.WriteByte(byte(hi<<4 | lo))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// maxLabel bounds a name inside a picture (JSON keeps it whole): long enough for any exe=
// (at most 63 bytes) shown as text.
// Labels need no escaping beyond Text (and dotText in DOT): emicklei/dot quotes them with
// Go's %q, and Graphviz reads the resulting \\ and \" as a literal backslash and quote (never
// as its \N or \l).
const maxLabel = 64

// labelText is Text cut to maxLabel characters, never inside a \xNN escape.
func labelText(s string) string {
	s = Text(s)
	if utf8.RuneCountInString(s) <= maxLabel {
		return s
	}
	shown, cut := 0, 0 // characters kept, and the bytes they take
	for cut < len(s) {
		size, width := 4, 4 // an escape written by Text: four characters
		if !(s[cut] == '\\' && cut+3 < len(s) && s[cut+1] == 'x' && unhex(s[cut+2]) >= 0 && unhex(s[cut+3]) >= 0) {
			_, size = utf8.DecodeRuneInString(s[cut:])
			width = 1
		}
		if shown+width > maxLabel-1 {
			break
		}
		shown, cut = shown+width, cut+size
	}
	return s[:cut] + "…"
}

// NodeLabel is what a node shows: name and pid (or how many processes, for a group), or the
// external address or its label. sep separates the lines.
func NodeLabel(n *graph.Node, sep string) string {
	switch {
	case n.Kind == graph.Process && n.PIDCount > 0:
		if n.PIDCount == 1 {
			return labelText(n.Comm) + sep + "pid " + strconv.FormatUint(uint64(n.PIDs[0]), 10)
		}
		return labelText(n.Comm) + sep + strconv.Itoa(n.PIDCount) + " processes"
	case n.Kind == graph.Process:
		return labelText(n.Comm) + sep + "pid " + strconv.FormatUint(uint64(n.PID), 10)
	case n.Label != "":
		return labelText(n.Label)
	case n.DNS != "":
		return labelText(n.DNS) + sep + labelText(n.AddrString())
	}
	return labelText(n.AddrString())
}

// EdgeLabel is what an edge shows: server port(s) with their service names, and the
// connection count.
func EdgeLabel(e *graph.Edge, sep string) string {
	var b strings.Builder
	for i, p := range e.Ports {
		if i == 4 && len(e.Ports) > 5 {
			fmt.Fprintf(&b, " +%d ports", len(e.Ports)-4)
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, ":%d", p)
		if svc := names.Service(p); svc != "" {
			b.WriteString(" " + svc)
		}
	}
	switch {
	case e.Failed:
		fmt.Fprintf(&b, "%sfailed ×%d", sep, e.Connections)
	case e.Connections > 1:
		fmt.Fprintf(&b, "%s×%d", sep, e.Connections)
	}
	if l := e.Life; l != nil {
		for _, line := range lifeLines(l) {
			b.WriteString(sep + line)
		}
	}
	if e.Diff != graph.Same {
		b.WriteString(sep + e.Diff.String())
	}
	return b.String()
}

// lifeLines are the lines an edge's Life adds to its label: bytes to the server and to the
// client, closed connections by who ended them and those still open, retransmits,
// reconnects, the median and maximum connect latency and duration. A line with nothing to
// say is left out.
func lifeLines(l *graph.Life) []string {
	var lines []string
	if l.BytesToServer+l.BytesToClient > 0 {
		lines = append(lines, "→ "+HumanBytes(l.BytesToServer)+", ← "+HumanBytes(l.BytesToClient))
	}
	var ended []string
	by := "closed by "
	for _, c := range []struct {
		n   uint64
		who string
	}{{l.Closed.Client, "client"}, {l.Closed.Server, "server"}} {
		if c.n > 0 {
			ended = append(ended, fmt.Sprintf("%d %s%s", c.n, by, c.who))
			by = "by "
		}
	}
	if l.Closed.Reset > 0 {
		ended = append(ended, fmt.Sprintf("%d reset", l.Closed.Reset))
	}
	if l.Closed.Timeout > 0 {
		ended = append(ended, fmt.Sprintf("%d timed out", l.Closed.Timeout))
	}
	if l.Open > 0 {
		ended = append(ended, fmt.Sprintf("%d open", l.Open))
	}
	if len(ended) > 0 {
		lines = append(lines, strings.Join(ended, ", "))
	}
	if l.Retransmits > 0 {
		lines = append(lines, plural(int(min(l.Retransmits, 1<<62)), "retransmit"))
	}
	if l.Reconnects > 0 {
		lines = append(lines, plural(int(min(l.Reconnects, 1<<62)), "reconnect"))
	}
	if l.Preexisting > 0 {
		lines = append(lines, fmt.Sprintf("%d open before the trace", l.Preexisting))
	}
	if p50, max, ok := l.Connect(); ok {
		lines = append(lines, "connect p50 "+HumanMicros(p50)+", max "+HumanMicros(max))
	}
	if p50, max, ok := l.Duration(); ok {
		lines = append(lines, "duration p50 "+HumanMicros(p50)+", max "+HumanMicros(max))
	}
	return lines
}

// allPreexisting says whether every connection of e was already open when the trace
// started (preexisting=1): such an edge is drawn dashed.
func allPreexisting(e *graph.Edge) bool {
	return e.Life != nil && e.Life.Preexisting > 0 && e.Life.Preexisting >= e.Connections
}

// HumanBytes writes a byte count in binary units: "512 B", "12.1 KiB", "1.2 MiB".
func HumanBytes(n uint64) string {
	if n < 1024 {
		return strconv.FormatUint(n, 10) + " B"
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n) / 1024
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

// HumanMicros writes a time in microseconds: "85 µs", "1.5 ms", "20.0 s".
func HumanMicros(us uint64) string {
	switch {
	case us < 1000:
		return strconv.FormatUint(us, 10) + " µs"
	case us < 1_000_000:
		return fmt.Sprintf("%.1f ms", float64(us)/1e3)
	}
	return fmt.Sprintf("%.1f s", float64(us)/1e6)
}

// Title is the graph's caption, with the warning when the trace is incomplete. For a diff it
// gives each capture's counts.
func Title(g *graph.Graph) string {
	s := g.Stats
	counts := func(s *graph.Stats) string {
		return plural(s.Processes, "process") + ", " + plural(int(s.Connections), "connection")
	}
	t := "netflow: " + counts(&s)
	if s.Old != nil {
		t = "netflow, new capture: " + counts(&s) + "; old capture: " + counts(s.Old)
	}
	var added, removed int
	for _, e := range g.Edges {
		switch e.Diff {
		case graph.Added:
			added++
		case graph.Removed:
			removed++
		}
	}
	if added+removed > 0 {
		t += fmt.Sprintf("\nchanged: %s added (green), %s removed (grey)", plural(added, "edge"), plural(removed, "edge"))
	}
	switch {
	case s.Old != nil && s.Lost > 0:
		t += fmt.Sprintf("\nINCOMPLETE: the tracer lost %d events in the new capture", s.Lost)
	case s.Lost > 0:
		t += fmt.Sprintf("\nINCOMPLETE: the tracer lost %d events", s.Lost)
	}
	if s.Old != nil && s.Old.Lost > 0 {
		t += fmt.Sprintf("\nINCOMPLETE: the tracer lost %d events in the old capture", s.Old.Lost)
	}
	return t
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if strings.HasSuffix(what, "s") {
		return fmt.Sprintf("%d %ses", n, what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// dotText keeps Graphviz from reading HTML entities in a label: it draws "&amp;" as "&"
// and "&lt;" as "<" in every label, quoted or not, so a name's "&" is written "&amp;".
func dotText(s string) string { return strings.ReplaceAll(s, "&", "&amp;") }

// DOT writes g as a Graphviz digraph. Identical graphs give identical bytes. Nodes of
// different hosts (host=, or HOST=FILE inputs) are drawn in one cluster per host. It is
// written as g is walked (dotWriter), in the layout github.com/emicklei/dot gave it.
func DOT(w io.Writer, g *graph.Graph) error {
	bw := bufio.NewWriter(w)
	d := &dotWriter{w: bw}
	// Clusters in the order their hosts first appear among the nodes; each takes a number
	// before the nodes do (n1, n2, ... come after cluster_s1, cluster_s2, ...).
	cluster := map[string]int{}
	var hosts []string
	for i := range g.Nodes {
		if h := g.Nodes[i].Host; h != "" && cluster[h] == 0 {
			hosts = append(hosts, h)
			cluster[h] = len(hosts)
		}
	}
	seq := func(i int) int { return len(hosts) + i + 1 }
	d.open("digraph netflow")
	// Clusters in the order of their names "cluster_1", "cluster_2", ... as strings.
	order := make([]int, len(hosts))
	for i := range order {
		order[i] = i + 1
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(strconv.Itoa(a), strconv.Itoa(b)) })
	byHost := make([][]int, len(hosts)+1) // node indexes per cluster, 0: no host
	for i := range g.Nodes {
		c := cluster[g.Nodes[i].Host]
		byHost[c] = append(byHost[c], i)
	}
	writeNodes := func(c int) {
		for _, i := range byHost[c] {
			n := &g.Nodes[i]
			d.set("label", dotText(NodeLabel(n, "\n")))
			d.set("fontname", "Helvetica")
			if n.Kind == graph.Process {
				d.set("shape", "box")
				d.set("style", "rounded,filled")
				d.set("fillcolor", "#dbe9f6")
				if n.PIDCount > 1 {
					d.set("peripheries", "2")
				}
			} else {
				d.set("shape", "ellipse")
				d.set("style", "dashed")
				d.set("color", "#666666")
			}
			d.node(seq(i))
		}
	}
	for _, c := range order {
		d.open("subgraph cluster_s" + strconv.Itoa(c))
		d.set("label", dotText("host "+labelText(hosts[c-1])))
		d.set("fontname", "Helvetica")
		d.set("style", "rounded")
		d.flushAttrs(false)
		d.newline()
		writeNodes(c)
		d.close()
	}
	d.set("rankdir", "LR")
	d.set("label", dotText(Title(g)))
	d.set("labelloc", "t")
	d.set("fontname", "Helvetica")
	d.flushAttrs(false)
	d.newline()
	writeNodes(0)
	for i := range g.Edges {
		e := &g.Edges[i]
		d.set("label", dotText(EdgeLabel(e, "\n")))
		d.set("fontname", "Helvetica")
		switch {
		case e.Diff == graph.Added:
			d.set("color", "#1a9850")
			d.set("fontcolor", "#1a9850")
		case e.Diff == graph.Removed:
			d.set("color", "#999999")
			d.set("fontcolor", "#999999")
			d.set("style", "dotted")
		case e.Failed:
			d.set("color", "red")
			d.set("fontcolor", "red")
		case e.Life != nil && e.Life.Retransmits > 0:
			d.set("color", warning)
			d.set("fontcolor", warning)
		}
		if e.Failed || e.Diff != graph.Removed && allPreexisting(e) {
			d.set("style", "dashed")
		}
		switch {
		case e.Life != nil && e.Life.BytesToServer+e.Life.BytesToClient >= 2048:
			// By the bytes moved, in KiB, when they are known.
			d.set("penwidth", fmt.Sprintf("%.1f", penWidth(sat(e.Life.BytesToServer, e.Life.BytesToClient)/1024)))
		case e.Connections > 1 && (e.Life == nil || e.Life.BytesToServer+e.Life.BytesToClient == 0):
			d.set("penwidth", fmt.Sprintf("%.1f", penWidth(e.Connections)))
		}
		d.edge(seq(e.From), seq(e.To))
	}
	d.close()
	return bw.Flush()
}

// Mermaid writes g as a Mermaid flowchart, for pasting into Markdown.
func Mermaid(w io.Writer, g *graph.Graph) error {
	d := dot.NewGraph(dot.Directed)
	nodes := make([]dot.Node, len(g.Nodes))
	for i := range g.Nodes {
		n := &g.Nodes[i]
		label := NodeLabel(n, " · ")
		if n.Host != "" {
			label = labelText(n.Host) + ": " + label
		}
		dn := d.Node(fmt.Sprintf("%09d", i)).Label(label)
		if n.Kind == graph.Process {
			dn.Attr("shape", dot.MermaidShapeRound)
		} else {
			dn.Attr("shape", dot.MermaidShapeStadium)
		}
		nodes[i] = dn
	}
	for i := range g.Edges {
		d.Edge(nodes[g.Edges[i].From], nodes[g.Edges[i].To]).Label(EdgeLabel(&g.Edges[i], " · "))
	}
	_, err := io.WriteString(w, "%% "+strings.ReplaceAll(Title(g), "\n", " ")+"\n"+dot.MermaidFlowchart(d, dot.MermaidLeftToRight))
	return err
}

// warning is the colour of an edge whose connections retransmitted.
const warning = "#d95f02"

// sat is a+b, at most the largest uint64.
func sat(a, b uint64) uint64 {
	if a+b < a {
		return 1<<64 - 1
	}
	return a + b
}

func penWidth(n uint64) float64 {
	w := 1.0
	for n > 1 && w < 5 {
		n /= 10
		w += 0.8
	}
	return w
}

// jsonGraph is the documented JSON shape.
type jsonGraph struct {
	Nodes []jsonNode  `json:"nodes"`
	Edges []jsonEdge  `json:"edges"`
	Stats graph.Stats `json:"stats"`
	// Incomplete is true when the tracer reported lost events (in either capture of a diff).
	Incomplete bool `json:"incomplete"`
}

type jsonNode struct {
	ID       string            `json:"id"`
	Kind     string            `json:"kind"`
	Host     string            `json:"host,omitempty"`
	PID      uint32            `json:"pid,omitempty"`
	Comm     *string           `json:"comm,omitempty"`
	PIDs     []uint32          `json:"pids,omitempty"`
	PIDCount int               `json:"pid_count,omitempty"`
	Addr     string            `json:"addr,omitempty"`
	Label    string            `json:"label,omitempty"`
	DNS      string            `json:"dns,omitempty"`
	Attrs    map[string]string `json:"attrs,omitempty"`
	Proc     *jsonProc         `json:"proc,omitempty"`
}

// jsonProc is a process's proc line (graph.Node.Proc).
type jsonProc struct {
	PPID           uint32   `json:"ppid"`
	UID            uint32   `json:"uid"`
	EUID           uint32   `json:"euid"`
	GID            uint32   `json:"gid"`
	EGID           uint32   `json:"egid"`
	AUID           uint32   `json:"auid"`
	CapEffective   string   `json:"cap_effective"`
	CapPermitted   string   `json:"cap_permitted"`
	CapInheritable string   `json:"cap_inheritable"`
	SecureExec     bool     `json:"secureexec"`
	Container      string   `json:"container,omitempty"`
	ExePath        string   `json:"exe_path,omitempty"`
	Args           []string `json:"args,omitempty"`
	Truncated      bool     `json:"truncated,omitempty"`
}

func newJSONProc(p *trace.Proc) *jsonProc {
	if p == nil {
		return nil
	}
	hex := func(n uint64) string { return "0x" + strconv.FormatUint(n, 16) }
	jp := &jsonProc{PPID: p.PPID, UID: p.UID, EUID: p.EUID, GID: p.GID, EGID: p.EGID, AUID: p.AUID,
		CapEffective: hex(p.CapEffective), CapPermitted: hex(p.CapPermitted), CapInheritable: hex(p.CapInheritable),
		SecureExec: p.SecureExec, Container: Text(trace.Escape(p.Container)), ExePath: Text(trace.Escape(p.ExePath)),
		Truncated: p.ExeTruncated || p.ArgsTruncated}
	for _, a := range p.Args {
		jp.Args = append(jp.Args, Text(trace.Escape(a)))
	}
	return jp
}

type jsonEdge struct {
	From        string   `json:"from"`
	To          string   `json:"to"`
	Connections uint64   `json:"connections"`
	Ports       []uint16 `json:"ports"`
	Services    []string `json:"services,omitempty"`
	Failed      bool     `json:"failed"`
	Diff        string   `json:"diff,omitempty"`
	// Close tracing (line format version 2): absent when the edge has none.
	BytesToServer *uint64     `json:"bytes_to_server,omitempty"`
	BytesToClient *uint64     `json:"bytes_to_client,omitempty"`
	Retransmits   *uint64     `json:"retransmits,omitempty"`
	Closed        *jsonClosed `json:"closed,omitempty"`
	Open          *uint64     `json:"open,omitempty"`
	ConnectMS     *jsonP50Max `json:"connect_ms,omitempty"`
	DurationMS    *jsonP50Max `json:"duration_ms,omitempty"`
	Reconnects    *uint64     `json:"reconnects,omitempty"`
	// Connections already open when the trace started (preexisting=1); absent when none.
	Preexisting uint64 `json:"preexisting,omitempty"`
}

type jsonClosed struct {
	Client  uint64 `json:"client"`
	Server  uint64 `json:"server"`
	Reset   uint64 `json:"reset"`
	Timeout uint64 `json:"timeout,omitempty"`
}

type jsonP50Max struct {
	P50 float64 `json:"p50"`
	Max float64 `json:"max"`
}

// setLife fills the close-tracing fields of je from l: none when the trace has no close
// line for the edge (docs: "a field is absent when the trace has no close events for the
// edge"), even if its connections carry conn=.
func (je *jsonEdge) setLife(l *graph.Life) {
	if l == nil || l.Closes == 0 {
		return
	}
	n := func(v uint64) *uint64 { return &v }
	je.BytesToServer, je.BytesToClient, je.Retransmits = n(l.BytesToServer), n(l.BytesToClient), n(l.Retransmits)
	je.Closed = &jsonClosed{Client: l.Closed.Client, Server: l.Closed.Server, Reset: l.Closed.Reset, Timeout: l.Closed.Timeout}
	je.Open, je.Reconnects = n(l.Open), n(l.Reconnects)
	ms := func(us uint64) float64 { return float64(us) / 1000 }
	if p50, max, ok := l.Connect(); ok {
		je.ConnectMS = &jsonP50Max{ms(p50), ms(max)}
	}
	if p50, max, ok := l.Duration(); ok {
		je.DurationMS = &jsonP50Max{ms(p50), ms(max)}
	}
}

// JSON writes g in the JSON shape the README documents: one node and one edge at a time,
// never the whole document in memory, in the bytes an indented encoding/json Encoder gives
// the whole (TestJSONMatchesEncoder).
func JSON(w io.Writer, g *graph.Graph) error {
	bw := bufio.NewWriter(w)
	var err error
	// item writes v, indented as an element of a top-level array, after sep.
	item := func(sep string, v any) {
		if err != nil {
			return
		}
		var b []byte
		if b, err = json.MarshalIndent(v, "    ", "  "); err == nil {
			bw.WriteString(sep)
			bw.Write(b)
		}
	}
	array := func(name string, n int, each func(i int) any) {
		bw.WriteString("  \"" + name + "\": [")
		for i := 0; i < n; i++ {
			sep := ",\n    "
			if i == 0 {
				sep = "\n    "
			}
			item(sep, each(i))
		}
		if n > 0 {
			bw.WriteString("\n  ")
		}
		bw.WriteString("],\n")
	}
	bw.WriteString("{\n")
	array("nodes", len(g.Nodes), func(i int) any { return newJSONNode(&g.Nodes[i]) })
	array("edges", len(g.Edges), func(i int) any { return newJSONEdge(g, &g.Edges[i]) })
	if err != nil {
		return err
	}
	stats, err := json.MarshalIndent(g.Stats, "  ", "  ")
	if err != nil {
		return err
	}
	incomplete := g.Stats.Lost > 0 || (g.Stats.Old != nil && g.Stats.Old.Lost > 0)
	fmt.Fprintf(bw, "  \"stats\": %s,\n  \"incomplete\": %t\n}\n", stats, incomplete)
	return bw.Flush()
}

func newJSONNode(n *graph.Node) *jsonNode {
	jn := &jsonNode{ID: n.ID, Kind: n.Kind.String(), Host: Text(n.Host)}
	if n.Kind == graph.Process {
		comm := Text(n.Comm)
		jn.PID, jn.Comm, jn.PIDs, jn.PIDCount = n.PID, &comm, n.PIDs, n.PIDCount
		jn.Proc = newJSONProc(n.Proc)
		if len(n.Attrs) > 0 {
			jn.Attrs = make(map[string]string, len(n.Attrs))
			for _, a := range n.Attrs {
				if _, dup := jn.Attrs[Text(a.Key)]; !dup {
					jn.Attrs[Text(a.Key)] = Text(a.Value)
				}
			}
		}
	} else {
		jn.Addr, jn.Label, jn.DNS = n.AddrString(), Text(n.Label), Text(n.DNS)
	}
	return jn
}

func newJSONEdge(g *graph.Graph, e *graph.Edge) *jsonEdge {
	je := &jsonEdge{From: g.Nodes[e.From].ID, To: g.Nodes[e.To].ID,
		Connections: e.Connections, Ports: e.Ports, Failed: e.Failed, Diff: e.Diff.String()}
	known := false
	for _, p := range e.Ports {
		svc := names.Service(p)
		known = known || svc != ""
		je.Services = append(je.Services, svc)
	}
	if !known {
		je.Services = nil
	}
	je.setLife(e.Life)
	if e.Life != nil {
		je.Preexisting = e.Life.Preexisting
	}
	return je
}

// ErrNoGraphviz is returned when a picture is asked for and Graphviz's dot is not installed.
var ErrNoGraphviz = errors.New("rendering svg/png needs Graphviz's dot, which is not installed: " +
	"apt-get install graphviz (Debian/Ubuntu), or write DOT (-format dot) and render it elsewhere")

// Image renders g through Graphviz's dot as svg or png. Cancelling ctx kills dot, and Image
// returns ctx's error. dot runs in a process group of its own, so that a Ctrl-C at the
// terminal reaches only this program, which decides what becomes of the picture.
func Image(ctx context.Context, w io.Writer, g *graph.Graph, format string) error {
	path, err := exec.LookPath("dot")
	if err != nil {
		return ErrNoGraphviz
	}
	var src bytes.Buffer
	if err := DOT(&src, g); err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "-T"+format)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = &src, w, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("dot -T%s: %w", format, context.Cause(ctx))
		}
		return fmt.Errorf("dot -T%s: %v: %s", format, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
