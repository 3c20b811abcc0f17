// Package graph builds the process-to-process connection graph from trace events.
//
// The two lines of one local connection (→ from the client, ← from the server, same 4-tuple)
// become one edge client → server. A connect with no matching accept points to an external
// node for the remote endpoint ip:port; an accept with no matching connect comes from an
// external node for the remote host ip. Repeated connections between the same pair are one
// edge carrying the number of connections; failed connects are edges of their own.
//
// Lines with conn= (line format version 2) are connection ends with an identity: each end's
// first line, open or close, is joined like a version 1 line, its other line adds what it
// knows, and a line whose (host, conn, kind) was seen before is a repeat and changes nothing.
// What the close lines tell (bytes, who closed, retransmits, latency) is summed per edge in
// its Life. Lines without conn= follow the repeats rule of docs/line-format.md.
package graph

import (
	"cmp"
	"encoding/binary"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"

	"netflow/net_visualizer/internal/trace"
)

// NodeKind distinguishes traced processes from endpoints seen only from one side.
type NodeKind uint8

const (
	Process  NodeKind = 1
	External NodeKind = 2
)

func (k NodeKind) String() string {
	if k == Process {
		return "process"
	}
	return "external"
}

// nodeKey identifies a node. For a process: host, pid and comm. For an external endpoint:
// host and address; HostOnly externals (the client side of an unmatched accept) have port 0.
type nodeKey struct {
	kind     NodeKind
	host     string
	pid      uint32
	comm     string
	addr     netip.AddrPort
	hostOnly bool
}

type nodeID int32

// edgeKey is an edge's from and to nodes and whether it is a failed-connect edge, packed
// into one word: maps of 8-byte keys are the fastest Go has.
type edgeKey uint64

func makeEdgeKey(from, to nodeID, failed bool) edgeKey {
	k := edgeKey(uint32(from)) | edgeKey(uint32(to))<<32
	if failed {
		k |= 1 << 31 // node ids stay below 2^31
	}
	return k
}

func (k edgeKey) from() nodeID { return nodeID(uint32(k) &^ (1 << 31)) }
func (k edgeKey) to() nodeID   { return nodeID(k >> 32) }
func (k edgeKey) failed() bool { return k&(1<<31) != 0 }

// connKey is one TCP connection: its client end and its server end, as plain bytes so that
// hashing it is cheap (IPv4 addresses are stored IPv4-mapped; zones are not part of it).
type connKey struct {
	host         uint32
	cport, sport uint16
	cip, sip     [16]byte
}

func makeConnKey(host uint32, client, server netip.AddrPort) connKey {
	return connKey{host: host, cport: client.Port(), sport: server.Port(),
		cip: client.Addr().As16(), sip: server.Addr().As16()}
}

func (k connKey) client() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16(k.cip).Unmap(), k.cport)
}

func (k connKey) server() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16(k.sip).Unmap(), k.sport)
}

type pending struct {
	host  uint32 // the host of the line
	node  nodeID
	slot  int32 // its place in the window's ring, -1 if none
	rec   int32 // the end's record (a line with conn=), -1 for a version 1 line
	count uint64
	seq   uint64 // when it started waiting, to age it out of the window
	// Version 1 lines: extra counts the same side's further lines from the same process;
	// suspect says the 4-tuple was joined lately, so that these lines are beyond the number
	// seen from the other end: repeats, unless more of the other end's lines come.
	extra   uint32
	dir     trace.Direction
	keep    bool // this side passed the filter
	suspect bool
}

// connID is a connection end's identity: its host and its conn=.
type connID struct {
	host uint32
	conn string
}

// endRec is what is known of one end of a connection whose lines carry conn=. About 80
// bytes, plus the ids map's entry (the conn= text and about 50 bytes): kept for the whole
// run, as a repeat may come at any time.
type endRec struct {
	node                              nodeID
	peer                              int32   // the other end's record once joined, -1 before (or never traced)
	edge                              edgeKey // where the connection is drawn, once drawn
	port                              uint16  // the server port
	drawn                             bool
	out                               bool // this end connected: the client
	opened                            bool // its open line was seen
	closed                            bool // its close line was seen
	failed                            bool
	keepOpen, keepClose, keepPeer     bool // what the filter said of each line (keepPeer: a version 1 peer's)
	reconnect, hasConnect, hasDur     bool
	preexisting                       bool // its open line has preexisting=1
	end                               trace.End
	dur, sent, recv, retrans, connect uint64
}

func (r *endRec) draw(k edgeKey, port uint16) { r.edge, r.port, r.drawn = k, port, true }

// kept is what the filter said of this end: its close line decides when there is one.
func (r *endRec) kept() bool {
	if r == nil {
		return false
	}
	if r.closed {
		return r.keepClose || r.keepPeer
	}
	return r.keepOpen || r.keepPeer
}

// recentMatches is how many joined 4-tuples (version 1 lines) are remembered for the repeats
// rule, in a direct-mapped table of 64-bit fingerprints (256 KiB), looked up when a line
// starts waiting and when it is given up on: a repeat that arrives later than about that many
// connections after its connection was joined, and is given up on later still, is counted as
// a connection. Two 4-tuples share a fingerprint with a chance of about 2^-49.
const recentMatches = 1 << 15

// fingerprint is a 64-bit hash of a connection key, never 0.
func (k *connKey) fingerprint() uint64 {
	const m = 0x9e3779b97f4a7c15
	mix := func(h, v uint64) uint64 {
		h ^= v
		h *= m
		return h ^ h>>29
	}
	// The high halves of the addresses are folded in by a rotation: cheap, and IPv6
	// addresses that differ only there still differ.
	c := binary.LittleEndian.Uint64(k.cip[8:]) ^ bits.RotateLeft64(binary.LittleEndian.Uint64(k.cip[:8]), 23)
	s := binary.LittleEndian.Uint64(k.sip[8:]) ^ bits.RotateLeft64(binary.LittleEndian.Uint64(k.sip[:8]), 41)
	h := mix(uint64(k.host)<<32|uint64(k.cport)<<16|uint64(k.sport), c)
	return mix(h, s) | 1
}

