package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// Source addresses of this host. Each has its own ephemeral port counter.
type source uint8

const (
	srcLoopback4 source = iota
	srcHost4
	srcLoopback6
	srcHost6
	nSources
)

var addrText = [nSources]string{"127.0.0.1", hostV4, "[::1]", "[" + hostV6 + "]"}

// mappedText is the IPv4 address as an AF_INET6 socket prints it.
func mappedText(v4 string) string { return "[::ffff:" + v4 + "]" }

const stubAddr = "127.0.0.53"

// mapped is mappedText for this host's IPv4 addresses, computed once.
var mapped = map[string]string{
	addrText[srcLoopback4]: mappedText(addrText[srcLoopback4]),
	addrText[srcHost4]:     mappedText(addrText[srcHost4]),
	stubAddr:               mappedText(stubAddr),
}

const (
	ephemeralLow  = 32768
	ephemeralHigh = 60999
)

// stats is the shape of a generated trace.
type stats struct {
	Connections, Local, External, Inbound int
	IPv6                                  int // connections over IPv6
	Lines                                 int
	Bytes                                 int64
	Processes                             int // processes on at least one line
	ExternalHosts                         int // external hosts on at least one line
	Edges                                 int // distinct edges, as dev/baseline counts them
}

func (s stats) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.AlignRight)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\t\n", k, v) }
	row("connections", s.Connections)
	row("  local (2 lines)", s.Local)
	row("  external (→ only)", s.External)
	row("  inbound (← only)", s.Inbound)
	row("  over IPv6", fmt.Sprintf("%d (%.1f%%)", s.IPv6, 100*float64(s.IPv6)/float64(max(s.Connections, 1))))
	row("lines", s.Lines)
	row("bytes", s.Bytes)
	row("processes", s.Processes)
	row("external hosts", s.ExternalHosts)
	row("distinct edges", s.Edges)
	tw.Flush()
}

// edgeKey identifies a graph edge: kind 0 client→server process, 1 process→external
// ip:port (b = endpoint*2+v6), 2 external ip→process (a = host*2+v6).
type edgeKey struct {
	kind uint8
	a, b int32
}

// generator holds the output reorder buffer: line i goes to key i+jitter, and key k is
// written once line k has been generated (no later line can have a smaller key). Lines of
// one key come out in generation order. Two lines generated next to each other end up at
// most 2*span-3 lines apart: of the lines generated before them only the last span-2 can
// land in between, and of those generated after them only the first span-2.
type generator struct {
	cfg     config
	w       *world
	r       *rng
	out     io.Writer
	span    int
	buckets [][]byte
	idx     int // lines generated
	ports   [nSources]int
	st      stats
	edges   map[edgeKey]struct{}
	procs   map[int]struct{}
	hosts   map[int]struct{}
	err     error
}

func generate(out io.Writer, cfg config) (stats, error) {
	w := buildWorld(cfg)
	g := &generator{cfg: cfg, w: w, r: newRNG(cfg.Seed, 2), out: out}
	g.span = max(1, (cfg.Window+3)/2)
	g.buckets = make([][]byte, g.span)
	for i := range g.ports {
		g.ports[i] = g.r.intn(ephemeralHigh - ephemeralLow + 1)
	}
	if cfg.Stats {
		g.edges = make(map[edgeKey]struct{})
		g.procs = make(map[int]struct{})
		g.hosts = make(map[int]struct{})
	}
	canLocal, canExt := len(w.local) > 0, len(w.ext) > 0
	canIn := len(w.inbound) > 0 && len(w.hosts) > 0
	if cfg.Connections > 0 && !canLocal && !canExt && !canIn {
		return g.st, errors.New("no process can connect anywhere: add processes or external hosts")
	}
	for range cfg.Connections {
		u := g.r.float()
		v6 := g.r.float() < cfg.IPv6
		switch {
		case u < cfg.ExternalShare && canExt:
			g.external(v6)
		case u < cfg.ExternalShare+cfg.Inbound && canIn:
			g.inbound(v6)
		case canLocal:
			g.local(v6)
		case canExt:
			g.external(v6)
		default:
			g.inbound(v6)
		}
		if g.err != nil {
			return g.st, g.err
		}
	}
	for k := g.idx; k < g.idx+g.span; k++ {
		g.flush(k)
	}
	g.st.Connections = cfg.Connections
	g.st.Lines = g.idx
	g.st.Edges = len(g.edges)
	g.st.Processes = len(g.procs)
	g.st.ExternalHosts = len(g.hosts)
	return g.st, g.err
}

func (g *generator) flush(key int) {
	b := &g.buckets[key%g.span]
	if len(*b) > 0 && g.err == nil {
		_, g.err = g.out.Write(*b)
		g.st.Bytes += int64(len(*b))
	}
	*b = (*b)[:0]
}

