package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

type usageError struct{ error }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("netflow-trace-filter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	agg := fs.Bool("aggregate", false, "read the aggregate scripts' map dumps")
	status := fs.String("status", "", "stderr line for the \"# tracing\" marker")
	bpfProc := fs.String("bpf-proc", "", "bpftrace's /proc/PID, whose BPF programs' skipped runs count as lost events")
	listOpenFlag := fs.Bool("list-open", false, "at the \"# tracing\" marker, list the connections already established (preexisting=1)")
	procDir := fs.String("proc", "/proc", "where -list-open reads processes")
	pid := fs.Int("pid", 0, "-list-open: only the connections of this process")
	comm := fs.String("comm", "", "-list-open: only the connections of processes named this")
	port := fs.Uint("port", 0, "-list-open: only the connections with this port at either end")
	listFrom := fs.String("list-from", "auto", "-list-open: where the sockets come from: diag (the kernel's socket dump), proc (/proc/net/tcp{,6}, no conn=), auto (diag, else proc)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	switch *listFrom {
	case "auto", "diag", "proc":
	default:
		return usageError{fmt.Errorf("-list-from %q: want auto, diag or proc", *listFrom)}
	}
	if *port > 65535 {
		return usageError{fmt.Errorf("-port %d: not a port", *port)}
	}
	f := newFilter(stdout, stderr, *status, *agg)
	f.bpfProc = *bpfProc
	if *listOpenFlag && !*agg {
		fl := filters{pid: *pid, comm: *comm, port: uint16(*port)}
		dir := *procDir
		source := *listFrom
		f.lister = func() ([]openLine, []error) { return listOpen(dir, fl, source) }
	}
	return f.copy(stdin)
}

// filter is one run over bpftrace's output.
type filter struct {
	out    *bufio.Writer
	err    io.Writer
	status string
	agg    bool

	// The aggregate state: the entries of the interval so far, the names of their pids,
	// the map layout, and the totals for the lost check at "# end".
	pending       []entry
	names         map[string]string
	outKeys       []string
	inKeys        []string
	sent, printed int64
	ended         bool
	// The interval's closes (@cn, and the sums @cs, @cr, @ct by the same key, in the
	// order @cn printed them), the name each pid had in the last dump that named it (a
	// connection may close intervals after the one that counted it), and the totals of
	// closes counted (@csent) and printed.
	closes          []closeEntry
	sums            map[string]int
	lastNames       map[string]string
	csent, cprinted int64

	// Connections whose close the line scripts could not track, not yet reported.
	closesLost int64

	// The close records' expansion (see closed): per conn= of an open line not yet closed,
	// what its close line takes from it; per conn= of a close record whose open line has not
	// come yet, the record. Both bounded by max (maxOpen).
	open  map[string][]byte
	early map[string][]byte
	max   int

	// bpftrace's /proc/PID ("": none), and the most runs any of its BPF programs had
	// skipped at the last look (recursion_misses).
	bpfProc string
	misses  int64
	// The open fdinfo files of its programs (nil: not yet found), and a buffer to read them.
	progs []*os.File
	info  [4096]byte

	// -list-open (see hold): what lists the connections already open (nil: nothing); while
	// the first traced lines are held, the listed lines, the real output, the held output,
	// the "#" lines still to wait for and the ends the held lines reported.
	lister   func() ([]openLine, []error)
	listed   []openLine
	real     *bufio.Writer
	held     *bytes.Buffer
	holdLeft int
	traced   map[string]bool
	// The process records of threads whose proc line is not complete yet (by tid).
	procs map[string]*procRec
	// Whether the clock line is out, and the clocks it reads (readClock; fixed in tests).
	clocked bool
	clock   func() (int64, time.Time)
}

type entry struct {
	connect bool   // @out (else @in)
	key     string // inside the brackets
	count   string
}

// closeEntry is one key of the close maps: how, ends, pid, uid, end (see closeLine).
type closeEntry struct {
	key                        string
	count, sent, recv, retrans string
}

