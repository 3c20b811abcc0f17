package trace

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
)

// Kind says what a line turned out to be.
type Kind uint8

const (
	// Skip: not an event (blank, "#" comment, bpftrace's "Attaching N probes..." banner).
	Skip Kind = iota
	// EventLine: a connection event, stored in the Event passed to Parse.
	EventLine
	// Lost: the tracer's report that its buffer overflowed ("Lost N events", or the launcher's
	// "# lost N events"); the number is in Event.Count.
	Lost
	// Version: the "# line format N" line; N is in Event.Count.
	Version
	// ProcLine: a proc line (version 3), or a capture's process record: Event.PID, Host and
	// Proc are set, nothing else.
	ProcLine
	// ClockLine: the "# clock" line (version 3), in Event.Count and Ret: see Event.ClockOf.
	ClockLine
)

// FormatVersion is the newest version of the line format (docs/line-format.md) this
// package reads.
const FormatVersion = 3

// Parser turns lines into Events. It interns process names and attribute values so that a
// stream of millions of lines allocates in proportion to the distinct names, not the lines.
// The zero value is ready to use. A Parser is not safe for concurrent use.
type Parser struct {
	// LazyAttrs makes Parse leave Event.Attrs empty and point Event.RawAttrs at the line's
	// metadata instead; DecodeAttrs decodes them when wanted. A stream reader that needs the
	// attributes only of new processes saves most of the parsing that way.
	LazyAttrs bool

	sawCount bool // the last line parsed had count=

	strs  map[string]string
	comms [1024]commSlot // recent names by pid: most lines need no hashing at all
}

type commSlot struct {
	pid  uint32
	host string
	comm string
}

// maxInterned bounds the intern table: past it, new strings are allocated, not remembered.
const maxInterned = 1 << 16

func (p *Parser) intern(b []byte) string {
	if s, ok := p.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if p.strs == nil {
		p.strs = make(map[string]string)
	}
	if len(p.strs) < maxInterned {
		p.strs[s] = s
	}
	return s
}

var (
	arrowOut     = []byte("→")
	arrowIn      = []byte("←")
	asciiOut     = []byte("->")
	asciiIn      = []byte("<-")
	commKey      = []byte("comm=")
	spaceCommKey = []byte(" comm=")
	attaching    = []byte("Attaching ")
	lostPrefix   = []byte("Lost ")
	lostHash     = []byte("# lost ")
	lostSuffix   = []byte(" events")
	closePrefix  = []byte("close ")
	versionHash  = []byte("# line format ")
	clockHash    = []byte("# clock ")
	procPrefix   = []byte("proc ")
)

// LineError is a malformed line: why, and the line quoted (see excerpt).
type LineError struct {
	Err   error
	Quote string // at most 40 bytes of the line, as a Go string literal
}

func (e *LineError) Error() string { return e.Err.Error() + " in " + e.Quote }
func (e *LineError) Unwrap() error { return e.Err }

// Parse reads one line (without its newline; a trailing "\r" is ignored) into ev, reusing
// ev's Attrs storage. It returns what the line was; for a malformed line, a *LineError
// saying why and quoting the line (for a bpftrace JSON record, the trace line inside it).
func (p *Parser) Parse(line []byte, ev *Event) (Kind, error) {
	kind, err := p.decode(line, ev)
	if err != nil {
		if _, ok := err.(*LineError); !ok {
			err = &LineError{Err: err, Quote: excerpt(line)}
		}
	}
	return kind, err
}

