package trace

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrNotMine is what a Decoder returns for a line of another format.
var ErrNotMine = errors.New("not of this format")

// A Decoder reads the lines of one input format into Events. Decode returns ErrNotMine,
// having changed nothing that matters, when the line is not of its format; any other error
// means the line is of its format but malformed.
type Decoder struct {
	Name   string
	Decode func(p *Parser, line []byte, ev *Event) (Kind, error)
}

// Decoders is the ordered list a Parser tries on each line, as pprof's profile.Parse tries
// its parsers: the first that does not answer ErrNotMine decodes the line. The line format
// comes first and claims every line that does not start with "{", so it stays the fast path;
// the JSON formats follow, each recognising its own records by their keys.
var Decoders = []Decoder{
	{"line", (*Parser).parseLine},
	{"bpftrace-json", (*Parser).parseJSON},
	{"netmon", (*Parser).parseNetMon},
	{"tracee", (*Parser).parseTracee},
}

// decode runs the decoders in order.
func (p *Parser) decode(line []byte, ev *Event) (Kind, error) {
	// The line format, Decoders[0], called directly: the fast path.
	if kind, err := p.parseLine(line, ev); err != ErrNotMine {
		return kind, err
	}
	for i := 1; i < len(Decoders); i++ {
		kind, err := Decoders[i].Decode(p, line, ev)
		if err != ErrNotMine {
			return kind, err
		}
	}
	var v any
	if err := json.Unmarshal(line, &v); err != nil {
		return Skip, fmt.Errorf("not a trace line, nor bpftrace JSON, NetMon or tracee JSON: %v", err)
	}
	return Skip, errors.New("JSON of no known format (bpftrace -f json, NetMon, tracee)")
}

// DecoderOf names the decoder that claims line, for tests and messages.
func DecoderOf(line []byte) string {
	var p Parser
	var ev Event
	for i := range Decoders {
		if _, err := Decoders[i].Decode(&p, line, &ev); err != ErrNotMine {
			return Decoders[i].Name
		}
	}
	return ""
}

// parseClock reads "# clock monotonic=N realtime=RFC3339".
func (p *Parser) parseClock(line []byte, ev *Event) (Kind, error) {
	var c Clock
	var haveMono, haveReal bool
	for _, tok := range bytes.Fields(line[len(clockHash):]) {
		key, val, ok := bytes.Cut(tok, []byte{'='})
		if !ok {
			return Skip, fmt.Errorf("clock line: %s is not key=value", excerpt(tok))
		}
		switch string(key) {
		case "monotonic":
			n, ok := parseUint64(val)
			if !ok {
				return Skip, fmt.Errorf("clock line: monotonic=%s is not a number", excerpt(val))
			}
			c.MonotonicNS, haveMono = n, true
		case "realtime":
			t, err := time.Parse(time.RFC3339Nano, string(val))
			if err != nil {
				return Skip, fmt.Errorf("clock line: realtime=%s is not an RFC 3339 time", excerpt(val))
			}
			c.RealtimeNS, haveReal = t.UnixNano(), true
		}
	}
	if !haveMono || !haveReal {
		return Skip, errors.New("clock line needs monotonic= and realtime=")
	}
	*ev = Event{Attrs: ev.Attrs[:0], Count: c.MonotonicNS, Ret: c.RealtimeNS}
	return ClockLine, nil
}

