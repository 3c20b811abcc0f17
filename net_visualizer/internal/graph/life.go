package graph

import (
	"slices"

	"netflow/net_visualizer/internal/trace"
)

// Life sums what the close lines (line format version 2) say of an edge's connections.
// Byte counts are the application's payload.
type Life struct {
	BytesToServer uint64 // per connection: the client's sent=, else the server's recv=
	BytesToClient uint64 // per connection: the client's recv=, else the server's sent=
	Retransmits   uint64 // retrans= of both ends
	Closed        Closed // closed connections by who ended them
	Open          uint64 // connections with conn= and no close line from either end
	Closes        uint64 // connections with a close line from either end (failed ones too)
	Reconnects    uint64 // client open lines with reconnect=1
	Preexisting   uint64 // connections already open when the trace started (preexisting=1 on an end)
	// ConnectUS and DurUS hold one value per connection that has one (connect_us= of the
	// client's close line; dur_us= of the client's, else the server's), sorted by Finish.
	ConnectUS, DurUS []uint64
}

// Closed counts closed connections by who ended them: the client (end=local on its line,
// end=peer on the server's), the server (the opposite), a reset (sent or received by either),
// or the kernel giving up (timeout). The client's close line decides, else the server's.
type Closed struct {
	Client, Server, Reset, Timeout uint64
}

// Total is the number of closed connections.
func (c Closed) Total() uint64 { return c.Client + c.Server + c.Reset + c.Timeout }

// Connect returns the median (the lower one of an even count) and the maximum of the
// connect latencies, in microseconds; ok is false when none is known.
func (l *Life) Connect() (p50, max uint64, ok bool) { return p50max(l.ConnectUS) }

// Duration returns the median and the maximum of the durations, in microseconds.
func (l *Life) Duration() (p50, max uint64, ok bool) { return p50max(l.DurUS) }

func p50max(v []uint64) (uint64, uint64, bool) {
	if len(v) == 0 {
		return 0, 0, false
	}
	if !slices.IsSorted(v) {
		v = slices.Clone(v)
		slices.Sort(v)
	}
	return v[(len(v)-1)/2], v[len(v)-1], true
}

func (l *Life) clone() *Life {
	if l == nil {
		return nil
	}
	c := *l
	c.ConnectUS, c.DurUS = slices.Clone(l.ConnectUS), slices.Clone(l.DurUS)
	return &c
}

// merge returns the sums of l and o, neither of them changed (nil when both are nil).
func (l *Life) merge(o *Life) *Life {
	if o == nil {
		return l.clone()
	}
	m := o.clone()
	if l == nil {
		return m
	}
	m.BytesToServer += l.BytesToServer
	m.BytesToClient += l.BytesToClient
	m.Retransmits += l.Retransmits
	m.Closed.Client += l.Closed.Client
	m.Closed.Server += l.Closed.Server
	m.Closed.Reset += l.Closed.Reset
	m.Closed.Timeout += l.Closed.Timeout
	m.Open += l.Open
	m.Closes += l.Closes
	m.Reconnects += l.Reconnects
	m.Preexisting += l.Preexisting
	m.ConnectUS = append(m.ConnectUS, l.ConnectUS...)
	m.DurUS = append(m.DurUS, l.DurUS...)
	return m
}

// add counts one connection, of its client end and server end (either may be nil: not
// traced). A failed connect adds its retransmits (of the SYN) only.
func (l *Life) add(cl, sv *endRec, failed bool) {
	closes := false
	for _, r := range []*endRec{cl, sv} {
		if r != nil && r.closed {
			l.Retransmits += r.retrans
			closes = true
		}
	}
	if closes {
		l.Closes++
	}
	if cl != nil && cl.reconnect {
		l.Reconnects++
	}
	if cl != nil && cl.preexisting || sv != nil && sv.preexisting {
		l.Preexisting++
	}
	if failed {
		return
	}
	src := sv
	if cl != nil && cl.closed {
		src = cl
	}
	if src == nil || !src.closed {
		l.Open++
		return
	}
	if src.end == trace.EndNever {
		return // never established after all: neither open nor closed
	}
	toServer, toClient := src.sent, src.recv
	if src == sv {
		toServer, toClient = sv.recv, sv.sent
	}
	l.BytesToServer += toServer
	l.BytesToClient += toClient
	switch src.end {
	case trace.EndLocal, trace.EndPeer:
		if (src.end == trace.EndLocal) == (src == cl) {
			l.Closed.Client++
		} else {
			l.Closed.Server++
		}
	case trace.EndResetSent, trace.EndResetRecv:
		l.Closed.Reset++
	case trace.EndTimeout:
		l.Closed.Timeout++
	}
	if src.hasDur {
		l.DurUS = append(l.DurUS, src.dur)
	}
	if cl != nil && cl.closed && cl.hasConnect {
		l.ConnectUS = append(l.ConnectUS, cl.connect)
	}
}

// addAggregated adds an aggregated close line (count=, no conn=): its sums, no latencies.
func (l *Life) addAggregated(ev *trace.Event) {
	n := max(ev.Count, 1)
	c := ev.Close
	l.Closes += n
	l.Retransmits += c.Retrans
	toServer, toClient := c.Sent, c.Recv
	client := ev.Dir == trace.Out
	if !client {
		toServer, toClient = c.Recv, c.Sent
	}
	l.BytesToServer += toServer
	l.BytesToClient += toClient
	switch c.End {
	case trace.EndLocal, trace.EndPeer:
		if (c.End == trace.EndLocal) == client {
			l.Closed.Client += n
		} else {
			l.Closed.Server += n
		}
	case trace.EndResetSent, trace.EndResetRecv:
		l.Closed.Reset += n
	case trace.EndTimeout:
		l.Closed.Timeout += n
	}
}
