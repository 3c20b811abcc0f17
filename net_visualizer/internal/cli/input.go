package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"netflow/net_visualizer/internal/filter"
	"netflow/net_visualizer/internal/lifecycle"
	"netflow/net_visualizer/internal/trace"
)

// batch carries the parsed lines of one chunk to the goroutine that builds the graph.
type batch struct {
	events []trace.Event
	procs  []trace.Event // ProcLine events, for the graph's Node.Proc
	// procAt[i] is how many of events came before procs[i]; clocks are the "# clock"
	// lines, each with how many events came before it: a stream writer (-format netmon)
	// applies them in line order.
	procAt []int
	clocks []clockAt
	keep   []bool        // with a filter: whether each event passed it
	attrs  []trace.Attr  // storage for the events' Attrs
	lost   uint64
	lines  uint64
	// version is the highest "# line format N" in the batch, versionAt where it was.
	version   uint64
	versionAt string
	bad       []badLine
	err       error // a read error that ends the input
}

type clockAt struct {
	at    int
	host  string
	clock trace.Clock
}

type badLine struct {
	where string // "line 42" or "FILE:42"
	why   string
}

func (b badLine) String() string { return b.where + ": " + b.why }

// chunkSize is how much of a stream one parsing job takes at most.
const chunkSize = 256 << 10

// input is one stream to read: a file or stdin.
type input struct {
	name string // "" for stdin
	r    io.Reader
	host string // HOST=FILE: the host the capture comes from, for lines without host=
}

func (in input) where(n int) string {
	if in.name == "" {
		return fmt.Sprintf("line %d", n)
	}
	return fmt.Sprintf("%s:%d", in.name, n)
}

func (in input) displayName() string {
	if in.name == "" {
		return "stdin"
	}
	return in.name
}

type job struct {
	in    *input
	chunk trace.Chunk
	buf   []byte // the chunk's storage, to give back
	err   error
	res   chan *batch
}

// pipeline reads the inputs in chunks of whole lines, parses the chunks on every core, and
// delivers the batches in input order: receive a channel from order, then the batch from it.
// order is closed after the last batch. The graph is built by the receiver alone.
type pipeline struct {
	order chan chan *batch
	work  chan *job
	bufs  chan []byte
	free  chan *batch
	open  func(input) (io.Reader, func(), error)
	match *filter.Filter
}

func startPipeline(inputs []input, open func(input) (io.Reader, func(), error), match *filter.Filter) *pipeline {
	workers := runtime.GOMAXPROCS(0)
	p := &pipeline{
		order: make(chan chan *batch, 2*workers),
		work:  make(chan *job, workers),
		bufs:  make(chan []byte, 4*workers),
		free:  make(chan *batch, 4*workers),
		open:  open,
		match: match,
	}
	for i := 0; i < workers; i++ {
		go p.parse()
	}
	go p.read(inputs)
	return p
}

// recycle gives a consumed batch back for reuse.
func (p *pipeline) recycle(b *batch) {
	select {
	case p.free <- b:
	default:
	}
}

func (p *pipeline) read(inputs []input) {
	defer close(p.order)
	defer close(p.work)
	submit := func(j *job) {
		j.res = make(chan *batch, 1)
		p.order <- j.res
		p.work <- j
	}
	// The files of one lifecycle capture (one directory) share what is known of its sockets:
	// a connect() repeated on a socket may be in the next file.
	var socks *lifecycle.Sockets
	var socksOf input
	for i := range inputs {
		in := &inputs[i]
		r, done, err := p.open(*in)
		if err != nil {
			submit(&job{in: in, err: err})
			return
		}
		br := bufio.NewReaderSize(r, 64<<10)
		if isCSV(br) {
			if socks == nil || in.name == "" || socksOf.name == "" || in.host != socksOf.host ||
				filepath.Dir(in.name) != filepath.Dir(socksOf.name) {
				socks = lifecycle.NewSockets()
			}
			socksOf = *in
			err := p.readCSV(in, br, socks, submitReady(p))
			done()
			if err != nil {
				submit(&job{in: in, err: err})
				return
			}
			continue
		}
		var lines io.Reader = br
		if head, _ := br.Peek(br.Buffered()); trace.IsPrettyJSON(head) {
			// Pretty-printed events (NetMon's documentation, jq): one object a line. Only
			// what the first read brought is looked at: a live pipe is never waited for.
			lines = trace.JoinJSON(br)
		}
		cr := trace.NewChunkReader(lines, chunkSize)
		for {
			var buf []byte
			select {
			case buf = <-p.bufs:
			default:
			}
			ch, err := cr.Next(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				done()
				submit(&job{in: in, err: fmt.Errorf("%s: %w", in.displayName(), err)})
				return
			}
			submit(&job{in: in, chunk: ch, buf: ch.Data})
		}
		done()
	}
}

