// Package lifecycle reads socket-lifecycle CSV files (the nw_conn files written by
// scripts/netflow-lifecycle, and by cacheMon/io-tracer-linux) into trace.Events: a
// CONNECT row becomes an Out event, an ACCEPT row an In event, every other row is skipped.
//
// Two layouts of the same public format are recognised by their header:
//
//	v3 (17 columns; scripts/netflow-lifecycle writes it):
//	Timestamp,Event Type,PID,TID,Command,Domain,Socket Type,Protocol,IP Version,
//	Local Address,Remote Address,Local Port,Remote Port,File Descriptor,Backlog,Latency,Return Value
//
//	v4 (18 columns; io-tracer-linux's src/tracer/schema.py, linux_trace_v4_test/):
//	timestamp,event_type,pid,tid,command,domain,sock_type,ipver,local_addr,remote_addr,
//	sport,dport,fd,backlog,shutdown_how,latency_ns,return_value,mono_ns
//
// Columns are found by name, not position. Names are compared without case, spaces,
// "_" and "-", and each column has aliases (see columnNames), so that "Local Port",
// "local_port", "sport" and "lport" are the same column. A header must name every
// column the events need (Event Type, PID, Command, Local Address, Remote Address, Local
// Port, Remote Port, Return Value), no column twice, and no column this package does not
// know: anything else is rejected with a *HeaderError that names the columns it expected.
// A header with a shutdown_how or mono_ns column is v4, else v3.
//
// From a row to an event:
//
//   - CONNECT: 0 connected, -115 (EINPROGRESS) a non-blocking connect under way, any other
//     negative errno failed (-111 refused); Event.Ret keeps it. But a -115 with no Local
//     Port was torn down before connect() returned (refused, on loopback): it is read as
//     -111. And a socket is one connection however often its program calls connect() on it
//     (hiredis calls it again after EINPROGRESS): Sockets remembers each socket's (PID and
//     File Descriptor, until its CLOSE row or a new socket on that fd) last connect, and a
//     later CONNECT row of it is no event when it says the socket is connecting or connected
//     (-114 EALREADY, -115, 0, -106 EISCONN), nor when it returns the error of a refused
//     one; when it returns another error after a -115, it is that connect's outcome, an
//     event with the earlier row's local end. A -106 or -114 of a socket not seen connecting
//     is no event either: the connection was made before the file begins.
//   - ACCEPT with Return Value 0 only: a failed accept is not a connection.
//   - Rows of other protocols are skipped: Protocol other than TCP (v3), or, without a
//     Protocol column, Socket Type other than SOCK_STREAM (v4). So are rows without a
//     remote address and port (Unix sockets, a connect to AF_UNSPEC).
//   - Remote is Remote Address:Remote Port; Local is Local Address:Local Port, with the
//     unspecified address of the remote's family and port 0 for an empty one (a failed
//     connect has no local port). IPv4-mapped IPv6 addresses are read as IPv4, as in the
//     line format, so that both ends of one connection match.
//   - Comm is Command without trailing NUL padding (raw, or printed as \x00), with every
//     other byte that is not printable ASCII written as \xNN, as the tracers print names (a
//     v3 file from scripts/netflow-lifecycle has them so already; a raw newline from another
//     writer would break the line format). Count is 1; Attrs holds tid=, fd= and latency_ns=
//     when the row has them.
//
// Reading is in two steps, so that one file can be decoded on several cores: Layout.Decode
// reads a row on its own (fields, addresses, what kind of row it is), and Sockets.Join,
// called on the rows in file order, applies what a row needs of the socket's earlier rows.
// Reader does both, one row at a time; ChunkReader cuts a file into blocks of whole records
// for Layout.DecodeChunk, so that blocks are decoded in parallel and joined in order, with
// the same rows, errors and line numbers as Reader.
//
// Files lists the nw_conn_*.csv files under a directory in order. Compressed files
// (io-tracer-linux's v4 writes .csv.zst) are not listed: decompress them first.
package lifecycle

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"netflow/net_visualizer/internal/trace"
)

// Format is the layout of a file, from its header.
type Format int

const (
	V3 Format = 3
	V4 Format = 4
)

func (f Format) String() string { return "v" + strconv.Itoa(int(f)) }