// parseLine is the decoder of the line format itself: every line that does not start with
// "{" is its own.
func (p *Parser) parseLine(line []byte, ev *Event) (Kind, error) {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) == 0 {
		return Skip, nil
	}
	if trimmed[0] == '{' {
		return Skip, ErrNotMine
	}
	if trimmed[0] == '#' || bytes.HasPrefix(trimmed, attaching) {
		if bytes.HasPrefix(trimmed, clockHash) {
			return p.parseClock(trimmed, ev)
		}
		if n, ok := lostCount(trimmed, lostHash); ok {
			ev.Count = n
			return Lost, nil
		}
		if n, ok := formatVersion(trimmed); ok {
			ev.Count = n
			return Version, nil
		}
		return Skip, nil
	}
	if n, ok := lostCount(trimmed, lostPrefix); ok {
		ev.Count = n
		return Lost, nil
	}
	if trimmed[0] == 'p' && bytes.HasPrefix(trimmed, procPrefix) {
		return p.parseProc(trimmed[len(procPrefix):], ev)
	}

	isClose := false
	if trimmed[0] == 'c' && bytes.HasPrefix(trimmed, closePrefix) {
		// A close line (version 2): the endpoints and metadata of an open line follow.
		isClose = true
		line = trimmed[len(closePrefix):]
	}
	bar := bytes.IndexByte(line, '|')
	if bar < 0 {
		return Skip, errors.New("no '|' between the addresses and the metadata")
	}
	addrs, meta := line[:bar], line[bar+1:]

	dir, at, width := findArrow(addrs)
	if dir == 0 {
		return Skip, errors.New("no arrow (→, ←, -> or <-) between the two endpoints")
	}
	remote, err := parseAddrPort(bytes.TrimSpace(addrs[:at]))
	if err != nil {
		return Skip, fmt.Errorf("remote endpoint: %w", err)
	}
	local, err := parseAddrPort(bytes.TrimSpace(addrs[at+width:]))
	if err != nil {
		return Skip, fmt.Errorf("local endpoint: %w", err)
	}
	*ev = Event{Dir: dir, Remote: remote, Local: local, Count: 1, Attrs: ev.Attrs[:0]}
	if isClose {
		ev.Close = new(Close)
	}
	if err := p.parseMeta(meta, ev); err != nil {
		return Skip, err
	}
	if isClose && ev.Close.End == EndNone {
		return Skip, errors.New("close line has no end=")
	}
	if isClose && ev.Conn == "" && !p.sawCount {
		// Without its identity a close line cannot be told from another connection's.
		return Skip, errors.New("close line has no conn= (only an aggregated one, with count=, may lack it)")
	}
	return EventLine, nil
}

// bpftraceRecord is one line of `bpftrace -f json` output.
type bpftraceRecord struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// parseJSON reads a line of bpftrace's JSON output: a printf record wraps a trace line, a
// lost_events record counts lost events, anything else (attached_probes, maps) is skipped.
func (p *Parser) parseJSON(line []byte, ev *Event) (Kind, error) {
	var rec bpftraceRecord
	if err := json.Unmarshal(line, &rec); err != nil || rec.Type == "" || rec.Data == nil {
		return Skip, ErrNotMine
	}
	switch rec.Type {
	case "printf":
		data, err := bpftraceString(bytes.TrimSpace(rec.Data))
		if err != nil {
			return Skip, fmt.Errorf("bpftrace JSON printf record without a string: %v", err)
		}
		data = bytes.TrimSuffix(data, []byte{'\n'})
		if bytes.IndexByte(data, '\n') >= 0 {
			return Skip, errors.New("bpftrace JSON printf record holds more than one line")
		}
		if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
			return Skip, errors.New("bpftrace JSON printf record holds JSON")
		}
		kind, err := p.parseLine(data, ev)
		if err != nil {
			err = &LineError{Err: err, Quote: excerpt(data)}
		}
		return kind, err
	case "lost_events":
		var lost struct {
			Events uint64 `json:"events"`
		}
		if err := json.Unmarshal(rec.Data, &lost); err != nil {
			return Skip, fmt.Errorf("bpftrace JSON lost_events record: %v", err)
		}
		ev.Count = lost.Events
		return Lost, nil
	}
	return Skip, nil
}

// formatVersion reads "# line format N".
func formatVersion(line []byte) (uint64, bool) {
	if !bytes.HasPrefix(line, versionHash) {
		return 0, false
	}
	digits := line[len(versionHash):]
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(string(digits), 10, 64)
	return n, err == nil
}

func lostCount(line, prefix []byte) (uint64, bool) {
	if len(line) < len(prefix)+len(lostSuffix) || !bytes.HasPrefix(line, prefix) || !bytes.HasSuffix(line, lostSuffix) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(line[len(prefix):len(line)-len(lostSuffix)]), 10, 64)
	return n, err == nil
}