func newFilter(stdout, stderr io.Writer, status string, agg bool) *filter {
	return &filter{
		out: bufio.NewWriterSize(stdout, 64<<10), err: stderr, status: status, agg: agg,
		names:     map[string]string{},
		sums:      map[string]int{},
		lastNames: map[string]string{},
		open:      map[string][]byte{},
		procs:     map[string]*procRec{},
		clock:     clockSource,
		early:     map[string][]byte{},
		max:       maxOpen,
		outKeys:   []string{"pid", "uid", "ret"},
		inKeys:    []string{"pid", "uid"},
	}
}

// copy filters r to the end. Lines are what bpftrace wrote between newlines; a last line
// without one counts too.
func (f *filter) copy(r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<20)
	var long []byte
	for {
		b, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long, b...)
			continue
		}
		if long != nil {
			b = append(long, b...)
			long = nil
		}
		if len(b) > 0 {
			if b[len(b)-1] == '\n' {
				b = b[:len(b)-1]
			}
			if werr := f.line(b); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			if f.held != nil {
				if werr := f.release(); werr != nil {
					return werr
				}
			}
			f.reportClosesLost()
			if len(f.early) > 0 {
				f.lost(strconv.Itoa(len(f.early)), "close records whose open line never came")
				clear(f.early)
			}
			return f.out.Flush()
		}
		if err != nil {
			f.out.Flush()
			return err
		}
	}
}

func (f *filter) line(b []byte) error {
	switch {
	case len(b) > 0 && (b[0] >= '0' && b[0] <= '9' || b[0] == '['):
		f.writeClock()
		f.out.Write(b)
		f.out.WriteByte('\n')
		f.opened(b)
		if f.held != nil {
			if k := traceKey(b); k != "" {
				f.traced[k] = true
			}
		}
		return nil
	case bytes.HasPrefix(b, []byte("close ")):
		f.writeClock()
		f.out.Write(b)
		return f.out.WriteByte('\n')
	case isRecord(b):
		f.writeClock()
		f.closed(b)
		return nil
	case isProcRecord(b):
		f.writeClock()
		if !f.procRecord(b) {
			fmt.Fprintf(f.err, "netflow-trace: bpftrace: malformed process record: %s\n", b)
		}
		return nil
	case bytes.HasPrefix(b, []byte("# lost-close ")) && digits(b[len("# lost-close "):]):
		n, _ := strconv.ParseInt(string(b[len("# lost-close "):]), 10, 64)
		f.closesLost += n
		return nil
	case len(b) > 0 && b[0] == '#':
		s := string(b)
		f.reportClosesLost()
		f.reportMisses()
		switch {
		case strings.HasPrefix(s, "# line format "):
			f.out.Write(b)
			f.out.WriteByte('\n')
			f.writeClock()
		case strings.HasPrefix(s, "# tracing "):
			fmt.Fprintln(f.err, f.status)
			// Every program is attached now: look for them again.
			f.forgetProgs()
			f.hold()
		case f.agg && (s == "# interval" || s == "# end"):
			f.emit()
			if s == "# end" {
				f.ended = true
				if f.sent > f.printed {
					f.lost(strconv.FormatInt(f.sent-f.printed, 10), "aggregation map full: raise BPFTRACE_MAP_KEYS_MAX")
				}
				if f.csent > f.cprinted {
					f.lost(strconv.FormatInt(f.csent-f.cprinted, 10), "close aggregation map full: raise BPFTRACE_MAP_KEYS_MAX")
				}
			}
		case f.agg && strings.HasPrefix(s, "# keys out:"):
			f.outKeys = strings.Fields(s[len("# keys out:"):])
		case f.agg && strings.HasPrefix(s, "# keys in:"):
			f.inKeys = strings.Fields(s[len("# keys in:"):])
		case f.held != nil:
			if f.holdLeft--; f.holdLeft <= 0 {
				return f.release()
			}
		}
		return f.out.Flush()
	case lostEvents(b) != "":
		f.lost(lostEvents(b), "perf buffer full: raise BPFTRACE_PERF_RB_PAGES")
		return nil
	case f.agg && len(b) > 0 && b[0] == '@':
		f.mapLine(string(b))
		return nil
	case blank(b):
		return nil
	}
	fmt.Fprintf(f.err, "netflow-trace: bpftrace: %s\n", b)
	return nil
}