// GroupBy says what one process node stands for.
type GroupBy string

const (
	ByProcess GroupBy = "process" // one pid with one name (the default)
	ByComm    GroupBy = "comm"    // every process of that name
	ByExe     GroupBy = "exe"     // every process of that executable (exe=), else of that name
	ByUser    GroupBy = "user"    // every process of that user (uid=)
	ByCgroup  GroupBy = "cgroup"  // every process of that cgroup (cgroup=)
	ByHost    GroupBy = "host"    // every process of that host (host=)
)

// GroupBys lists the groupings, the default first.
var GroupBys = []GroupBy{ByProcess, ByComm, ByExe, ByUser, ByCgroup, ByHost}

// maxPIDExamples is how many pids a grouped node lists; all are counted.
const maxPIDExamples = 5

// Window is how many connections may start waiting for their other side after one
// connection did, before that one is given up on and drawn as unmatched. The two lines of
// one connection arrive microseconds apart in a live trace, so this only bounds memory
// when a peer is never traced (an accept made through io_uring, say).
const Window = 1 << 16

type waiting struct {
	key connKey
	seq uint64
}

type hostIP struct {
	host uint32
	ip   [16]byte
}

type extSlot struct {
	key nodeKey
	id  nodeID
	ok  bool
}

type edgeSlot struct {
	key edgeKey
	pos int32 // its position in the builder's edgeSet, plus one (0: empty)
}

type procSlot struct {
	pid        uint32
	host, comm string
	id         nodeID
}

type procID struct {
	pid        uint32
	host, comm string
}

// Builder accumulates events. The zero value is not usable; call New.
type Builder struct {
	// procInfo is the newest Proc (a proc line's) of each process, dnsNames the name a
	// capture gave each remote address (Event.RemoteDNS).
	procInfo map[procInfoKey]*trace.Proc
	dnsNames map[netip.Addr]string

	keys    []nodeKey
	attrs   [][]trace.Attr
	index   map[nodeKey]nodeID
	edges   edgeSet     // the builder's
	drawn   *drawnEdges // a view's (see graph), nil in the builder
	pending map[connKey]pending

	hosts     map[string]uint32
	hostNames []string

	// Exact, when set, keeps every unmatched connection waiting until the end instead of
	// deciding promptly (needed to join captures of several hosts read one after the other).
	Exact bool
	// GroupBy is what a process node stands for; "" means ByProcess. Set it before Add.
	GroupBy GroupBy
	// UserName, if set, names a uid for ByUser nodes ("" when unknown).
	UserName func(uid string) string
	// ExternalLabel, if set, names an external address for Graph: externals with the same
	// label become one node. ok false keeps the address as it is.
	ExternalLabel func(a netip.Addr) (label string, ok bool)

	aggs map[connKey]*aggregated // aggregated lines, by client address and server

	ends          []endRec         // connection ends with conn=
	ids           map[connID]int32 // their records, by identity
	recentMatched []uint64         // version 1: fingerprints of 4-tuples joined lately
	repeats       uint64

	procIndex map[procID]nodeID          // grouped: which group each process is in
	pids      map[nodeID]map[uint32]bool // grouped: the pids of each group

	locals       map[hostIP]struct{} // addresses seen as the local end of a line
	recentLocals [4][16]byte         // a few local addresses seen lately, to skip the map
	nextRecent   int
	queue        []waiting // ring of waiting connections, oldest at head
	head         int
	seq          uint64
	procs        [4096]procSlot // recent processes by pid: most events need no node lookup
	edgeCache    [1024]edgeSlot // recent edges: most connections need no edge lookup
	extCache     [256]extSlot   // recent external endpoints

	events, conns, lost uint64
}

// New returns an empty Builder.
type procInfoKey struct {
	host string
	pid  uint32
}

// AddProc records what a proc line (a ProcLine event: PID, Host, Proc) says of a process;
// the newest one of each (host, pid) is its Node.Proc.
func (b *Builder) AddProc(ev *trace.Event) {
	if ev.Proc == nil {
		return
	}
	if b.procInfo == nil {
		b.procInfo = make(map[procInfoKey]*trace.Proc)
	}
	b.procInfo[procInfoKey{ev.Host, ev.PID}] = ev.Proc
}

// noteDNS remembers the name a capture gave an event's remote address.
func (b *Builder) noteDNS(ev *trace.Event) {
	if b.dnsNames == nil {
		b.dnsNames = make(map[netip.Addr]string)
	}
	b.dnsNames[ev.Remote.Addr()] = ev.RemoteDNS
}

func New() *Builder {
	b := &Builder{
		index:     make(map[nodeKey]nodeID),
		pending:   make(map[connKey]pending),
		hosts:     map[string]uint32{"": 0},
		locals:    make(map[hostIP]struct{}),
		hostNames: []string{""},
	}
	for i := range b.procs {
		b.procs[i].id = -1
	}
	return b
}

// perEvent are metadata keys that describe one call or connection, not the process: not kept
// on nodes.
var perEvent = map[string]bool{"tid": true, "ts": true, "time": true, "preexisting": true}

func (b *Builder) node(k nodeKey, attrs []trace.Attr) nodeID {
	if id, ok := b.index[k]; ok {
		return id
	}
	id := nodeID(len(b.keys))
	b.index[k] = id
	b.keys = append(b.keys, k)
	var kept []trace.Attr
	for _, a := range attrs {
		if !perEvent[a.Key] {
			kept = append(kept, a)
		}
	}
	b.attrs = append(b.attrs, kept)
	return id
}