// submitReady returns a function that hands an already-made batch to the receiver in order.
func submitReady(p *pipeline) func(*batch) {
	return func(b *batch) {
		res := make(chan *batch, 1)
		res <- b
		p.order <- res
	}
}

// isCSV tells a socket-lifecycle CSV (ebpf_netflow_tracer/netflow_lifecycle.bt, io-tracer-linux) from
// trace lines by its first line, a header starting with the Timestamp column.
func isCSV(br *bufio.Reader) bool {
	head, _ := br.Peek(16)
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	return len(head) >= 10 && strings.EqualFold(string(head[:10]), "timestamp,")
}

// readCSV turns the CONNECT and ACCEPT rows of a lifecycle CSV into events, joined by the
// graph like trace lines.
func (p *pipeline) readCSV(in *input, r io.Reader, socks *lifecycle.Sockets, send func(*batch)) error {
	rd, err := lifecycle.NewReader(r)
	if err != nil {
		return fmt.Errorf("%s: %w", in.displayName(), err)
	}
	rd.Sockets = socks
	b := &batch{lines: 1} // the header
	var ev trace.Event
	for {
		err := rd.Next(&ev)
		if err == io.EOF {
			break
		}
		var re *lifecycle.RowError
		switch {
		case errors.As(err, &re):
			b.bad = append(b.bad, badLine{in.where(re.Line), re.Err.Error()})
			continue
		case err != nil:
			return fmt.Errorf("%s: %w", in.displayName(), err)
		}
		if err := p.add(b, in, &ev, nil, nil, 0); err != nil {
			return err
		}
		b.lines++
		if len(b.events) >= 4096 {
			send(b)
			b = &batch{}
		}
	}
	send(b)
	return nil
}

// expandInputs turns the command line's names into inputs: "-" is standard input, a directory
// stands for the lifecycle CSV files under it.
func expandInputs(names []string, stdin io.Reader) ([]input, error) {
	var inputs []input
	for _, name := range names {
		if name == "-" {
			inputs = append(inputs, input{r: stdin})
			continue
		}
		in := input{name: name}
		if host, file, ok := strings.Cut(name, "="); ok && host != "" && !strings.ContainsAny(host, "/ ") {
			if _, err := os.Stat(name); err != nil {
				in = input{name: file, host: host}
			}
		}
		if st, err := os.Stat(in.name); err == nil && st.IsDir() {
			files, err := lifecycle.Files(in.name)
			if err != nil {
				return nil, err
			}
			if len(files) == 0 {
				return nil, fmt.Errorf("%s: a directory, with no nw_conn_*.csv files under it", in.name)
			}
			for _, f := range files {
				inputs = append(inputs, input{name: f, host: in.host})
			}
			continue
		}
		inputs = append(inputs, in)
	}
	if len(inputs) == 0 {
		inputs = []input{{r: stdin}}
	}
	return inputs, nil
}

func (p *pipeline) parse() {
	ps := trace.Parser{LazyAttrs: true}
	var seen seenProcs
	var ev trace.Event
	for j := range p.work {
		var b *batch
		select {
		case b = <-p.free:
			*b = batch{events: b.events[:0], procs: b.procs[:0], procAt: b.procAt[:0], clocks: b.clocks[:0],
				attrs: b.attrs[:0], bad: b.bad[:0], keep: b.keep[:0]}
		default:
			b = &batch{}
		}
		if j.err != nil {
			b.err = j.err
			j.res <- b
			continue
		}
		ch := j.chunk
		b.lines = uint64(ch.Lines)
		if ch.TooLong > 0 {
			b.bad = append(b.bad, badLine{j.in.where(ch.Line), fmt.Sprintf("line of %d bytes is longer than the %d-byte limit in %s...", ch.TooLong, trace.MaxLine, trace.Excerpt(ch.Head))})
		}
		data, n := ch.Data, ch.Line
		for len(data) > 0 {
			line := data
			if i := bytes.IndexByte(data, '\n'); i >= 0 {
				line, data = data[:i], data[i+1:]
			} else {
				data = nil
			}
			kind, err := ps.Parse(line, &ev)
			switch {
			case err != nil:
				b.bad = append(b.bad, badLine{j.in.where(n), err.Error()})
			case kind == trace.Lost:
				b.lost += ev.Count
			case kind == trace.Version:
				if ev.Count > b.version {
					b.version, b.versionAt = ev.Count, j.in.where(n)
				}
			case kind == trace.ProcLine:
				if ev.Host == "" {
					ev.Host = j.in.host
				}
				b.procs = append(b.procs, trace.Event{PID: ev.PID, Host: ev.Host, Proc: ev.Proc})
				b.procAt = append(b.procAt, len(b.events))
			case kind == trace.ClockLine:
				host := ev.Host
				if host == "" {
					host = j.in.host
				}
				b.clocks = append(b.clocks, clockAt{len(b.events), host, ev.ClockOf()})
			case kind == trace.EventLine:
				if err := p.add(b, j.in, &ev, &ps, &seen, n); err != nil {
					b.err = err
				}
			}
			n++
		}
		// Nothing in the batch points into the chunk (names are interned): reuse its memory.
		if cap(j.buf) > 0 && cap(j.buf) <= 4*chunkSize {
			select {
			case p.bufs <- j.buf[:0]:
			default:
			}
		}
		j.res <- b
	}
}