// findArrow returns the direction, offset and byte width of the one arrow in addrs.
// Addresses contain none of the bytes an arrow starts with ('-', '<', 0xE2), so the first
// such byte must start the arrow and no other may follow it.
func findArrow(addrs []byte) (Direction, int, int) {
	at := -1
	for i, c := range addrs {
		if c == 0xE2 || c == '-' || c == '<' {
			at = i
			break
		}
	}
	if at < 0 {
		return 0, 0, 0
	}
	var dir Direction
	var width int
	rest := addrs[at:]
	switch {
	case bytes.HasPrefix(rest, arrowOut):
		dir, width = Out, len(arrowOut)
	case bytes.HasPrefix(rest, arrowIn):
		dir, width = In, len(arrowIn)
	case bytes.HasPrefix(rest, asciiOut):
		dir, width = Out, len(asciiOut)
	case bytes.HasPrefix(rest, asciiIn):
		dir, width = In, len(asciiIn)
	default:
		return 0, 0, 0
	}
	for _, c := range rest[width:] {
		if c == 0xE2 || c == '-' || c == '<' {
			return 0, 0, 0 // a second arrow
		}
	}
	return dir, at, width
}

// parseAddrPort reads "a.b.c.d:port" or "[v6]:port", mapping IPv4-mapped IPv6 to IPv4.
func parseAddrPort(b []byte) (netip.AddrPort, error) {
	colon := bytes.LastIndexByte(b, ':')
	if colon < 0 {
		return netip.AddrPort{}, fmt.Errorf("%s has no :port", excerpt(b))
	}
	host, portText := b[:colon], b[colon+1:]
	port, err := parsePort(portText)
	if err != nil {
		return netip.AddrPort{}, err
	}
	var addr netip.Addr
	if len(host) > 0 && host[0] == '[' {
		if host[len(host)-1] != ']' || len(host) < 3 {
			return netip.AddrPort{}, fmt.Errorf("%s: IPv6 address must be in brackets", excerpt(b))
		}
		inner := host[1 : len(host)-1]
		if v4, ok := mappedIPv4(inner); ok {
			// Dual-stack listeners print IPv4 peers this way: common, and cheap to read.
			addr = v4
		} else {
			addr, err = netip.ParseAddr(string(inner))
			if err == nil && addr.Is4() {
				err = errors.New("IPv4 address in brackets")
			}
		}
	} else {
		var ok bool
		if addr, ok = parseIPv4(host); !ok {
			err = errors.New("not an IPv4 dotted quad (IPv6 needs brackets)")
		}
	}
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("invalid address %s: %v", excerpt(host), err)
	}
	return netip.AddrPortFrom(addr.Unmap(), port), nil
}

func parsePort(b []byte) (uint16, error) {
	if len(b) == 0 {
		return 0, errors.New("empty port")
	}
	if len(b) > 6 {
		return 0, fmt.Errorf("port %s out of range", excerpt(b))
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("port %s is not a number", excerpt(b))
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0, fmt.Errorf("port %d out of range", n)
	}
	return uint16(n), nil
}

// mappedIPv4 reads "::ffff:a.b.c.d" without allocating.
func mappedIPv4(b []byte) (netip.Addr, bool) {
	const prefix = "::ffff:"
	if len(b) <= len(prefix) || string(b[:len(prefix)]) != prefix {
		return netip.Addr{}, false
	}
	return parseIPv4(b[len(prefix):])
}

// parseIPv4 is a strict, allocation-free dotted-quad parser (no leading zeros, like netip).
func parseIPv4(b []byte) (netip.Addr, bool) {
	var ip [4]byte
	field, digits, val := 0, 0, 0
	for i := 0; i <= len(b); i++ {
		if i == len(b) || b[i] == '.' {
			if digits == 0 || field > 3 {
				return netip.Addr{}, false
			}
			ip[field] = byte(val)
			field++
			digits, val = 0, 0
			continue
		}
		c := b[i]
		if c < '0' || c > '9' || (digits == 1 && val == 0) {
			return netip.Addr{}, false
		}
		val = val*10 + int(c-'0')
		digits++
		if val > 255 {
			return netip.Addr{}, false
		}
	}
	if field != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(ip), true
}