// holdPadding is how many "#" lines after the "# tracing" marker the traced lines are held
// for: the scripts print three every half second, so two rounds of padding, at least half a
// second after the list was taken. A connection made between the probes' attaching and the
// list is then in both, and its traced line, read by then, wins (see release).
const holdPadding = 6

// hold lists the connections already open (-list-open) and holds the traced lines that
// follow, so that the listed lines come first and none repeats a traced one.
func (f *filter) hold() {
	if f.lister == nil || f.held != nil {
		return
	}
	lines, errs := f.lister()
	f.lister = nil
	for _, err := range errs {
		fmt.Fprintf(f.err, "netflow-trace: listing the open connections: %v\n", err)
	}
	f.listed = lines
	// The clock line before anything listed or held (the scripts have printed it by now,
	// after their version line; this is for a stream without one).
	f.writeClock()
	f.real = f.out
	f.held = &bytes.Buffer{}
	f.out = bufio.NewWriterSize(f.held, 64<<10)
	f.holdLeft = holdPadding
	f.traced = map[string]bool{}
}

// release prints the listed lines but those of a connection end a held traced line reported
// (same ends and direction), then the held lines, and stops holding.
func (f *filter) release() error {
	if err := f.out.Flush(); err != nil {
		return err
	}
	f.out = f.real
	for _, l := range f.listed {
		if f.traced[l.key] {
			continue
		}
		f.out.WriteString(l.line)
		f.out.WriteByte('\n')
	}
	f.out.Write(f.held.Bytes())
	f.held, f.listed, f.traced, f.real = nil, nil, nil, nil
	return f.out.Flush()
}

// maxOpen bounds the connections the filter remembers for close records: the open lines
// whose close has not come, and the close records whose open line has not. The scripts
// track at most BPFTRACE_MAP_KEYS_MAX (16384 by scripts/netflow-trace) open connections,
// but a close the kernel did not show them (see reportMisses) leaves its open line here
// for good, and a lost open line its record: when full, a map forgets an entry it holds
// (any: Go's map order), so that a long trace keeps working; a record forgotten, or one
// that then finds no open line, is a lost event.
const maxOpen = 1 << 18

// opened remembers, from an open line with conn= (line format 2), what its close line
// repeats: the ends, pid=, uid= and comm= (escaped as the line has it). A close record that
// came first is expanded now, after its open line.
func (f *filter) opened(b []byte) {
	ends, meta, ok := bytes.Cut(b, []byte("|"))
	if !ok {
		return
	}
	conn := keyValue(meta, "conn=")
	pid := keyValue(meta, "pid=")
	uid := keyValue(meta, "uid=")
	_, comm, ok := bytes.Cut(meta, []byte(" comm="))
	if conn == nil || pid == nil || uid == nil || !ok {
		return
	}
	if rec, ok := f.early[string(conn)]; ok {
		delete(f.early, string(conn))
		f.expand(rec, ends, pid, uid, comm)
		return
	}
	if len(f.open) >= f.max {
		for k := range f.open {
			delete(f.open, k)
			break
		}
	}
	// One allocation for the four: ends|pid|uid|comm.
	v := make([]byte, 0, len(ends)+len(pid)+len(uid)+len(comm)+3)
	v = append(v, ends...)
	v = append(v, '|')
	v = append(v, pid...)
	v = append(v, '|')
	v = append(v, uid...)
	v = append(v, '|')
	v = append(v, comm...)
	f.open[string(conn)] = v
}

// keyValue is the value of key (as "pid=") in the metadata of a line, nil if absent. The
// first key has no space before it.
func keyValue(meta []byte, key string) []byte {
	i := 0
	if !bytes.HasPrefix(meta, []byte(key)) {
		for {
			j := bytes.Index(meta[i:], []byte(key))
			if j < 0 {
				return nil
			}
			i += j
			if meta[i-1] == ' ' {
				break
			}
			i += len(key)
		}
	}
	v := meta[i+len(key):]
	if j := bytes.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	return v
}

// isRecord matches a close record: "c CONN END DUR SENT RECV RETRANS [CONNECT]".
func isRecord(b []byte) bool {
	return len(b) > 2 && b[0] == 'c' && b[1] == ' ' && (b[2] >= '0' && b[2] <= '9' || b[2] >= 'a' && b[2] <= 'f')
}