// add stamps an event of any input format with its input's host, runs the filter on it and
// appends it to the batch, copying its Attrs into the batch's storage (a decoder reuses
// them). With ps, the event's lazy attributes are decoded, once its host is known, for a
// process's first line (or every line, for a filter). This is the one place every format's
// events pass through; line is the event's line number, 0 when the input has no lines.
func (p *pipeline) add(b *batch, in *input, ev *trace.Event, ps *trace.Parser, seen *seenProcs, line int) error {
	if ev.Host == "" {
		ev.Host = in.host
	}
	if ps != nil && ((!ev.Seen && seen.first(ev)) || p.match != nil) {
		// Only a process's first line gives it attributes (a filter needs them all).
		ps.DecodeAttrs(ev)
	}
	if p.match != nil {
		keep, err := p.match.Match(connOf(ev))
		if err != nil {
			if line == 0 {
				return fmt.Errorf("%s: %w", in.displayName(), err)
			}
			return fmt.Errorf("%s: %w", in.where(line), err)
		}
		b.keep = append(b.keep, keep)
	}
	if ev.Proc != nil {
		// A capture whose events carry their process (NetMon, tracee).
		b.procs = append(b.procs, trace.Event{PID: ev.PID, Host: ev.Host, Proc: ev.Proc})
		b.procAt = append(b.procAt, len(b.events))
	}
	e := *ev
	e.RawAttrs = nil
	if len(ev.Attrs) > 0 {
		at := len(b.attrs)
		b.attrs = append(b.attrs, ev.Attrs...)
		e.Attrs = b.attrs[at:len(b.attrs):len(b.attrs)]
	}
	b.events = append(b.events, e)
	return nil
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

// connOf is what a filter sees of an event.
func connOf(ev *trace.Event) *filter.Conn {
	c := &filter.Conn{
		Comm: ev.Comm, PID: int(ev.PID), UID: -1, Direction: ev.Dir.String(),
		LocalAddr: ev.Local.Addr().String(), RemoteAddr: ev.Remote.Addr().String(),
		LocalPort: int(ev.Local.Port()), RemotePort: int(ev.Remote.Port()),
		Host: ev.Host, Failed: ev.Dir == trace.Out && (ev.Failed() || ev.Close != nil && ev.Close.End == trace.EndNever), Ret: int(ev.Ret),
	}
	switch {
	case ev.Close != nil:
		cl := ev.Close
		toServer, toClient := cl.Sent, cl.Recv
		if ev.Dir == trace.In {
			toServer, toClient = cl.Recv, cl.Sent
		}
		c.BytesToServer, c.BytesToClient = clampInt(toServer), clampInt(toClient)
		total := toServer + toClient
		if total < toServer {
			total = 1<<64 - 1
		}
		c.Bytes = clampInt(total)
		c.Duration = float64(cl.DurUS) / 1000
		c.Retransmits = clampInt(cl.Retrans)
		c.ClosedBy = closedBy(ev)
	case ev.Conn != "":
		c.ClosedBy = "open"
	}
	if uid, ok := ev.Attr("uid"); ok {
		if n, ok := parseInt(uid); ok {
			c.UID = n
		}
	}
	if c.UID < 0 && ev.Proc != nil {
		// A capture that carries its process (NetMon, tracee) has no uid= key.
		c.UID = int(ev.Proc.UID)
	}
	filter.Derive(c)
	return c
}

// closedBy is who ended a connection, as a close line says it (see filter's closed_by).
func closedBy(ev *trace.Event) string {
	switch ev.Close.End {
	case trace.EndLocal, trace.EndPeer:
		if (ev.Close.End == trace.EndLocal) == (ev.Dir == trace.Out) {
			return "client"
		}
		return "server"
	case trace.EndResetSent, trace.EndResetRecv:
		return "reset"
	case trace.EndTimeout:
		return "timeout"
	}
	return ""
}

func clampInt(n uint64) int { return int(min(n, 1<<63-1)) }

func parseInt(s string) (int, bool) {
	n := 0
	if s == "" || len(s) > 9 {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