func (b *Builder) process(ev *trace.Event) nodeID {
	slot := &b.procs[ev.PID%uint32(len(b.procs))]
	if slot.id >= 0 && slot.pid == ev.PID && slot.comm == ev.Comm && slot.host == ev.Host {
		return slot.id
	}
	var id nodeID
	if b.GroupBy == "" || b.GroupBy == ByProcess {
		id = b.node(nodeKey{kind: Process, host: ev.Host, pid: ev.PID, comm: ev.Comm}, ev.Attrs)
	} else {
		// The group is known from a process's first line, the one that carries its attributes.
		pk := procID{ev.PID, ev.Host, ev.Comm}
		var ok bool
		if id, ok = b.procIndex[pk]; !ok {
			id = b.node(nodeKey{kind: Process, host: ev.Host, comm: b.groupName(ev)}, ev.Attrs)
			if b.procIndex == nil {
				b.procIndex, b.pids = make(map[procID]nodeID), make(map[nodeID]map[uint32]bool)
			}
			b.procIndex[pk] = id
			if b.pids[id] == nil {
				b.pids[id] = make(map[uint32]bool)
			}
			b.pids[id][ev.PID] = true
		}
	}
	*slot = procSlot{pid: ev.PID, host: ev.Host, comm: ev.Comm, id: id}
	return id
}

// groupName is the label of the group a process belongs to.
func (b *Builder) groupName(ev *trace.Event) string {
	switch b.GroupBy {
	case ByExe:
		if exe, ok := ev.Attr("exe"); ok && exe != "" {
			return exe
		}
	case ByUser:
		uid, ok := ev.Attr("uid")
		if !ok {
			return "unknown user"
		}
		if b.UserName != nil {
			if name := b.UserName(uid); name != "" {
				return name + " (uid " + uid + ")"
			}
		}
		return "uid " + uid
	case ByCgroup:
		if cg, ok := ev.Attr("cgroup"); ok && cg != "" {
			return cg
		}
		return "unknown cgroup"
	case ByHost:
		if ev.Host == "" {
			return "this host"
		}
		return ev.Host
	}
	return ev.Comm
}

func (b *Builder) hostID(h string) uint32 {
	if h == "" {
		return 0
	}
	id, ok := b.hosts[h]
	if !ok {
		id = uint32(len(b.hostNames))
		b.hosts[h] = id
		b.hostNames = append(b.hostNames, h)
	}
	return id
}

func (b *Builder) addEdge(from, to nodeID, failed bool, port uint16, n uint64) {
	b.addEdgeKey(makeEdgeKey(from, to, failed), port, n)
}

// addEdgeKey counts n connections on edge k to server port port. In a view it returns the
// edge; in the builder, nil.
func (b *Builder) addEdgeKey(k edgeKey, port uint16, n uint64) *Edge {
	if b.drawn != nil {
		e := b.drawn.get(k)
		if e == nil {
			e = b.drawn.add(k, port)
		} else {
			addPort(e, port)
		}
		e.Connections += n
		return e
	}
	from, to := k.from(), k.to()
	slot := &b.edgeCache[(uint32(from)*2654435761^uint32(to)*40503)%uint32(len(b.edgeCache))]
	var p int32
	if slot.pos > 0 && slot.key == k {
		p = slot.pos - 1
		b.edges.addPort(p, port)
	} else if p = b.edges.find(k); p >= 0 {
		b.edges.addPort(p, port)
		*slot = edgeSlot{k, p + 1}
	} else {
		p = b.edges.add(k, port)
		*slot = edgeSlot{k, p + 1}
	}
	b.edges.at(p).conns += n
	return nil
}

// external is node for external endpoints, through a small cache: a busy host talks to the
// same few remote endpoints again and again.
func (b *Builder) external(k nodeKey) nodeID {
	a16 := k.addr.Addr().As16()
	h := uint32(a16[15]) ^ uint32(a16[14])<<3 ^ uint32(a16[13])<<6 ^ uint32(k.addr.Port())*31
	slot := &b.extCache[h%uint32(len(b.extCache))]
	if slot.ok && slot.key == k {
		return slot.id
	}
	id := b.node(k, nil)
	*slot = extSlot{key: k, id: id, ok: true}
	return id
}

// AddLost records that the tracer reported n events lost.
func (b *Builder) AddLost(n uint64) { b.lost += n }

// connHost is the host part of a connection's key: a connection between two hosts is joined
// by its addresses alone; one on loopback never leaves its host.
func (b *Builder) connHost(ev *trace.Event) uint32 {
	if !ev.Local.Addr().IsLoopback() && !ev.Remote.Addr().IsLoopback() {
		return 0
	}
	return b.hostID(ev.Host)
}

// aggregated holds the counts of aggregated lines for one client address and server: how
// many connections each client process made, and each server process accepted.
type aggregated struct {
	host      uint32
	outs, ins map[nodeID]uint64
	outN, inN uint64
	// The sums of aggregated close lines, by client process and by server process.
	outLife, inLife map[nodeID]*Life
}

// addAggregatedClose adds a close line without conn= (the tracer's aggregate mode): its
// sums go on the edges drawn from the aggregated open lines of its client address and server.
func (b *Builder) addAggregatedClose(ev *trace.Event, keep bool) {
	if !keep {
		return
	}
	proc := b.process(ev)
	kh := b.connHost(ev)
	key := makeConnKey(kh, ev.Local, ev.Remote)
	if ev.Dir == trace.In {
		key = makeConnKey(kh, ev.Remote, ev.Local)
	}
	a := b.aggFor(key, b.hostID(ev.Host))
	lives := &a.outLife
	if ev.Dir == trace.In {
		lives = &a.inLife
	}
	if *lives == nil {
		*lives = map[nodeID]*Life{}
	}
	l := (*lives)[proc]
	if l == nil {
		l = &Life{}
		(*lives)[proc] = l
	}
	l.addAggregated(ev)
}

