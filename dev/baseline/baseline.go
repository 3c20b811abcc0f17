package main

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/emicklei/dot"
)

var (
	lineRE = regexp.MustCompile(`^(\[[0-9A-Fa-f:.]+\]|[0-9.]+):(\d+)(→|←|->|<-)(\[[0-9A-Fa-f:.]+\]|[0-9.]+):(\d+)\|(.*)$`)
	lostRE = regexp.MustCompile(`^(?:Lost|# lost) (\d+) events$`)
)

// Event is one parsed trace line.
type Event struct {
	Line       int
	Out        bool // → connect; ← accept
	RemoteIP   string
	RemotePort int
	LocalIP    string
	LocalPort  int
	PID        int
	Comm       string
	Ret        int
}

// Conn is one TCP connection: what its connect line, its accept line, or both said.
type Conn struct {
	Client     string // node name of the connecting process; "" until its → line is read
	Server     string // node name of the accepting process; "" until its ← line is read
	ClientIP   string
	ServerAddr string // "ip:port" the client connected to
	Failed     bool
}

// Graph is everything read from a trace.
type Graph struct {
	Lines   int // event lines
	Conns   []*Conn
	ByTuple map[string][]*Conn // 4-tuple → connections with that 4-tuple, oldest first
	Nodes   map[string]string  // node name → label
	Edges   map[string]int     // "from\tto" → connections
	Failed  map[string]bool    // "from\tto" of failed connects
	Lost    int
}