// parseProc reads the keys of a proc line after "proc ".
func (p *Parser) parseProc(meta []byte, ev *Event) (Kind, error) {
	pr := new(Proc)
	*ev = Event{Attrs: ev.Attrs[:0], Proc: pr, Count: 1}
	havePID, haveArgs := false, false
	for rest := meta; len(rest) > 0; {
		if rest[0] == ' ' {
			rest = rest[1:]
			continue
		}
		if bytes.HasPrefix(rest, []byte("args=")) {
			pr.Args, pr.ArgsTruncated = decodeArgs(bytes.TrimRight(rest[len("args="):], "\r"))
			haveArgs = true
			break
		}
		tok := rest
		if sp := bytes.IndexByte(rest, ' '); sp >= 0 {
			tok, rest = rest[:sp], rest[sp+1:]
		} else {
			rest = nil
		}
		key, val, ok := bytes.Cut(tok, []byte{'='})
		if !ok || len(key) == 0 {
			return Skip, fmt.Errorf("proc line: %s is not key=value", excerpt(tok))
		}
		if err := p.procKey(pr, ev, key, val); err != nil {
			return Skip, fmt.Errorf("proc line: %w", err)
		}
		havePID = havePID || string(key) == "pid"
	}
	if !havePID {
		return Skip, errors.New("proc line has no pid=")
	}
	_ = haveArgs // args= is optional: a process without a command line
	return ProcLine, nil
}

// procKey reads one key of a proc line.
func (p *Parser) procKey(pr *Proc, ev *Event, key, val []byte) error {
	num32 := func(dst *uint32) error {
		n, ok := parseUint32(val)
		if !ok {
			return fmt.Errorf("%s=%s is not a number", key, excerpt(val))
		}
		*dst = n
		return nil
	}
	caps := func(dst *uint64) error {
		n, err := strconv.ParseUint(string(val), 0, 64)
		if err != nil {
			return fmt.Errorf("%s=%s is not a bit mask", key, excerpt(val))
		}
		*dst = n
		return nil
	}
	switch string(key) {
	case "pid":
		return num32(&ev.PID)
	case "ppid":
		return num32(&pr.PPID)
	case "uid":
		return num32(&pr.UID)
	case "euid":
		return num32(&pr.EUID)
	case "gid":
		return num32(&pr.GID)
	case "egid":
		return num32(&pr.EGID)
	case "auid":
		return num32(&pr.AUID)
	case "cap_effective":
		return caps(&pr.CapEffective)
	case "cap_permitted":
		return caps(&pr.CapPermitted)
	case "cap_inheritable":
		return caps(&pr.CapInheritable)
	case "secureexec":
		pr.SecureExec = string(val) == "1"
	case "start", "cgroup":
		n, ok := parseUint64(val)
		if !ok {
			return fmt.Errorf("%s=%s is not a number", key, excerpt(val))
		}
		if string(key) == "start" {
			pr.StartNS = n
		} else {
			pr.Cgroup = n
		}
	case "container":
		pr.Container = unescape(val) // written escaped, as exe_path and args are
	case "exe_path":
		pr.ExePath, pr.ExeTruncated = unescapeTrunc(val)
	case "host":
		ev.Host = p.intern(val)
	}
	// Other keys are a newer tracer's: ignored.
	return nil
}

// decodeArgs splits args= on spaces and undoes each argument's \xNN.
func decodeArgs(b []byte) ([]string, bool) {
	if len(b) == 0 {
		return nil, false
	}
	trunc := bytes.HasSuffix(b, []byte("..."))
	if trunc {
		b = b[:len(b)-3]
	}
	var args []string
	for _, a := range bytes.Split(b, []byte{' '}) {
		args = append(args, unescape(a))
	}
	return args, trunc
}

func unescapeTrunc(b []byte) (string, bool) {
	if bytes.HasSuffix(b, []byte("...")) {
		return unescape(b[:len(b)-3]), true
	}
	// A path deeper than the tracer reads keeps its "..." in front (".../lib/x/bin/prog"):
	// a full path starts with "/", so this cannot be a real one.
	return unescape(b), bytes.HasPrefix(b, []byte(".../"))
}

// unescape undoes Escape's \xNN; any other backslash stays as it is.
func unescape(b []byte) string {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+3 < len(b) && b[i+1] == 'x' {
			if v, ok := hexN(b[i+2:], 2); ok {
				out = append(out, byte(v))
				i += 3
				continue
			}
		}
		out = append(out, b[i])
	}
	return string(out)
}