func (b *Builder) aggFor(key connKey, host uint32) *aggregated {
	if b.aggs == nil {
		b.aggs = make(map[connKey]*aggregated)
	}
	a := b.aggs[key]
	if a == nil {
		a = &aggregated{host: host, outs: map[nodeID]uint64{}, ins: map[nodeID]uint64{}}
		b.aggs[key] = a
	}
	return a
}

// attachLife adds l to the Life of an edge already drawn in the view.
func (b *Builder) attachLife(k edgeKey, l *Life) {
	e := b.drawn.get(k)
	if e == nil || l == nil {
		return
	}
	e.Life = l.merge(e.Life)
}

func (b *Builder) aggregate(key connKey, host uint32, dir trace.Direction, proc nodeID, n uint64) {
	a := b.aggFor(key, host)
	if dir == trace.Out {
		a.outs[proc] += n
		a.outN += n
	} else {
		a.ins[proc] += n
		a.inN += n
	}
}

// drawAggregates adds the aggregated connections to the view's edges. When several server
// processes accept on one address (web server workers), each is drawn with exactly as many
// connections as it accepted, and each client process with exactly as many as it made (when
// the two sides' totals differ, a capture stopped mid-interval, the servers' counts are first
// scaled to the clients' total). A side with no peer is unmatched.
func (b *Builder) drawAggregates(view *Builder) {
	for key, a := range b.aggs {
		client, server := key.client(), key.server()
		switch {
		case a.inN == 0 && a.outN == 0:
			// Close lines only: their sums have no edge to go on.
		case a.inN == 0:
			for _, c := range sortedKeys(a.outs) {
				view.unmatched(a.host, trace.Out, c, client, server, a.outs[c])
				k, _ := view.unmatchedEdge(a.host, trace.Out, c, client, server)
				view.attachLife(k, a.outLife[c])
			}
		case a.outN == 0:
			for _, s := range sortedKeys(a.ins) {
				view.unmatched(a.host, trace.In, s, server, client, a.ins[s])
				k, _ := view.unmatchedEdge(a.host, trace.In, s, server, client)
				view.attachLife(k, a.inLife[s])
			}
		default:
			flows := share(a.outs, a.ins, a.outN, a.inN)
			for _, f := range flows {
				view.addEdge(f.client, f.server, false, key.sport, f.n)
				view.conns += f.n
			}
			// The sums of a client's close lines go on its flow with the most connections;
			// when no client close line came, each server's go on its biggest flow.
			biggest := func(of func(flow) nodeID, n nodeID) edgeKey {
				best := flow{}
				for _, f := range flows {
					if of(f) == n && f.n > best.n {
						best = f
					}
				}
				return makeEdgeKey(best.client, best.server, false)
			}
			if len(a.outLife) > 0 {
				for _, c := range sortedKeys(a.outs) {
					view.attachLife(biggest(func(f flow) nodeID { return f.client }, c), a.outLife[c])
				}
			} else {
				for _, s := range sortedKeys(a.ins) {
					view.attachLife(biggest(func(f flow) nodeID { return f.server }, s), a.inLife[s])
				}
			}
		}
	}
}

// flow is n connections from one client process to one server process.
type flow struct {
	client, server nodeID
	n              uint64
}

// share splits the clients' connections (outs, outN in all) among the servers (ins, inN in
// all, both non-zero) so that every client's flows add up to what it made and every
// server's to what it accepted, scaled to outN. Each client first gets the whole part of
// its proportional share of each server; what is left, less than one connection per client
// and server, fills the servers' remaining counts in order. Same counts, same flows.
func share(outs, ins map[nodeID]uint64, outN, inN uint64) []flow {
	clients, servers := sortedKeys(outs), sortedKeys(ins)
	// What each server is to receive: its accept count, scaled to outN by largest remainder.
	want := make([]uint64, len(servers))
	if outN == inN {
		for i, s := range servers {
			want[i] = ins[s]
		}
	} else {
		rems := make([]uint64, len(servers))
		var given uint64
		for i, s := range servers {
			want[i], rems[i] = mulDiv(outN, ins[s], inN)
			given += want[i]
		}
		for ; given < outN; given++ {
			best := 0
			for i := range rems {
				if rems[i] > rems[best] {
					best = i
				}
			}
			want[best]++
			rems[best] = 0
		}
	}
	// Whole proportional shares: they never exceed a server's count, as the clients add up
	// to outN.
	left := slices.Clone(want)
	var flows []flow
	rest := make([]uint64, len(clients))
	for j, c := range clients {
		rest[j] = outs[c]
		for i, s := range servers {
			if n, _ := mulDiv(outs[c], want[i], outN); n > 0 {
				flows = append(flows, flow{c, s, n})
				rest[j] -= n
				left[i] -= n
			}
		}
	}
	// The remainders, client by client into the servers with room left; both sides add up
	// to the same total, so every remainder finds room.
	i := 0
	for j, c := range clients {
		for rest[j] > 0 {
			for left[i] == 0 {
				i++
			}
			n := min(rest[j], left[i])
			flows = append(flows, flow{c, servers[i], n})
			rest[j] -= n
			left[i] -= n
		}
	}
	return flows
}