// V3Header and V4Header are the two known headers, as written.
var (
	V3Header = []string{
		"Timestamp", "Event Type", "PID", "TID", "Command", "Domain", "Socket Type",
		"Protocol", "IP Version", "Local Address", "Remote Address", "Local Port",
		"Remote Port", "File Descriptor", "Backlog", "Latency", "Return Value",
	}
	V4Header = []string{
		"timestamp", "event_type", "pid", "tid", "command", "domain", "sock_type", "ipver",
		"local_addr", "remote_addr", "sport", "dport", "fd", "backlog", "shutdown_how",
		"latency_ns", "return_value", "mono_ns",
	}
)

type column int

const (
	colTimestamp column = iota
	colEvent
	colPID
	colTID
	colCommand
	colDomain
	colSockType
	colProtocol
	colIPVersion
	colLocalAddr
	colRemoteAddr
	colLocalPort
	colRemotePort
	colFD
	colBacklog
	colShutdownHow
	colLatency
	colRet
	colMono
	numColumns
)

// columnNames: each column's accepted names, normalized (see normalize).
var columnNames = [numColumns][]string{
	colTimestamp:   {"timestamp", "time", "datetime"},
	colEvent:       {"eventtype", "event", "operation"},
	colPID:         {"pid", "tgid"},
	colTID:         {"tid"},
	colCommand:     {"command", "comm", "processname", "process"},
	colDomain:      {"domain", "family", "addressfamily"},
	colSockType:    {"sockettype", "socktype"},
	colProtocol:    {"protocol", "proto"},
	colIPVersion:   {"ipversion", "ipver", "ipv"},
	colLocalAddr:   {"localaddress", "localaddr", "laddr", "srcaddr", "saddr", "sourceaddress"},
	colRemoteAddr:  {"remoteaddress", "remoteaddr", "raddr", "dstaddr", "daddr", "destinationaddress"},
	colLocalPort:   {"localport", "lport", "sport", "srcport", "sourceport"},
	colRemotePort:  {"remoteport", "rport", "dport", "dstport", "destinationport"},
	colFD:          {"filedescriptor", "fd"},
	colBacklog:     {"backlog"},
	colShutdownHow: {"shutdownhow", "how"},
	colLatency:     {"latency", "latencyns"},
	colRet:         {"returnvalue", "ret", "retval", "return"},
	colMono:        {"monons", "monotonicns", "mono"},
}

// columnTitle: each column's name in messages, the v3 one where v3 has it.
var columnTitle = [numColumns]string{
	colTimestamp: "Timestamp", colEvent: "Event Type", colPID: "PID", colTID: "TID",
	colCommand: "Command", colDomain: "Domain", colSockType: "Socket Type",
	colProtocol: "Protocol", colIPVersion: "IP Version", colLocalAddr: "Local Address",
	colRemoteAddr: "Remote Address", colLocalPort: "Local Port", colRemotePort: "Remote Port",
	colFD: "File Descriptor", colBacklog: "Backlog", colShutdownHow: "shutdown_how",
	colLatency: "Latency", colRet: "Return Value", colMono: "mono_ns",
}

var required = []column{colEvent, colPID, colCommand, colLocalAddr, colRemoteAddr, colLocalPort, colRemotePort, colRet}

var byName = func() map[string]column {
	m := make(map[string]column)
	for c, names := range columnNames {
		for _, n := range names {
			m[n] = column(c)
		}
	}
	return m
}()

// normalize: lower case, without spaces, "_", "-" and a UTF-8 byte order mark.
func normalize(s string) string {
	s = strings.TrimPrefix(s, "\ufeff")
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r != ' ' && r != '_' && r != '-' && r != '\t' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// HeaderError is a first line that is not a known nw_conn header.
type HeaderError struct {
	Got       []string // the header as read
	Missing   []string // required columns not found (v3 names)
	Unknown   []string // names this package does not know
	Duplicate []string // columns named twice
}

func (e *HeaderError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "not a socket-lifecycle (nw_conn) CSV header: %q", strings.Join(e.Got, ","))
	if len(e.Missing) > 0 {
		fmt.Fprintf(&b, "; missing %s", strings.Join(e.Missing, ", "))
	}
	if len(e.Unknown) > 0 {
		fmt.Fprintf(&b, "; unknown %s", strings.Join(e.Unknown, ", "))
	}
	if len(e.Duplicate) > 0 {
		fmt.Fprintf(&b, "; named twice %s", strings.Join(e.Duplicate, ", "))
	}
	fmt.Fprintf(&b, "; want the v3 header %q or the v4 header %q (names are matched without case, spaces or underscores)",
		strings.Join(V3Header, ","), strings.Join(V4Header, ","))
	return b.String()
}