// line appends one line: remote arrow local | metadata. The caller then calls done.
func (g *generator) line(remote string, rport int, arrow string, local string, lport int, p *process, out bool) {
	b := &g.buckets[(g.idx+g.r.intn(g.span))%g.span]
	l := *b
	l = append(l, remote...)
	l = append(l, ':')
	l = strconv.AppendInt(l, int64(rport), 10)
	l = append(l, arrow...)
	l = append(l, local...)
	l = append(l, ':')
	l = strconv.AppendInt(l, int64(lport), 10)
	l = append(l, p.meta...)
	tid := p.pid
	if p.t.threads > 1 {
		tid += g.r.intn(p.t.threads)
	}
	l = strconv.AppendInt(l, int64(tid), 10)
	if out {
		l = append(l, p.tailOut...)
	} else {
		l = append(l, p.tail...)
	}
	*b = l
	g.flush(g.idx)
	g.idx++
}

// ephemeral returns the next local port for a connection from src.
func (g *generator) ephemeral(src source) int {
	g.ports[src] += 1 + g.r.intn(2)
	return ephemeralLow + g.ports[src]%(ephemeralHigh-ephemeralLow+1)
}

func (g *generator) local(v6 bool) {
	w := g.w
	e := w.local[pick(g.r, w.localCum)]
	s := &w.services[e.target]
	server := s.members[g.r.intn(len(s.members))]
	for server == e.client { // the planner never leaves a client alone in its own pool
		server = s.members[g.r.intn(len(s.members))]
	}
	port := s.t.ports[0]
	if n := len(s.t.ports); n > 1 && g.r.float() >= 0.7 {
		port = s.t.ports[1+g.r.intn(n-1)]
	}
	var src source
	dst := ""
	switch {
	case s.t.bind == bindStub:
		v6 = false
		src, dst = srcLoopback4, stubAddr
	case v6:
		src = srcLoopback6
		if s.t.bind == bindAny && g.r.float() < 0.4 {
			src = srcHost6
		}
	default:
		src = srcLoopback4
		if s.t.bind == bindAny && g.r.float() < 0.4 {
			src = srcHost4
		}
	}
	srcText := addrText[src]
	if dst == "" {
		dst = srcText
	}
	eph := g.ephemeral(src)
	cp, sp := &w.procs[e.client], &w.procs[server]

	cSrc, cDst := srcText, dst
	if cp.t.mapped && !v6 {
		cSrc, cDst = mapped[srcText], mapped[dst]
	}
	sSrc, sDst := srcText, dst
	if s.t.dual && !v6 {
		sSrc, sDst = mapped[srcText], mapped[dst]
	}
	g.line(cDst, port, "→", cSrc, eph, cp, true)
	g.line(sSrc, eph, "←", sDst, port, sp, false)

	g.st.Local++
	if v6 {
		g.st.IPv6++
	}
	if g.edges != nil {
		g.edges[edgeKey{0, int32(e.client), int32(server)}] = struct{}{}
		g.procs[e.client] = struct{}{}
		g.procs[server] = struct{}{}
	}
}

func (g *generator) external(v6 bool) {
	w := g.w
	e := w.ext[pick(g.r, w.extCum)]
	ep := w.endpoints[e.target]
	h := &w.hosts[ep.host]
	cp := &w.procs[e.client]
	src, remote := srcHost4, h.v4s
	if v6 {
		src, remote = srcHost6, h.v6s
	}
	local := addrText[src]
	if cp.t.mapped && !v6 {
		remote, local = h.v4m, mapped[local]
	}
	g.line(remote, ep.port, "→", local, g.ephemeral(src), cp, true)

	g.st.External++
	v := int32(0)
	if v6 {
		g.st.IPv6++
		v = 1
	}
	if g.edges != nil {
		g.edges[edgeKey{1, int32(e.client), int32(e.target)*2 + v}] = struct{}{}
		g.procs[e.client] = struct{}{}
		g.hosts[ep.host] = struct{}{}
	}
}

func (g *generator) inbound(v6 bool) {
	w := g.w
	s := &w.services[w.inbound[g.r.intn(len(w.inbound))]]
	server := s.members[g.r.intn(len(s.members))]
	port := s.t.ports[0]
	hi := g.r.intn(len(w.hosts))
	h := &w.hosts[hi]
	remote, local := h.v4s, addrText[srcHost4]
	if v6 {
		remote, local = h.v6s, addrText[srcHost6]
	} else if s.t.dual {
		remote, local = h.v4m, mapped[local]
	}
	sp := &w.procs[server]
	g.line(remote, ephemeralLow+g.r.intn(ephemeralHigh-ephemeralLow+1), "←", local, port, sp, false)

	g.st.Inbound++
	v := int32(0)
	if v6 {
		g.st.IPv6++
		v = 1
	}
	if g.edges != nil {
		g.edges[edgeKey{2, int32(hi)*2 + v, int32(server)}] = struct{}{}
		g.procs[server] = struct{}{}
		g.hosts[hi] = struct{}{}
	}
}
