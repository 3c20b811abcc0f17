package graph

import "slices"

// The builder's edges, built to stay small at a million of them.
//
// While the trace is read, an edge is an edgeRec: 24 bytes with no pointers (the collector
// does not scan them), in fixed chunks (no slice of a million records is ever copied to grow
// it: that copy alone once doubled the peak memory), found by key through an open-addressing
// table of positions (4 bytes a slot). A snapshot (Builder.Graph) turns the records into the
// graph's Edges; the last one (Builder.Final) frees each chunk as it goes. Before, a Go map
// of pointers to an object per edge took about 90 bytes an edge, and every snapshot copied
// them all twice.

// edgeRec is one edge while reading.
type edgeRec struct {
	key   edgeKey
	conns uint64
	more  int32  // the edge's further server ports: edgeSet.more[more-1]; 0 when none
	port  uint16 // its first server port
}

const (
	chunkBits = 15 // 32768 records, 768 KiB, a chunk
	chunkLen  = 1 << chunkBits
)

// keyTable finds an edge's position by its key: open addressing with linear probing over
// slots holding position+1 (0: free), at most half full.
type keyTable struct {
	slots []int32
}

func (t *keyTable) hash(k edgeKey) int { return int((uint64(k) * 0x9e3779b97f4a7c15) >> 32) }

// find is the position of key k, -1 when it is not there; keyAt gives the key at a position.
func (t *keyTable) find(k edgeKey, keyAt func(int32) edgeKey) int32 {
	if len(t.slots) == 0 {
		return -1
	}
	mask := len(t.slots) - 1
	for i := t.hash(k) & mask; ; i = (i + 1) & mask {
		p := t.slots[i]
		if p == 0 {
			return -1
		}
		if keyAt(p-1) == k {
			return p - 1
		}
	}
}

// place records position p of key k, growing the table first when it would be over half
// full with n entries.
func (t *keyTable) place(k edgeKey, p int32, n int, keyAt func(int32) edgeKey) {
	if 2*n > len(t.slots) {
		t.slots = make([]int32, max(64, 2*len(t.slots)))
		for q := int32(0); q < p; q++ {
			t.put(keyAt(q), q)
		}
	}
	t.put(k, p)
}

func (t *keyTable) put(k edgeKey, p int32) {
	mask := len(t.slots) - 1
	i := t.hash(k) & mask
	for t.slots[i] != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = p + 1
}

// edgeSet is the builder's edges while reading.
type edgeSet struct {
	chunks [][]edgeRec
	n      int32
	table  keyTable
	more   [][]uint16 // the further ports of the edges that have more than one
}

func (s *edgeSet) at(p int32) *edgeRec { return &s.chunks[p>>chunkBits][p&(chunkLen-1)] }

func (s *edgeSet) keyAt(p int32) edgeKey { return s.at(p).key }

// find is the position of edge k, -1 when there is none.
func (s *edgeSet) find(k edgeKey) int32 { return s.table.find(k, s.keyAt) }

// add makes edge k, which is not there yet, with its first server port.
func (s *edgeSet) add(k edgeKey, port uint16) int32 {
	p := s.n
	if int(p)&(chunkLen-1) == 0 {
		s.chunks = append(s.chunks, make([]edgeRec, chunkLen))
	}
	*s.at(p) = edgeRec{key: k, port: port}
	s.n++
	s.table.place(k, p, int(s.n), s.keyAt)
	return p
}

// addPort adds a server port to the edge at p, once.
func (s *edgeSet) addPort(p int32, port uint16) {
	r := s.at(p)
	switch {
	case r.port == port:
	case r.more == 0:
		s.more = append(s.more, []uint16{port})
		r.more = int32(len(s.more))
	case !slices.Contains(s.more[r.more-1], port):
		s.more[r.more-1] = append(s.more[r.more-1], port)
	}
}

// drawn turns the records into the graph's Edges, in the same positions, with the key table
// (cloned unless take). take frees the set's records as they are turned: the set is then
// empty. Every Edge's Ports has its capacity at its length, so that adding a port to one
// never writes into an array another shares.
func (s *edgeSet) drawn(take bool) drawnEdges {
	d := drawnEdges{list: make([]Edge, s.n), table: s.table}
	if !take {
		d.table.slots = slices.Clone(s.table.slots)
	}
	single := make([]uint16, 0, s.n) // the one-port edges' ports
	for c := range s.chunks {
		for i, r := range s.chunks[c] {
			p := c<<chunkBits + i
			if p >= int(s.n) {
				break
			}
			e := &d.list[p]
			e.From, e.To, e.Failed, e.Connections = int(r.key.from()), int(r.key.to()), r.key.failed(), r.conns
			if r.more == 0 {
				single = append(single, r.port)
				e.Ports = single[len(single)-1 : len(single) : len(single)]
			} else {
				e.Ports = slices.Clip(append([]uint16{r.port}, s.more[r.more-1]...))
			}
		}
		if take {
			s.chunks[c] = nil
		}
	}
	if take {
		*s = edgeSet{}
	}
	return d
}

// drawnEdges are a snapshot's edges, as the graph's Edges, which its view adds to.
type drawnEdges struct {
	list  []Edge
	table keyTable
}

func (d *drawnEdges) keyAt(p int32) edgeKey { return keyOf(&d.list[p]) }

// get is edge k, nil when there is none; valid until the next add.
func (d *drawnEdges) get(k edgeKey) *Edge {
	if p := d.table.find(k, d.keyAt); p >= 0 {
		return &d.list[p]
	}
	return nil
}

// add makes edge k, which is not there yet, with its first server port.
func (d *drawnEdges) add(k edgeKey, port uint16) *Edge {
	p := int32(len(d.list))
	d.list = append(d.list, Edge{From: int(k.from()), To: int(k.to()), Failed: k.failed(), Ports: []uint16{port}})
	d.table.place(k, p, len(d.list), d.keyAt)
	return &d.list[p]
}

// keyOf is an edge's key.
func keyOf(e *Edge) edgeKey { return makeEdgeKey(nodeID(e.From), nodeID(e.To), e.Failed) }

// addPort adds a server port to e, once.
func addPort(e *Edge, port uint16) {
	if !slices.Contains(e.Ports, port) {
		e.Ports = slices.Clip(append(e.Ports, port))
	}
}