// ReadTrace reads a whole trace and builds the graph.
func ReadTrace(r io.Reader) (*Graph, error) {
	g := &Graph{
		ByTuple: map[string][]*Conn{},
		Nodes:   map[string]string{},
		Edges:   map[string]int{},
		Failed:  map[string]bool{},
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1024*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSuffix(sc.Text(), "\r")
		trimmed := strings.TrimSpace(line)
		if m := lostRE.FindStringSubmatch(trimmed); m != nil {
			lost, _ := strconv.Atoi(m[1])
			g.Lost += lost
			continue
		}
		if trimmed == "" || strings.HasPrefix(trimmed, "#") || strings.HasPrefix(trimmed, "Attaching ") {
			continue
		}
		ev, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		ev.Line = n
		g.Lines++
		g.add(ev)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	g.build()
	return g, nil
}

func parseLine(line string) (*Event, error) {
	m := lineRE.FindStringSubmatch(line)
	if m == nil {
		return nil, fmt.Errorf("not a trace line: %q", line)
	}
	ev := &Event{}
	attrs := map[string]string{}
	var err error
	ev.RemoteIP, ev.RemotePort, err = parseEndpoint(m[1], m[2])
	if err != nil {
		return nil, fmt.Errorf("remote endpoint: %v", err)
	}
	ev.LocalIP, ev.LocalPort, err = parseEndpoint(m[4], m[5])
	if err != nil {
		return nil, fmt.Errorf("local endpoint: %v", err)
	}
	ev.Out = m[3] == "→" || m[3] == "->"

	meta := m[6]
	if !strings.Contains(meta, "=") {
		// Free form: "pid name".
		parts := strings.SplitN(meta, " ", 2)
		if len(parts) != 2 {
			return nil, fmt.Errorf("metadata %q: want pid and name", meta)
		}
		ev.PID, err = strconv.Atoi(parts[0])
		if err != nil {
			return nil, fmt.Errorf("pid %q: %v", parts[0], err)
		}
		ev.Comm = cleanComm(parts[1])
		return ev, nil
	}
	rest := meta
	gotComm := false
	for rest != "" {
		if strings.HasPrefix(rest, "comm=") {
			ev.Comm = cleanComm(strings.TrimPrefix(rest, "comm="))
			gotComm = true
			break
		}
		field := rest
		if i := strings.Index(rest, " "); i >= 0 {
			field, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		if field == "" {
			continue
		}
		kv := strings.SplitN(field, "=", 2)
		if len(kv) != 2 {
			return nil, fmt.Errorf("metadata field %q is not key=value", field)
		}
		attrs[kv[0]] = kv[1]
	}
	if !gotComm {
		return nil, fmt.Errorf("no comm=")
	}
	pid, ok := attrs["pid"]
	if !ok {
		return nil, fmt.Errorf("no pid=")
	}
	ev.PID, err = strconv.Atoi(pid)
	if err != nil {
		return nil, fmt.Errorf("pid %q: %v", pid, err)
	}
	if ret, ok := attrs["ret"]; ok {
		ev.Ret, err = strconv.Atoi(ret)
		if err != nil {
			return nil, fmt.Errorf("ret %q: %v", ret, err)
		}
	}
	return ev, nil
}

func parseEndpoint(host, port string) (string, int, error) {
	addr, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", 0, fmt.Errorf("port %s out of range", port)
	}
	return addr.Unmap().String(), p, nil
}

func cleanComm(s string) string {
	for strings.HasSuffix(s, `\x00`) {
		s = strings.TrimSuffix(s, `\x00`)
	}
	return s
}

func hostPort(ip string, port int) string {
	if strings.Contains(ip, ":") {
		return fmt.Sprintf("[%s]:%d", ip, port)
	}
	return fmt.Sprintf("%s:%d", ip, port)
}

func (ev *Event) failed() bool {
	return ev.Out && ev.Ret < 0 && ev.Ret != -115
}

// add files an event under its connection's 4-tuple, pairing it with the oldest connection
// of that 4-tuple that still misses this side.
func (g *Graph) add(ev *Event) {
	node := fmt.Sprintf("%d/%s", ev.PID, ev.Comm)
	g.Nodes[node] = fmt.Sprintf("%s\npid %d", ev.Comm, ev.PID)
	if ev.failed() {
		g.Conns = append(g.Conns, &Conn{Client: node, ServerAddr: hostPort(ev.RemoteIP, ev.RemotePort), Failed: true})
		return
	}
	var key string
	if ev.Out {
		key = fmt.Sprintf("%s-%s", hostPort(ev.LocalIP, ev.LocalPort), hostPort(ev.RemoteIP, ev.RemotePort))
	} else {
		key = fmt.Sprintf("%s-%s", hostPort(ev.RemoteIP, ev.RemotePort), hostPort(ev.LocalIP, ev.LocalPort))
	}
	for _, c := range g.ByTuple[key] {
		if ev.Out && c.Client == "" {
			c.Client = node
			return
		}
		if !ev.Out && c.Server == "" {
			c.Server = node
			return
		}
	}
	c := &Conn{}
	if ev.Out {
		c.Client, c.ClientIP, c.ServerAddr = node, ev.LocalIP, hostPort(ev.RemoteIP, ev.RemotePort)
	} else {
		c.Server, c.ClientIP, c.ServerAddr = node, ev.RemoteIP, hostPort(ev.LocalIP, ev.LocalPort)
	}
	g.Conns = append(g.Conns, c)
	g.ByTuple[key] = append(g.ByTuple[key], c)
}

func (g *Graph) addEdge(from, to string) {
	g.Edges[fmt.Sprintf("%s\t%s", from, to)]++
}

// build turns the connections into nodes and edges.
func (g *Graph) build() {
	for _, c := range g.Conns {
		switch {
		case c.Failed:
			to := "failed:" + c.ServerAddr
			g.Nodes[to] = c.ServerAddr
			g.addEdge(c.Client, to)
			g.Failed[fmt.Sprintf("%s\t%s", c.Client, to)] = true
		case c.Client != "" && c.Server != "":
			g.addEdge(c.Client, c.Server)
		case c.Client != "":
			to := "ext:" + c.ServerAddr
			g.Nodes[to] = c.ServerAddr
			g.addEdge(c.Client, to)
		default:
			from := "ext:" + c.ClientIP
			g.Nodes[from] = c.ClientIP
			g.addEdge(from, c.Server)
		}
	}
}

func (g *Graph) sortedEdges() []string {
	var keys []string
	for k := range g.Edges {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// WriteEdges prints from<TAB>to<TAB>count, one edge a line, sorted.
func (g *Graph) WriteEdges(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, k := range g.sortedEdges() {
		fmt.Fprintf(bw, "%s\t%d\n", k, g.Edges[k])
	}
	return bw.Flush()
}

// WriteDOT writes the graph in Graphviz DOT, nodes and edges in sorted order.
func (g *Graph) WriteDOT(w io.Writer) error {
	d := dot.NewGraph(dot.Directed)
	d.Attr("rankdir", "LR")
	label := fmt.Sprintf("%d lines, %d connections, %d edges", g.Lines, len(g.Conns), len(g.Edges))
	if g.Lost > 0 {
		label += fmt.Sprintf(", %d events lost", g.Lost)
	}
	d.Label(label)
	var names []string
	for name := range g.Nodes {
		names = append(names, name)
	}
	sort.Strings(names)
	nodes := map[string]dot.Node{}
	for _, name := range names {
		n := d.Node(name).Label(g.Nodes[name])
		if strings.HasPrefix(name, "ext:") || strings.HasPrefix(name, "failed:") {
			n.Box()
		}
		nodes[name] = n
	}
	for _, k := range g.sortedEdges() {
		parts := strings.Split(k, "\t")
		e := d.Edge(nodes[parts[0]], nodes[parts[1]]).Label(strconv.Itoa(g.Edges[k]))
		if g.Failed[k] {
			e.Dashed()
		}
	}
	bw := bufio.NewWriter(w)
	d.Write(bw)
	return bw.Flush()
}