// RowError is a row that cannot be read; the Reader can go on with the next one.
type RowError struct {
	Line int // 1-based line where the row starts
	Err  error
}

func (e *RowError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *RowError) Unwrap() error { return e.Err }

// Layout is where a header puts each column. It is read only once made, so the
// goroutines that decode the chunks of one file share it.
type Layout struct {
	format Format
	col    [numColumns]int // index of each column in a row, -1 when absent
	width  int
}

// Format is the file's layout.
func (l *Layout) Format() Format { return l.format }

// Reader reads events from one CSV file, a row at a time: encoding/csv, then Decode and
// Sockets.Join, in one goroutine. ChunkReader and DecodeChunk do the same on several.
type Reader struct {
	cr  *csv.Reader
	lay *Layout
	row Row

	// Sockets remembers each socket's connect; NewReader gives a Reader a fresh one. Readers
	// of the files of one capture, read one after the other, should share one.
	Sockets *Sockets
}

// Errnos of connect(2) that say something of an earlier connect on the same socket.
const (
	eisconn  = 106 // already connected
	ealready = 114 // a connect is under way already
)

// maxSockets bounds Sockets: a socket closed without a CLOSE row (at exit) is remembered
// until its (pid, fd) is used again, and past this many all are forgotten.
const maxSockets = 1 << 16

type sockKey struct {
	pid uint32
	fd  int64
}

type connState uint8

const (
	inProgress connState = iota + 1 // -115 with a local port: the outcome is to come
	connected                       // 0, or a later 0 or -106
	refused                         // -115 with no local port: drawn as failed, its error not yet returned
)

type sockState struct {
	remote, local netip.AddrPort
	state         connState
}

// Sockets remembers the last connect of each socket (pid and fd), so that a program that
// calls connect() again on a socket (as hiredis does after EINPROGRESS) is not read as
// making a second connection.
type Sockets struct {
	m map[sockKey]sockState
}

// NewSockets returns an empty Sockets.
func NewSockets() *Sockets { return &Sockets{m: make(map[sockKey]sockState)} }

// forget drops a socket: its fd was closed or now holds another socket.
func (s *Sockets) forget(k sockKey) { delete(s.m, k) }

func (s *Sockets) remember(k sockKey, st sockState) {
	if len(s.m) >= maxSockets {
		clear(s.m)
	}
	s.m[k] = st
}

// connect reads a CONNECT row in the light of the socket's earlier ones: false when it is
// not a connection of its own. It may make ev a failure (a -115 that never got a local
// port, or the outcome of an earlier -115) and give it the local end of the earlier one,
// so that the graph takes it as that connect's outcome.
func (s *Sockets) connect(k sockKey, tracked bool, ev *trace.Event) bool {
	if st, ok := s.m[k]; ok && tracked && st.remote == ev.Remote {
		switch {
		case st.state == inProgress && (ev.Ret == 0 || ev.Ret == -eisconn):
			st.state = connected
			s.m[k] = st
			return false
		case st.state == inProgress && (ev.Ret == -ealready || ev.Ret == -trace.EINPROGRESS):
			return false // still under way
		case st.state == inProgress:
			// The connect under way failed; this row's errno is its outcome.
			s.forget(k)
			if ev.Local.Port() == 0 {
				ev.Local = st.local
			}
			return true
		case st.state == connected && (ev.Ret == -eisconn || ev.Ret == -ealready):
			return false
		case st.state == refused && ev.Ret < 0 && ev.Ret != -ealready && ev.Ret != -trace.EINPROGRESS:
			// connect() again returns the error of the refused one, drawn already.
			s.forget(k)
			return false
		}
	}
	if tracked {
		s.forget(k)
	}
	switch {
	case ev.Ret == -eisconn || ev.Ret == -ealready:
		return false // the socket was connected, or connecting, before this row
	case ev.Ret == -trace.EINPROGRESS && ev.Local.Port() == 0:
		// A connect under way has its local port by the time connect() returns: none means
		// the connection was torn down already, refused (on loopback the RST comes back
		// before connect() returns). The row does not say the errno; -111 is the one it is.
		ev.Ret = -trace.ECONNREFUSED
		if tracked {
			s.remember(k, sockState{remote: ev.Remote, local: ev.Local, state: refused})
		}
	case ev.Ret == -trace.EINPROGRESS && tracked:
		s.remember(k, sockState{remote: ev.Remote, local: ev.Local, state: inProgress})
	case ev.Ret == 0 && tracked:
		s.remember(k, sockState{remote: ev.Remote, local: ev.Local, state: connected})
	}
	return true
}