func sortedKeys(m map[nodeID]uint64) []nodeID {
	keys := make([]nodeID, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// mulDiv returns a*b/c and a*b%c without overflow; the quotient must fit in 64 bits.
func mulDiv(a, b, c uint64) (q, r uint64) {
	hi, lo := bits.Mul64(a, b)
	return bits.Div64(hi, lo, c)
}

// Add records one event.
func (b *Builder) Add(ev *trace.Event) { b.AddKeep(ev, true) }

// AddKeep records one event that a filter kept or not. A connection is drawn when either of
// its sides was kept, so a filter on one process still shows whom it talks to.
func (b *Builder) AddKeep(ev *trace.Event, keep bool) {
	b.events++
	if ev.RemoteDNS != "" {
		b.noteDNS(ev)
	}
	if ev.Conn != "" {
		b.addEnd(ev, keep)
		return
	}
	if ev.Close != nil {
		b.addAggregatedClose(ev, keep)
		return
	}
	proc := b.process(ev)
	count := max(ev.Count, 1)
	if ev.Dir == trace.Out && ev.Failed() {
		// A failed connect has no other side; it never matches anything. If the same
		// process's connect on this 4-tuple was seen in progress (ret=-115), this line is
		// its outcome: that one was not a connection.
		if ev.Local.Port() != 0 {
			key := makeConnKey(b.connHost(ev), ev.Local, ev.Remote)
			if p, ok := b.pending[key]; ok && p.dir == trace.Out && p.node == proc {
				b.done(key, p)
			}
		}
		if keep {
			ext := b.node(nodeKey{kind: External, host: ev.Host, addr: ev.Remote}, nil)
			b.addEdge(proc, ext, true, ev.Remote.Port(), count)
			b.conns += count
		}
		return
	}
	host := b.hostID(ev.Host)
	b.noteLocal(host, ev.Local.Addr())
	if !b.Exact && ev.Host == "" && !b.isLocal(host, ev.Remote.Addr()) {
		// The peer is on no address this host has shown: no line can ever join it. (A line
		// of a fleet stream, with host=, may be joined by another host's line still to
		// come: it waits, within the Window.) The tracers report a connect's outcome once it
		// is known, so a connect still in progress (ret=-115) here is taken as made.
		if keep {
			b.unmatched(host, ev.Dir, proc, ev.Local, ev.Remote, count)
		}
		return
	}
	kh := b.connHost(ev)
	var key connKey
	if ev.Dir == trace.Out {
		key = makeConnKey(kh, ev.Local, ev.Remote)
	} else {
		key = makeConnKey(kh, ev.Remote, ev.Local)
	}
	if key.cport == 0 {
		// An aggregated line (the tracer's --aggregate mode): N connections from the client
		// address, its ephemeral ports not kept. Joined per client address and server.
		if keep {
			b.aggregate(key, host, ev.Dir, proc, count)
		}
		return
	}
	p, ok := b.pending[key]
	if ok && p.dir == ev.Dir {
		if p.node == proc && p.rec < 0 {
			// The same side again from the same process, before the other side: a repeat
			// if the other end shows fewer lines, a connection if as many (a 4-tuple used
			// again), or if the other end is never traced.
			p.extra += uint32(min(count, 1<<31))
			p.keep = p.keep || keep
			b.pending[key] = p
			return
		}
		// The same side from another process: the earlier connection on this 4-tuple is
		// closed, and its peer was never traced.
		b.giveUp(key, p)
		ok = false
	}
	if !ok {
		b.wait(key, pending{host: host, dir: ev.Dir, keep: keep, node: proc, count: count, rec: -1, suspect: b.wasMatched(key)})
		return
	}
	b.done(key, p)
	client, server := proc, p.node
	if ev.Dir == trace.In {
		client, server = p.node, proc
	}
	if p.rec >= 0 {
		// The other end has conn= (its tracer is of version 2): the connection is its record's.
		r := &b.ends[p.rec]
		r.draw(makeEdgeKey(client, server, false), key.sport)
		r.keepPeer = r.keepPeer || keep
		return
	}
	b.noteMatched(key)
	if p.extra > 0 {
		// The rest of the waiting side's lines wait on, as repeats unless joined.
		b.wait(key, pending{host: p.host, dir: p.dir, keep: p.keep, node: p.node, count: 1, rec: -1,
			extra: p.extra - 1, suspect: true})
	}
	if !keep && !p.keep {
		return
	}
	b.addEdge(client, server, false, key.sport, max(count, p.count))
	b.conns += max(count, p.count)
}

// noteMatched remembers that a 4-tuple was joined (version 1 lines).
func (b *Builder) noteMatched(k connKey) {
	if b.recentMatched == nil {
		b.recentMatched = make([]uint64, recentMatches)
	}
	f := k.fingerprint()
	b.recentMatched[f>>1%recentMatches] = f
}

// wasMatched reports whether a 4-tuple was joined lately.
func (b *Builder) wasMatched(k connKey) bool {
	if b.recentMatched == nil {
		return false
	}
	f := k.fingerprint()
	return b.recentMatched[f>>1%recentMatches] == f
}

// addEnd records a line with conn=: one end of a connection with an identity. Its first line,
// open or close, is joined to the other end like a version 1 line; its other line only adds
// what it knows. A line whose kind was seen before for this identity is a repeat.
func (b *Builder) addEnd(ev *trace.Event, keep bool) {
	id := connID{b.hostID(ev.Host), ev.Conn}
	ri, ok := b.ids[id]
	if !ok {
		if b.ids == nil {
			b.ids = make(map[connID]int32)
		}
		ri = int32(len(b.ends))
		b.ends = append(b.ends, endRec{peer: -1})
		b.ids[id] = ri
	}
	r := &b.ends[ri]
	first := !r.opened && !r.closed
	if c := ev.Close; c != nil {
		if r.closed {
			b.repeats++
			return
		}
		r.closed, r.keepClose = true, keep
		r.end, r.dur, r.sent, r.recv, r.retrans = c.End, c.DurUS, c.Sent, c.Recv, c.Retrans
		r.connect, r.hasConnect, r.hasDur = c.ConnectUS, c.HasConnect, c.HasDur
		if ev.Dir == trace.Out && c.End == trace.EndNever {
			r.failed = true
		}
	} else {
		if r.opened {
			b.repeats++
			return
		}
		r.opened, r.keepOpen = true, keep
		r.reconnect = ev.Reconnect && ev.Dir == trace.Out
		if ev.Preexisting {
			r.preexisting = true
		}
		if ev.Dir == trace.Out && ev.Failed() {
			r.failed = true
		}
	}
	if !first {
		return
	}
	r.out = ev.Dir == trace.Out
	proc := b.process(ev)
	r = &b.ends[ri]
	r.node = proc
	if r.failed {
		ext := b.node(nodeKey{kind: External, host: ev.Host, addr: ev.Remote}, nil)
		r.draw(makeEdgeKey(proc, ext, true), ev.Remote.Port())
		return
	}
	host := b.hostID(ev.Host)
	b.noteLocal(host, ev.Local.Addr())
	if (!b.Exact && ev.Host == "" && !b.isLocal(host, ev.Remote.Addr())) || ev.Local.Port() == 0 || ev.Remote.Port() == 0 {
		// No line can join it (see AddKeep).
		r.draw(b.unmatchedEdge(host, ev.Dir, proc, ev.Local, ev.Remote))
		return
	}
	kh := b.connHost(ev)
	key := makeConnKey(kh, ev.Local, ev.Remote)
	if ev.Dir == trace.In {
		key = makeConnKey(kh, ev.Remote, ev.Local)
	}
	p, ok := b.pending[key]
	if ok && p.dir == ev.Dir {
		// The same side of another connection on this 4-tuple: that one's peer was not traced.
		b.giveUp(key, p)
		ok = false
	}
	if !ok {
		b.wait(key, pending{host: host, dir: ev.Dir, keep: true, node: proc, count: 1, rec: ri})
		return
	}
	b.done(key, p)
	client, server := proc, p.node
	if ev.Dir == trace.In {
		client, server = p.node, proc
	}
	k := makeEdgeKey(client, server, false)
	r = &b.ends[ri]
	r.draw(k, key.sport)
	if p.rec < 0 {
		r.keepPeer = p.keep // a version 1 line of the other end
		return
	}
	q := &b.ends[p.rec]
	q.draw(k, key.sport)
	q.peer, r.peer = ri, p.rec
}

// drawEnds draws the connections of the ends with conn=, each once, with their Life, on a
// view whose waiting ends have been drawn as unmatched.
func (b *Builder) drawEnds() {
	for i := range b.ends {
		r := &b.ends[i]
		var cl, sv *endRec
		switch {
		case r.out:
			cl = r
			if r.peer >= 0 {
				sv = &b.ends[r.peer]
			}
		case r.peer >= 0:
			continue // drawn with its client
		default:
			sv = r
		}
		if !r.drawn || !(cl.kept() || sv.kept()) {
			continue
		}
		e := b.addEdgeKey(r.edge, r.port, 1)
		b.conns++
		if e.Life == nil {
			e.Life = &Life{}
		}
		e.Life.add(cl, sv, r.edge.failed())
	}
}

// noteLocal records an address as local. The set spans every host of a fleet capture, so
// that a connection to another traced host waits to be joined.
func (b *Builder) noteLocal(host uint32, a netip.Addr) {
	if a.IsLoopback() {
		return // always local
	}
	k := a.As16()
	for _, r := range b.recentLocals {
		if r == k {
			return
		}
	}
	b.recentLocals[b.nextRecent%len(b.recentLocals)] = k
	b.nextRecent++
	b.locals[hostIP{0, k}] = struct{}{}
}

func (b *Builder) isLocal(host uint32, a netip.Addr) bool {
	if a.IsLoopback() || a.IsUnspecified() {
		return true
	}
	k := a.As16()
	for _, r := range b.recentLocals {
		if r == k {
			return true
		}
	}
	_, ok := b.locals[hostIP{0, k}]
	return ok
}

// wait starts p waiting for its other side, giving up on the oldest waiting connection
// when the window is full.
func (b *Builder) wait(key connKey, p pending) {
	b.seq++
	p.seq, p.slot = b.seq, -1
	if b.Exact {
		b.pending[key] = p
		return
	}
	if len(b.queue) < Window {
		if b.queue == nil {
			b.queue = make([]waiting, 0, Window) // once, rather than growing under load
		}
		p.slot = int32(len(b.queue))
		b.pending[key] = p
		b.queue = append(b.queue, waiting{key, p.seq})
		return
	}
	old := b.queue[b.head]
	p.slot = int32(b.head)
	b.pending[key] = p
	b.queue[b.head] = waiting{key, p.seq}
	b.head = (b.head + 1) % Window
	if old.seq == 0 {
		return // joined already: nothing to give up
	}
	if q, ok := b.pending[old.key]; ok && q.seq == old.seq {
		b.giveUp(old.key, q)
	}
}

// done forgets a waiting connection that was joined or replaced: its ring entry need not
// be looked up again.
func (b *Builder) done(key connKey, p pending) {
	delete(b.pending, key)
	if p.slot >= 0 && int(p.slot) < len(b.queue) && b.queue[p.slot].seq == p.seq {
		b.queue[p.slot].seq = 0
	}
}

// giveUp draws a waiting connection as unmatched and forgets it.
func (b *Builder) giveUp(key connKey, p pending) {
	delete(b.pending, key)
	client, server := key.client(), key.server()
	local, remote := client, server
	if p.dir == trace.In {
		local, remote = server, client
	}
	if p.rec >= 0 {
		k, port := b.unmatchedEdge(p.host, p.dir, p.node, local, remote)
		b.ends[p.rec].draw(k, port)
		return
	}
	if p.suspect || b.wasMatched(key) {
		// Beyond the number of lines seen from the other end (it was traced, and joined):
		// repeats.
		b.repeats += 1 + uint64(p.extra)
		return
	}
	if !p.keep {
		return
	}
	b.unmatched(p.host, p.dir, p.node, local, remote, p.count+uint64(p.extra))
}

// unmatched draws one side of a connection whose other side is not in the trace: a connect
// points to the remote ip:port, an accept comes from the remote ip.
func (b *Builder) unmatched(host uint32, dir trace.Direction, proc nodeID, local, remote netip.AddrPort, n uint64) {
	b.conns += n
	k, port := b.unmatchedEdge(host, dir, proc, local, remote)
	b.addEdgeKey(k, port, n)
}

// unmatchedEdge is the edge and server port of an unmatched side (see unmatched).
func (b *Builder) unmatchedEdge(host uint32, dir trace.Direction, proc nodeID, local, remote netip.AddrPort) (edgeKey, uint16) {
	h := b.hostNames[host]
	if dir == trace.Out {
		ext := b.external(nodeKey{kind: External, host: h, addr: remote})
		return makeEdgeKey(proc, ext, false), remote.Port()
	}
	ext := b.external(nodeKey{kind: External, host: h, addr: netip.AddrPortFrom(remote.Addr(), 0), hostOnly: true})
	return makeEdgeKey(ext, proc, false), local.Port()
}

// Stats counts what the builder has seen.
type Stats struct {
	Lines       uint64 `json:"lines"`       // input lines read (filled in by the reader)
	Malformed   uint64 `json:"malformed"`   // lines skipped as malformed (filled in by the reader)
	Events      uint64 `json:"events"`      // event lines added
	Connections uint64 `json:"connections"` // distinct connections, both sides of a local one counted once
	Processes   int    `json:"processes"`   // processes drawn, those in grouped nodes included
	Edges       int    `json:"edges"`
	Lost        uint64 `json:"lost"` // events the tracer reported lost
	// Repeats are event lines that were counted as repeats (docs/line-format.md, Repeats).
	Repeats uint64 `json:"repeats,omitempty"`
	// Old is, in a Diff, the old capture's counts; the others are then the new capture's.
	Old *Stats `json:"old,omitempty"`
}

// Node is a vertex of the finished graph.
type Node struct {
	ID   string // "n1", "n2", ... in output order
	Kind NodeKind
	Host string
	// Processes: PID and Comm for one process; for a grouped node (GroupBy other than
	// process) PID is 0, Comm is the group's label and PIDs lists a few of its processes.
	PID      uint32
	Comm     string
	PIDs     []uint32 // grouped: the smallest pids, at most 5
	PIDCount int      // grouped: how many processes
	Attrs    []trace.Attr
	// Externals: Addr (Port says whether its port counts), or Label when named or collapsed.
	Addr  netip.AddrPort
	Port  bool
	Label string
	// DNS is the name the capture gave the external address (tracee's src_dns/dst_dns),
	// "" when none or when Label names it already.
	DNS string
	// Proc is the newest proc line of the process (version 3; nil when none or grouped):
	// ppid, credentials, capabilities, container, exe_path, args.
	Proc *trace.Proc
}

// AddrString is the external endpoint as "ip:port", "[v6]:port", or "ip" for a host.
func (n *Node) AddrString() string {
	if !n.Addr.IsValid() {
		return ""
	}
	if !n.Port {
		return n.Addr.Addr().String()
	}
	return n.Addr.String()
}

// Edge is a deduplicated, directed client → server edge.
type Edge struct {
	From, To    int // indexes into Graph.Nodes
	Connections uint64
	Ports       []uint16 // server ports, ascending
	Failed      bool
	Diff        Change // set by Diff: Added, Removed, or Same when in both
	// Life sums the close lines of the edge's connections; nil when none of them has close
	// tracing (no conn=, no close line).
	Life *Life
}

// Change is what Diff says of an edge. One byte: a graph holds a million edges.
type Change uint8

const (
	Same    Change = iota // in both graphs (or not a diff)
	Added                 // only in the new graph
	Removed               // only in the old graph
)

// String is the word the outputs show: "", "added" or "removed".
func (c Change) String() string {
	switch c {
	case Added:
		return "added"
	case Removed:
		return "removed"
	}
	return ""
}

// Graph is a finished, sorted graph: same events in, same Graph out.
type Graph struct {
	Nodes []Node
	Edges []Edge
	Stats Stats
}

// Graph returns the graph of everything added so far. Connections still waiting for their
// other side are drawn as unmatched; the builder itself is not changed, so adding may go on.
// It copies the builder's edges once, into the graph's Edges.
func (b *Builder) Graph() *Graph { return b.graph(false) }

// Final is Graph for the last time: it takes the builder's edges instead of copying them,
// so that the graph of a million edges is not held twice. The builder is not usable after.
func (b *Builder) Final() *Graph { return b.graph(true) }

// graph draws the graph: a view of the builder adds what is still waiting, the aggregates
// and the ends with conn= to its edges and nodes, copies of the builder's unless take, when
// the view takes the builder's own.
func (b *Builder) graph(take bool) *Graph {
	edges := b.edges.drawn(take)
	view := &Builder{keys: b.keys, attrs: b.attrs, index: b.index, drawn: &edges,
		hostNames: b.hostNames, conns: b.conns, ends: b.ends, repeats: b.repeats,
		recentMatched: b.recentMatched}
	if !take {
		view.keys, view.attrs, view.ends = slices.Clone(b.keys), slices.Clone(b.attrs), slices.Clone(b.ends)
		view.index = make(map[nodeKey]nodeID, len(b.index))
		for k, v := range b.index {
			view.index[k] = v
		}
	}
	for k, p := range b.pending {
		view.giveUp(k, p)
	}
	b.drawAggregates(view)
	view.drawEnds()

	nodes := make([]Node, len(view.keys))
	for id, k := range view.keys {
		n := Node{Kind: k.kind, Host: k.host}
		if k.kind == Process {
			n.PID, n.Comm, n.Attrs = k.pid, k.comm, view.attrs[id]
			if b.pids[nodeID(id)] == nil {
				n.Proc = b.procInfo[procInfoKey{k.host, k.pid}]
			}
			if set := b.pids[nodeID(id)]; set != nil {
				for pid := range set {
					n.PIDs = append(n.PIDs, pid)
				}
				slices.Sort(n.PIDs)
				n.PIDCount = len(n.PIDs)
				n.PIDs = n.PIDs[:min(len(n.PIDs), maxPIDExamples)]
			}
		} else {
			n.Addr, n.Port = k.addr, !k.hostOnly
			if b.ExternalLabel != nil {
				if label, ok := b.ExternalLabel(k.addr.Addr()); ok {
					n.Addr, n.Port, n.Label = netip.AddrPort{}, false, label
				}
			}
			if name := b.dnsNames[k.addr.Addr()]; name != "" && n.Label == "" {
				n.DNS = name
			}
		}
		nodes[id] = n
	}
	out := view.drawn.list
	view.drawn = nil // its table is no longer needed
	g := Finish(nodes, out)
	g.Stats.Events, g.Stats.Connections, g.Stats.Lost, g.Stats.Repeats = b.events, view.conns, b.lost, view.repeats
	return g
}

// Finish makes a Graph of nodes and edges (From and To index nodes): equal nodes are merged
// and edges between the same nodes with them, nodes on no edge are dropped, and both are put
// in their canonical order with ids n1, n2, ... Finish takes edges: the slice becomes the
// graph's, reordered and rewritten; what Ports and Life point to is never changed (shared
// with the caller, copied where merged or sorted).
func Finish(nodes []Node, edges []Edge) *Graph {
	// Merge equal nodes (externals that got the same label, say).
	canon := make([]int, len(nodes))
	seen := make(map[string]int, len(nodes))
	for i := range nodes {
		id := nodes[i].identity()
		if j, ok := seen[id]; ok {
			canon[i] = j
			continue
		}
		seen[id] = i
		canon[i] = i
	}
	used := make([]bool, len(nodes))
	for i := range edges {
		e := &edges[i]
		e.From, e.To = canon[e.From], canon[e.To]
		used[e.From], used[e.To] = true, true
	}
	var order []int
	for i := range nodes {
		if used[i] && canon[i] == i {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(a, c int) int { return compareNodes(&nodes[a], &nodes[c]) })
	pos := make([]int, len(nodes))
	g := &Graph{Nodes: make([]Node, len(order))}
	for i, id := range order {
		pos[id] = i
		g.Nodes[i] = nodes[id]
		g.Nodes[i].ID = "n" + strconv.Itoa(i+1)
		if g.Nodes[i].Kind == Process {
			g.Stats.Processes += max(g.Nodes[i].PIDCount, 1) // a group counts its processes
		}
	}
	for i := range edges {
		edges[i].From, edges[i].To = pos[edges[i].From], pos[edges[i].To]
	}
	// Sorted, the edges between the same nodes (same failed and diff) are neighbours:
	// merge each run into its first.
	slices.SortFunc(edges, func(a, c Edge) int { return compareEdges(&a, &c) })
	out := edges[:0]
	for i := 0; i < len(edges); {
		m := edges[i]
		j := i + 1
		for ; j < len(edges) && compareEdges(&m, &edges[j]) == 0; j++ {
			if j == i+1 {
				m.Ports, m.Life = slices.Clone(m.Ports), m.Life.clone()
			}
			e := &edges[j]
			m.Connections += e.Connections
			m.Life = m.Life.merge(e.Life)
			m.Ports = append(m.Ports, e.Ports...)
		}
		if !isSortedSet(m.Ports) {
			m.Ports = slices.Clone(m.Ports)
			slices.Sort(m.Ports)
			m.Ports = slices.Compact(m.Ports)
		}
		if l := m.Life; l != nil && !(slices.IsSorted(l.ConnectUS) && slices.IsSorted(l.DurUS)) {
			l = l.clone()
			slices.Sort(l.ConnectUS)
			slices.Sort(l.DurUS)
			m.Life = l
		}
		out = append(out, m)
		i = j
	}
	clear(edges[len(out):]) // what the merged edges pointed to
	g.Edges = out
	g.Stats.Edges = len(g.Edges)
	return g
}

// compareEdges orders edges by from and to node, then failed, then diff.
func compareEdges(a, c *Edge) int {
	if r := cmp.Compare(a.From, c.From); r != 0 {
		return r
	}
	if r := cmp.Compare(a.To, c.To); r != 0 {
		return r
	}
	if r := cmp.Compare(boolInt(a.Failed), boolInt(c.Failed)); r != 0 {
		return r
	}
	return cmp.Compare(a.Diff, c.Diff)
}

// isSortedSet says whether ports ascend strictly (sorted, no port twice).
func isSortedSet(ports []uint16) bool {
	for i := 1; i < len(ports); i++ {
		if ports[i-1] >= ports[i] {
			return false
		}
	}
	return true
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// identity is what makes two nodes the same node, also across graphs (see Diff).
func (n *Node) identity() string {
	if n.Kind == Process {
		return "p\x00" + n.Host + "\x00" + strconv.FormatUint(uint64(n.PID), 10) + "\x00" + n.Comm
	}
	port := "\x00ip"
	if n.Port {
		port = "\x00port"
	}
	return "e\x00" + n.Host + "\x00" + n.Label + "\x00" + n.Addr.String() + port
}

// compareNodes orders nodes: by host, processes before externals, processes by name then
// pid, externals by label then address.
func compareNodes(a, b *Node) int {
	if r := cmp.Compare(a.Host, b.Host); r != 0 {
		return r
	}
	if r := cmp.Compare(a.Kind, b.Kind); r != 0 {
		return r
	}
	if a.Kind == Process {
		if r := cmp.Compare(a.Comm, b.Comm); r != 0 {
			return r
		}
		return cmp.Compare(a.PID, b.PID)
	}
	if r := cmp.Compare(a.Label, b.Label); r != 0 {
		return r
	}
	if r := a.Addr.Compare(b.Addr); r != 0 {
		return r
	}
	return cmp.Compare(boolInt(!a.Port), boolInt(!b.Port))
}
