package cli

import (
	"fmt"
	"io"

	"netflow/net_visualizer/internal/trace"
)

// batch carries parsed lines from the reading goroutine to the graph-building one.
type batch struct {
	events []trace.Event
	attrs  []trace.Attr // storage for the events' Attrs
	lost   uint64
	lines  uint64
	bad    []badLine
	err    error // a read error that ends the input
}

type badLine struct {
	where string // "line 42" or "FILE:42"
	why   string
}

func (b badLine) String() string { return b.where + ": " + b.why }

const batchSize = 2048

// input is one stream to read: a file or stdin.
type input struct {
	name string // "" for stdin
	r    io.Reader
}

func (in input) where(n int) string {
	if in.name == "" {
		return fmt.Sprintf("line %d", n)
	}
	return fmt.Sprintf("%s:%d", in.name, n)
}

// readAll parses every input in order and sends batches until the inputs end or a read fails.
// It closes out when done. It never touches the graph: the receiver owns it.
func readAll(inputs []input, out chan<- *batch, free <-chan *batch, open func(input) (io.Reader, func(), error)) {
	defer close(out)
	p := trace.Parser{LazyAttrs: true}
	var ev trace.Event
	var seen seenProcs
	newBatch := func() *batch {
		select {
		case b := <-free:
			*b = batch{events: b.events[:0], attrs: b.attrs[:0], bad: b.bad[:0]}
			return b
		default:
			return &batch{events: make([]trace.Event, 0, batchSize)}
		}
	}
	b := newBatch()
	send := func() {
		out <- b
		b = newBatch()
	}
	for _, in := range inputs {
		r, done, err := open(in)
		if err != nil {
			b.err = err
			send()
			return
		}
		lr := trace.NewLineReader(r)
		for {
			line, n, tooLong, err := lr.Next()
			if err != nil {
				done()
				if err != io.EOF {
					b.err = fmt.Errorf("%s: %w", in.displayName(), err)
					send()
					return
				}
				break
			}
			b.lines++
			if tooLong > 0 {
				b.bad = append(b.bad, badLine{in.where(n), fmt.Sprintf("line of %d bytes is longer than the %d-byte limit", tooLong, trace.MaxLine)})
			} else {
				kind, err := p.Parse(line, &ev)
				switch {
				case err != nil:
					b.bad = append(b.bad, badLine{in.where(n), err.Error()})
				case kind == trace.Lost:
					b.lost += ev.Count
				case kind == trace.EventLine:
					if seen.first(&ev) {
						// Only a process's first line gives it attributes: decode them then.
						p.DecodeAttrs(&ev)
					}
					e := ev
					e.RawAttrs = nil
					if len(ev.Attrs) > 0 {
						// The parser reuses ev.Attrs: copy them into the batch's storage.
						at := len(b.attrs)
						b.attrs = append(b.attrs, ev.Attrs...)
						e.Attrs = b.attrs[at:len(b.attrs):len(b.attrs)]
					}
					b.events = append(b.events, e)
				}
			}
			if len(b.events) >= batchSize || len(b.bad) > 0 || lr.Buffered() == 0 {
				send()
			}
		}
	}
	send()
}

func (in input) displayName() string {
	if in.name == "" {
		return "stdin"
	}
	return in.name
}

// seenProcs remembers which processes (host, pid, name) have had a line already.
type seenProcs struct {
	set   map[procID]struct{}
	cache [1024]procID
}

type procID struct {
	pid        uint32
	host, comm string
}

func (s *seenProcs) first(ev *trace.Event) bool {
	id := procID{ev.PID, ev.Host, ev.Comm}
	slot := &s.cache[ev.PID%uint32(len(s.cache))]
	if *slot == id && (id != procID{}) {
		return false
	}
	*slot = id
	if s.set == nil {
		s.set = make(map[procID]struct{})
	}
	if _, ok := s.set[id]; ok {
		return false
	}
	s.set[id] = struct{}{}
	return true
}