// closed expands a close record of the line scripts, "c CONN END DUR SENT RECV RETRANS
// [CONNECT]" (few printf arguments: bpftrace's cost is per argument), into the close line of
// docs/line-format.md, with the ends, pid=, uid= and comm= of the open line with that conn=.
// Its open line may come later (bpftrace reads its CPUs' buffers in turn): the record waits
// for it; one still waiting at the end is a lost event.
func (f *filter) closed(b []byte) {
	conn, _, _ := bytes.Cut(b[2:], []byte(" "))
	o, ok := f.open[string(conn)]
	if !ok {
		if len(f.early) >= f.max {
			for k := range f.early {
				delete(f.early, k)
				break
			}
			f.closesLost++
		}
		f.early[string(conn)] = bytes.Clone(b)
		return
	}
	delete(f.open, string(conn))
	ends, rest, _ := bytes.Cut(o, []byte("|"))
	pid, rest, _ := bytes.Cut(rest, []byte("|"))
	uid, comm, _ := bytes.Cut(rest, []byte("|"))
	f.expand(b, ends, pid, uid, comm)
}

// The close line's keys after uid=, in the order of a record's fields.
var recordKeys = [...]string{" conn=", " end=", " dur_us=", " sent=", " recv=", " retrans=", " connect_us="}

// expand writes the close line of record rec.
func (f *filter) expand(rec, ends, pid, uid, comm []byte) {
	var fields [len(recordKeys)][]byte
	n := 0
	for rest := rec[2:]; len(rest) > 0; {
		var field []byte
		field, rest, _ = bytes.Cut(rest, []byte(" "))
		if len(field) == 0 {
			continue
		}
		if n == len(fields) {
			n++
			break
		}
		fields[n] = field
		n++
	}
	if n < len(fields)-1 || n > len(fields) {
		fmt.Fprintf(f.err, "netflow-trace: bpftrace: %s\n", rec)
		return
	}
	w := f.out
	w.WriteString("close ")
	w.Write(ends)
	w.WriteString("|pid=")
	w.Write(pid)
	w.WriteString(" uid=")
	w.Write(uid)
	for i, v := range fields[:n] {
		w.WriteString(recordKeys[i])
		w.Write(v)
	}
	w.WriteString(" comm=")
	w.Write(comm)
	w.WriteByte('\n')
}

// lostEvents is N of a line "Lost N events...", else "".
func lostEvents(b []byte) string {
	rest, ok := bytes.CutPrefix(b, []byte("Lost "))
	if !ok {
		return ""
	}
	n, after, ok := bytes.Cut(rest, []byte(" events"))
	if !ok || len(n) == 0 || !digits(n) {
		return ""
	}
	_ = after
	return string(n)
}

func digits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

// reportMisses reports the probe runs the kernel skipped since the last look, as lost events:
// a BPF program attached to a tracepoint does not run when another one is running on the CPU
// (the kernel's recursion protection; sock:inet_sock_set_state in a softirq that interrupted
// a program), and its event is lost, counted only in the program's recursion_misses. One
// skipped state change is a miss of every program on that tracepoint: the largest count over
// the programs is what is reported. Once bpftrace has gone there is nothing to read.
//
// It runs at every "#" line (six times a second with the padding): the programs' fdinfo
// files are found once and kept open, and each look is one pread per program into a buffer
// kept for it, no allocation. Opening and reading all of bpftrace's fdinfo files at each
// look was 38% of the filter's CPU in a connection storm (perf, 81 fds).
func (f *filter) reportMisses() {
	if f.bpfProc == "" {
		return
	}
	if f.progs == nil {
		f.findProgs()
	}
	var most int64
	for _, p := range f.progs {
		n, err := p.ReadAt(f.info[:], 0)
		if n == 0 && err != nil {
			continue
		}
		if m, ok := recursionMisses(f.info[:n]); ok && m > most {
			most = m
		}
	}
	if most > f.misses {
		d := most - f.misses
		f.misses = most
		f.lost(strconv.FormatInt(d, 10), "the kernel skipped "+strconv.FormatInt(d, 10)+
			" probe runs: BPF recursion protection, a softirq while another BPF program ran")
	}
}