// NewReader reads and checks the header. It returns a *HeaderError for an unknown header.
func NewReader(r io.Reader) (*Reader, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // checked by Next, which can then go on
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("no header: the file is empty")
	}
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	lay, err := NewLayout(head)
	if err != nil {
		return nil, err
	}
	return &Reader{cr: cr, lay: lay, Sockets: NewSockets()}, nil
}

// NewLayout checks a header record and finds its columns. It returns a *HeaderError for
// an unknown header.
func NewLayout(head []string) (*Layout, error) {
	lay := &Layout{width: len(head), format: V3}
	for i := range lay.col {
		lay.col[i] = -1
	}
	herr := &HeaderError{Got: append([]string(nil), head...)}
	for i, name := range head {
		c, ok := byName[normalize(name)]
		switch {
		case !ok:
			herr.Unknown = append(herr.Unknown, strconv.Quote(name))
		case lay.col[c] >= 0:
			herr.Duplicate = append(herr.Duplicate, strconv.Quote(name))
		default:
			lay.col[c] = i
		}
	}
	for _, c := range required {
		if lay.col[c] < 0 {
			herr.Missing = append(herr.Missing, columnTitle[c])
		}
	}
	if len(herr.Missing)+len(herr.Unknown)+len(herr.Duplicate) > 0 {
		return nil, herr
	}
	if lay.col[colShutdownHow] >= 0 || lay.col[colMono] >= 0 {
		lay.format = V4
	}
	return lay, nil
}

// Format is the file's layout.
func (r *Reader) Format() Format { return r.lay.format }

// Next reads rows until one is a connection and stores it in ev, reusing ev.Attrs. It
// returns io.EOF at the end of the file, a *RowError for a row it cannot read (call Next
// again to go on), and any other error from reading.
func (r *Reader) Next(ev *trace.Event) error {
	for {
		rec, err := r.cr.Read()
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return &RowError{Line: pe.StartLine, Err: pe.Err}
			}
			return err
		}
		line, _ := r.cr.FieldPos(0)
		row := &r.row
		r.lay.Decode(rec, line, row)
		ok := r.Sockets.Join(row)
		if row.Err != nil {
			return &RowError{Line: line, Err: row.Err}
		}
		if ok {
			attrs := append(ev.Attrs[:0], row.Event.Attrs...)
			*ev = row.Event
			ev.Attrs = attrs
			return nil
		}
	}
}

// Row is one CSV row decoded without the socket table: what Sockets.Join needs to make
// it an event or not. Decoding is the costly part and needs no state, so the rows of a
// file can be decoded in any order, on several goroutines, and joined in file order.
type Row struct {
	Line  int         // the line the row starts on
	Err   error       // the row cannot be read (it may still tell the socket table to forget)
	Event trace.Event // the row's connection, before the join; with ok set
	Keep  bool        // for the caller: what Join said

	ok      bool    // Event is a connection, unless the join drops it
	connect bool    // Event is a CONNECT, for the join to read against the socket's earlier ones
	forget  bool    // the socket key now holds a new socket, or none
	key     sockKey // the row's socket (pid, fd); with tracked
	tracked bool
}

// Join applies a decoded row to the socket table, in file order, and says whether the
// row is a connection; the join may change row.Event (see connect).
func (s *Sockets) Join(row *Row) bool {
	if row.forget {
		s.forget(row.key)
	}
	if row.Err != nil || !row.ok {
		return false
	}
	return !row.connect || s.connect(row.key, row.tracked, &row.Event)
}

func (l *Layout) get(rec []string, c column) string {
	if i := l.col[c]; i >= 0 {
		return strings.TrimSpace(rec[i])
	}
	return ""
}

// Decode reads a row (a record of the file, starting on line) into row, reusing
// row.Event.Attrs. It needs nothing but the layout: Sockets.Join finishes it.
func (l *Layout) Decode(rec []string, line int, row *Row) {
	*row = Row{Line: line, Event: trace.Event{Attrs: row.Event.Attrs[:0]}}
	row.Err = l.decode(rec, row)
}