func (p *Parser) parseMeta(meta []byte, ev *Event) error {
	if bytes.IndexByte(meta, '=') < 0 {
		return p.parseFreeForm(meta, ev)
	}
	// One pass over the tokens: comm= is the first token that starts with "comm=", and
	// everything after it is the name.
	havePID, haveComm := false, false
	p.sawCount = false
	var comm []byte
	rest := meta
	for i := 0; i < len(rest); {
		if rest[i] == ' ' {
			i++
			continue
		}
		if len(rest)-i >= len(commKey) && string(rest[i:i+len(commKey)]) == "comm=" {
			comm, haveComm = trimPadding(rest[i+len(commKey):]), true
			rest = rest[:i]
			break
		}
		ks := i
		for i < len(rest) && rest[i] != '=' && rest[i] != ' ' {
			i++
		}
		if i == len(rest) || rest[i] == ' ' || i == ks {
			if !bytes.Contains(rest[i:], commKey) {
				return errors.New("metadata has no comm= (it must be the last key)")
			}
			return fmt.Errorf("metadata %s is not key=value", excerpt(rest[ks:i]))
		}
		key := rest[ks:i]
		i++
		vs := i
		for i < len(rest) && rest[i] != ' ' {
			i++
		}
		val := rest[vs:i]
		switch string(key) {
		case "pid":
			n, ok := parseUint32(val)
			if !ok {
				return fmt.Errorf("pid=%s is not a process id", excerpt(val))
			}
			ev.PID, havePID = n, true
		case "ret":
			if len(val) == 1 && val[0] == '0' {
				ev.Ret = 0
				break
			}
			n, err := strconv.ParseInt(string(val), 10, 64)
			if err != nil {
				return fmt.Errorf("ret=%s is not a number", excerpt(val))
			}
			ev.Ret = n
		case "count":
			n, err := strconv.ParseUint(string(val), 10, 64)
			if err != nil || n == 0 {
				return fmt.Errorf("count=%s is not a positive number", excerpt(val))
			}
			ev.Count, p.sawCount = n, true
		case "host":
			ev.Host = p.intern(val)
		case "conn":
			if err := checkConn(val); err != nil {
				return err
			}
			ev.Conn = string(val) // one per connection: not worth interning
		case "preexisting":
			// Kept as an attribute too, as the contract says.
			ev.Preexisting = string(val) == "1"
			if !p.LazyAttrs {
				ev.Attrs = append(ev.Attrs, Attr{Key: p.intern(key), Value: p.intern(val)})
			}
		case "reconnect":
			switch string(val) {
			case "0":
				ev.Reconnect = false
			case "1":
				ev.Reconnect = true
			default:
				return fmt.Errorf("reconnect=%s is not 0 or 1", excerpt(val))
			}
		case "end", "dur_us", "sent", "recv", "retrans", "connect_us":
			if ev.Close != nil {
				if err := parseCloseKey(ev.Close, key, val); err != nil {
					return err
				}
				break
			}
			// On an open line these keys mean nothing: kept like unknown ones.
			if !p.LazyAttrs {
				ev.Attrs = append(ev.Attrs, Attr{Key: p.intern(key), Value: p.intern(val)})
			}
		default:
			if !p.LazyAttrs {
				ev.Attrs = append(ev.Attrs, Attr{Key: p.intern(key), Value: p.intern(val)})
			}
		}
	}
	if !haveComm {
		return errors.New("metadata has no comm= (it must be the last key)")
	}
	if !havePID {
		return errors.New("metadata has no pid=")
	}
	if p.LazyAttrs {
		ev.RawAttrs = rest
	}
	ev.Comm, ev.Seen = p.internComm(ev.PID, ev.Host, comm)
	return nil
}

// internComm returns the name as a string, from the last name seen for this pid when equal.
// It reports whether this process (host, pid, name) is the one last seen under its pid.
func (p *Parser) internComm(pid uint32, host string, b []byte) (string, bool) {
	slot := &p.comms[pid%uint32(len(p.comms))]
	if slot.pid == pid && slot.comm == string(b) && slot.host == host {
		return slot.comm, slot.comm != "" || pid != 0
	}
	s := p.intern(b)
	slot.pid, slot.host, slot.comm = pid, host, s
	return s, false
}

// DecodeAttrs fills ev.Attrs from ev.RawAttrs (see LazyAttrs), appending to ev.Attrs.
func (p *Parser) DecodeAttrs(ev *Event) {
	rest := ev.RawAttrs
	for len(rest) > 0 {
		var tok []byte
		if sp := bytes.IndexByte(rest, ' '); sp >= 0 {
			tok, rest = rest[:sp], rest[sp+1:]
		} else {
			tok, rest = rest, nil
		}
		eq := bytes.IndexByte(tok, '=')
		if eq <= 0 {
			continue
		}
		switch key := string(tok[:eq]); key {
		case "pid", "ret", "count", "host", "conn", "reconnect":
		case "end", "dur_us", "sent", "recv", "retrans", "connect_us":
			if ev.Close == nil {
				ev.Attrs = append(ev.Attrs, Attr{Key: p.intern(tok[:eq]), Value: p.intern(tok[eq+1:])})
			}
		default:
			ev.Attrs = append(ev.Attrs, Attr{Key: p.intern(tok[:eq]), Value: p.intern(tok[eq+1:])})
		}
	}
	ev.RawAttrs = nil
}