// findProgs opens the fdinfo files of bpftrace's BPF programs, once they are there.
func (f *filter) findProgs() {
	dir := filepath.Join(f.bpfProc, "fdinfo")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		p, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		n, _ := p.ReadAt(f.info[:], 0)
		if _, ok := recursionMisses(f.info[:n]); ok && bytes.Contains(f.info[:n], []byte("\nprog_type:")) {
			f.progs = append(f.progs, p)
		} else {
			p.Close()
		}
	}
}

// forgetProgs closes the fdinfo files findProgs opened, to be found again.
func (f *filter) forgetProgs() {
	for _, p := range f.progs {
		p.Close()
	}
	f.progs = nil
}

// recursionMisses is the recursion_misses count of a program's fdinfo.
func recursionMisses(b []byte) (int64, bool) {
	_, v, ok := bytes.Cut(b, []byte("\nrecursion_misses:"))
	if !ok {
		return 0, false
	}
	v, _, _ = bytes.Cut(v, []byte("\n"))
	v = bytes.TrimSpace(v)
	if len(v) == 0 || !digits(v) {
		return 0, false
	}
	var n int64
	for _, c := range v {
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// reportClosesLost reports the closes lost since the last report, as lost events.
func (f *filter) reportClosesLost() {
	if f.closesLost > 0 {
		f.lost(strconv.FormatInt(f.closesLost, 10), "map of open connections full: raise BPFTRACE_MAP_KEYS_MAX")
		f.closesLost = 0
	}
}

func (f *filter) lost(n, why string) {
	fmt.Fprintf(f.out, "# lost %s events\n", n)
	f.out.Flush()
	fmt.Fprintf(f.err, "netflow-trace: lost %s events (%s)\n", n, why)
}

// mapLine takes one line of an aggregate map dump; other @ lines are dropped.
func (f *filter) mapLine(s string) {
	switch {
	case isCount(s):
		if f.ended {
			return
		}
		lb := strings.IndexByte(s, '[')
		rb := strings.Index(s, "]: ")
		f.pending = append(f.pending, entry{connect: s[1] == 'o', key: s[lb+1 : rb], count: s[rb+3:]})
	case isName(s):
		rb := strings.Index(s, "]: ")
		f.names[s[7:rb]] = s[rb+3:]
	case strings.HasPrefix(s, "@sent: ") && s != "@sent: " && digits([]byte(s[len("@sent: "):])):
		if !f.ended {
			f.sent, _ = strconv.ParseInt(s[len("@sent: "):], 10, 64)
		}
	case strings.HasPrefix(s, "@csent: ") && s != "@csent: " && digits([]byte(s[len("@csent: "):])):
		if !f.ended {
			f.csent, _ = strconv.ParseInt(s[len("@csent: "):], 10, 64)
		}
	default:
		if f.ended {
			return
		}
		m, key, v, ok := closeMap(s)
		if !ok {
			return
		}
		i, seen := f.sums[key]
		if !seen {
			if m != 'n' {
				return // a sum without its count: not printed by this bpftrace
			}
			f.closes = append(f.closes, closeEntry{key: key})
			i = len(f.closes) - 1
			f.sums[key] = i
		}
		e := &f.closes[i]
		switch m {
		case 'n':
			e.count = v
		case 's':
			e.sent = v
		case 'r':
			e.recv = v
		case 't':
			e.retrans = v
		}
	}
}

// closeMap matches @cn0[...]: N and @cs, @cr, @ct (0 or 1): the map's letter, the key
// and the value.
func closeMap(s string) (m byte, key, v string, ok bool) {
	if len(s) < 6 || s[0] != '@' || s[1] != 'c' || (s[3] != '0' && s[3] != '1') || s[4] != '[' ||
		strings.IndexByte("nsrt", s[2]) < 0 {
		return 0, "", "", false
	}
	i := strings.LastIndex(s, "]: ")
	if i < 0 || i+3 >= len(s) || !digits([]byte(s[i+3:])) {
		return 0, "", "", false
	}
	return s[2], s[5:i], s[i+3:], true
}

// isCount matches @out0[...]: N, @out1, @in0, @in1.
func isCount(s string) bool {
	var rest string
	switch {
	case strings.HasPrefix(s, "@out0[") || strings.HasPrefix(s, "@out1["):
		rest = s[6:]
	case strings.HasPrefix(s, "@in0[") || strings.HasPrefix(s, "@in1["):
		rest = s[5:]
	default:
		return false
	}
	i := strings.LastIndex(rest, "]: ")
	return i >= 0 && i+3 < len(rest) && digits([]byte(rest[i+3:]))
}

// isName matches @name0[PID]: ..., @name1.
func isName(s string) bool {
	if !strings.HasPrefix(s, "@name0[") && !strings.HasPrefix(s, "@name1[") {
		return false
	}
	rb := strings.Index(s[7:], "]: ")
	return rb > 0 && digits([]byte(s[7:7+rb]))
}

// emit prints the interval's entries, in the order bpftrace printed them.
func (f *filter) emit() {
	if len(f.pending) > 0 || len(f.closes) > 0 {
		f.writeClock()
	}
	for _, e := range f.pending {
		k := strings.Split(e.key, ", ")
		at := func(i int) string {
			if i < len(k) {
				return k[i]
			}
			return ""
		}
		var names []string
		var b strings.Builder
		if e.connect {
			fmt.Fprintf(&b, "%s:%s→%s:0|", endpoint(at(0)), at(1), endpoint(at(2)))
			names = f.outKeys
		} else {
			fmt.Fprintf(&b, "%s:0←%s:%s|", endpoint(at(0)), endpoint(at(1)), at(2))
			names = f.inKeys
		}
		pid := ""
		for i, name := range names {
			v := at(3 + i)
			if name == "pid" {
				pid = v
			}
			if name == "ret" && v == "0" {
				continue
			}
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(name + "=" + v)
		}
		fmt.Fprintf(&b, " count=%s comm=%s\n", e.count, f.name(pid))
		f.out.WriteString(b.String())
		n, _ := strconv.ParseInt(e.count, 10, 64)
		f.printed += n
	}
	f.pending = f.pending[:0]
	for pid, n := range f.names {
		if len(f.lastNames) >= maxOpen {
			clear(f.lastNames)
		}
		f.lastNames[pid] = n
	}
	clear(f.names)
	for i := range f.closes {
		f.closeLine(&f.closes[i])
	}
	f.closes = f.closes[:0]
	clear(f.sums)
}

// closeLine prints an aggregated close line from one key of the close maps: how it was
// opened (1 connect, 2 accept), remote address and port, local address and port (the
// client's 0), pid, uid, end=; the count and the sums.
func (f *filter) closeLine(e *closeEntry) {
	k := strings.Split(e.key, ", ")
	if len(k) != 8 {
		return
	}
	var b strings.Builder
	if k[0] == "1" {
		fmt.Fprintf(&b, "close %s:%s→%s:0|", endpoint(k[1]), k[2], endpoint(k[3]))
	} else {
		fmt.Fprintf(&b, "close %s:0←%s:%s|", endpoint(k[1]), endpoint(k[3]), k[4])
	}
	zero := func(v string) string {
		if v == "" {
			return "0"
		}
		return v
	}
	name, ok := f.lastNames[k[5]]
	if !ok {
		name = "?"
	}
	fmt.Fprintf(&b, "pid=%s uid=%s count=%s end=%s sent=%s recv=%s retrans=%s comm=%s\n",
		k[5], k[6], e.count, k[7], zero(e.sent), zero(e.recv), zero(e.retrans), trimName(name))
	f.out.WriteString(b.String())
	n, _ := strconv.ParseInt(e.count, 10, 64)
	f.cprinted += n
}

// endpoint puts an IPv6 address in brackets.
func endpoint(a string) string {
	if strings.Contains(a, ":") {
		return "[" + a + "]"
	}
	return a
}

// name is a pid's comm without its \x00 padding.
func (f *filter) name(pid string) string {
	n, ok := f.names[pid]
	if !ok {
		return "?"
	}
	return trimName(n)
}

// trimName drops a dumped name's \x00 padding.
func trimName(n string) string {
	for len(n) > 4 && strings.HasSuffix(n, `\x00`) {
		n = n[:len(n)-4]
	}
	return n
}