// decode turns a row into row.Event (row.ok); it leaves row.ok false for a row that is
// not a connection.
func (l *Layout) decode(rec []string, row *Row) error {
	if len(rec) != l.width {
		return fmt.Errorf("%d fields, the header has %d", len(rec), l.width)
	}
	var dir trace.Direction
	switch strings.ToUpper(l.get(rec, colEvent)) {
	case "CONNECT":
		dir = trace.Out
	case "ACCEPT":
		dir = trace.In
	case "SOCKET_CREATE", "CLOSE":
		// The fd holds a new socket, or none.
		row.key, row.forget = l.sockKey(rec)
		return nil
	default:
		return nil
	}
	var ret int64
	if s := l.get(rec, colRet); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%s %q: not a number", columnTitle[colRet], s)
		}
		ret = n
	}
	if dir == trace.In && ret != 0 {
		return nil
	}
	if dir == trace.In {
		row.key, row.forget = l.sockKey(rec) // the accepted socket's new fd
	}
	if p := l.get(rec, colProtocol); p != "" {
		if !strings.EqualFold(p, "TCP") && p != "6" {
			return nil
		}
	} else if t := l.get(rec, colSockType); t != "" && l.col[colProtocol] < 0 {
		if !strings.EqualFold(t, "SOCK_STREAM") && t != "1" {
			return nil
		}
	}
	raddr, rport := l.get(rec, colRemoteAddr), l.get(rec, colRemotePort)
	if raddr == "" || rport == "" {
		return nil // no IP peer: a Unix socket, a connect to AF_UNSPEC
	}
	remote, err := addrPort(raddr, rport, colRemoteAddr, colRemotePort)
	if err != nil {
		return err
	}
	local := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	if remote.Addr().Is6() {
		local = netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
	}
	laddr, lport := l.get(rec, colLocalAddr), l.get(rec, colLocalPort)
	if laddr != "" || lport != "" {
		if laddr == "" {
			laddr = local.Addr().String()
		}
		if lport == "" {
			lport = "0"
		}
		if local, err = addrPort(laddr, lport, colLocalAddr, colLocalPort); err != nil {
			return err
		}
	}
	s := l.get(rec, colPID)
	pid, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return fmt.Errorf("%s %q: not a process id", columnTitle[colPID], s)
	}
	comm := rec[l.col[colCommand]]
	for {
		if t := strings.TrimSuffix(comm, `\x00`); t != comm {
			comm = t
		} else if t := strings.TrimSuffix(comm, "\x00"); t != comm {
			comm = t
		} else {
			break
		}
	}
	ev := &row.Event
	*ev = trace.Event{Dir: dir, Remote: remote, Local: local, PID: uint32(pid), Comm: trace.Escape(comm),
		Ret: ret, Count: 1, Attrs: ev.Attrs[:0]}
	if dir == trace.Out {
		row.connect = true
		row.key, row.tracked = l.sockKey(rec)
	}
	for _, a := range [...]struct {
		key string
		c   column
	}{{"tid", colTID}, {"fd", colFD}, {"latency_ns", colLatency}} {
		if v := l.get(rec, a.c); v != "" && !strings.ContainsAny(v, " \t=") {
			ev.Attrs = append(ev.Attrs, trace.Attr{Key: a.key, Value: v})
		}
	}
	row.ok = true
	return nil
}

// sockKey is the socket a row is about, its pid and fd; false when the row has no fd.
func (l *Layout) sockKey(rec []string) (sockKey, bool) {
	pid, err := strconv.ParseUint(l.get(rec, colPID), 10, 32)
	if err != nil {
		return sockKey{}, false
	}
	fd, err := strconv.ParseInt(l.get(rec, colFD), 10, 64)
	if err != nil || fd < 0 {
		return sockKey{}, false
	}
	return sockKey{uint32(pid), fd}, true
}

func addrPort(a, p string, ca, cp column) (netip.AddrPort, error) {
	addr, err := netip.ParseAddr(strings.Trim(a, "[]"))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%s %q: not an IP address", columnTitle[ca], a)
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%s %q: not a port", columnTitle[cp], p)
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

// Files returns the nw_conn_*.csv files under dir, at any depth, in order: by directory,
// then by number (nw_conn_0002.csv before nw_conn_0010.csv, and nw_conn_9999.csv before
// nw_conn_10000.csv). For this project's layout, DIR/linux_trace_v3_test/MACHINE_ID/
// YYYYMMDD_HHMMSS_mmm/nw_conn/nw_conn_NNNN.csv, that is machine by machine, session by
// session, file by file: the order they were written in.
func Files(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.Type().IsRegular() && strings.HasPrefix(name, "nw_conn_") && strings.HasSuffix(name, ".csv") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(files, func(i, j int) bool { return naturalLess(files[i], files[j]) })
	return files, nil
}

// naturalLess compares a and b with runs of digits compared as numbers.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			if da != db { // equal numbers: fewer leading zeros first, for a total order
				return da < db
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}