// parseFreeForm reads metadata without any key=value: "1234 curl" or "curl 1234".
func (p *Parser) parseFreeForm(meta []byte, ev *Event) error {
	meta = bytes.TrimSpace(meta)
	if sp := bytes.IndexByte(meta, ' '); sp > 0 {
		if n, err := strconv.ParseUint(string(meta[:sp]), 10, 32); err == nil {
			ev.PID = uint32(n)
			ev.Comm, ev.Seen = p.internComm(ev.PID, ev.Host, trimPadding(bytes.TrimLeft(meta[sp+1:], " ")))
			return nil
		}
	}
	if sp := bytes.LastIndexByte(meta, ' '); sp > 0 {
		if n, err := strconv.ParseUint(string(meta[sp+1:]), 10, 32); err == nil {
			ev.PID = uint32(n)
			ev.Comm, ev.Seen = p.internComm(ev.PID, ev.Host, trimPadding(bytes.TrimRight(meta[:sp], " ")))
			return nil
		}
	}
	return fmt.Errorf("metadata %s has neither pid=/comm= nor the form \"PID NAME\"", excerpt(meta))
}

// parseCloseKey reads one of a close line's keys into c.
func parseCloseKey(c *Close, key, val []byte) error {
	if string(key) == "end" {
		e, ok := parseEnd(val)
		if !ok {
			return fmt.Errorf("end=%s is not local, peer, reset-sent, reset-recv, timeout, never or unknown", excerpt(val))
		}
		c.End = e
		return nil
	}
	n, ok := parseUint64(val)
	if !ok {
		return fmt.Errorf("%s=%s is not a number", key, excerpt(val))
	}
	switch string(key) {
	case "dur_us":
		c.DurUS, c.HasDur = n, true
	case "sent":
		c.Sent = n
	case "recv":
		c.Recv = n
	case "retrans":
		c.Retrans = n
	default:
		c.ConnectUS, c.HasConnect = n, true
	}
	return nil
}

// parseEnd reads the value of end=.
func parseEnd(b []byte) (End, bool) {
	for e := EndLocal; int(e) < len(endNames); e++ {
		if string(b) == endNames[e] {
			return e, true
		}
	}
	return EndNone, false
}

// checkConn accepts a conn= token: not empty, of letters, digits and "-_.:" (the spec's
// tokens are [0-9a-f-]; a little more is accepted, nothing that could break a key).
func checkConn(b []byte) error {
	if len(b) == 0 {
		return errors.New("conn= is empty")
	}
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-', c == '_', c == '.', c == ':':
		default:
			return fmt.Errorf("conn=%s is not a token of letters, digits and -", excerpt(b))
		}
	}
	return nil
}

// parseUint64 reads a decimal number without sign that fits in 64 bits.
func parseUint64(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parseUint32 reads a decimal number without sign.
func parseUint32(b []byte) (uint32, bool) {
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return uint32(n), n <= 1<<32-1
}

// trimPadding drops the NUL padding of a kernel comm, raw or as bpftrace's %r prints it,
// and trailing carriage returns.
func trimPadding(b []byte) []byte {
	for {
		n := len(b)
		switch {
		case n >= 4 && b[n-1] == '0' && b[n-2] == '0' && b[n-3] == 'x' && b[n-4] == '\\':
			b = b[:n-4]
		case len(b) > 0 && (b[len(b)-1] == 0 || b[len(b)-1] == '\r'):
			// NUL padding, or carriage returns that a CRLF line would leave ambiguous.
			b = b[:len(b)-1]
		default:
			return b
		}
	}
}

// Excerpt quotes at most 40 bytes of b for a message about a malformed line, as the
// parser's own messages do.
func Excerpt(b []byte) string { return excerpt(b) }

// excerpt quotes at most 40 bytes of b for an error message, as a Go string literal: a byte
// that is not printable UTF-8 (a control character, a broken sequence, a line cut in the
// middle of a character) is written as an escape, so no byte of a hostile line reaches a
// terminal or a log raw.
func excerpt(b []byte) string {
	const max = 40
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + fmt.Sprintf("... (%d bytes)", len(b))
	}
	return strconv.Quote(string(b))
}
