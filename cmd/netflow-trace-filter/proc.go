package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The process records of the line scripts (PROC in the template), one process's from one
// thread, in this order:
//
//	p PID TID START PPID UID EUID GID EGID AUID CAPEFF CAPPRM CAPINH CGROUP
//	pg TID SECUREEXEC LEAF0 LEAF1 PARENT         (%rx buffers)
//	pe TID DONE L0 L1 L2 L3 N0 N1 N2 N3          (1 to 4 of them)
//	pa TID 0 LEN A0 A1 A2 A3
//	pa TID 256 LEN A0 A1 A2 A3                   (the last)
//
// The filter prints them as one proc line of docs/line-format.md at the last.
type procRec struct {
	head   []string // p's fields after "p"
	sec    string
	leaf   []byte // the cgroup's name
	parent []byte // its parent's
	comps  [][]byte
	done   bool
	argv   []byte
	argLen int
}

// Bytes of argv and components of the exe path the scripts read at most.
const (
	argvRead  = 512
	compRead  = 64
	procDepth = 16
	// maxProcs bounds the processes whose records are half read (a thread's records come
	// together, so a handful at a time).
	maxProcs = 1024
)

var procHeadKeys = [...]string{"pid", "tid", "start", "ppid", "uid", "euid", "gid", "egid", "auid", "cap_effective", "cap_permitted", "cap_inheritable", "cgroup"}

// isProcRecord matches the start of a process record.
func isProcRecord(b []byte) bool {
	return bytes.HasPrefix(b, []byte("p ")) || bytes.HasPrefix(b, []byte("pg ")) ||
		bytes.HasPrefix(b, []byte("pe ")) || bytes.HasPrefix(b, []byte("pa "))
}

// procRecord takes one process record; false when it is malformed.
func (f *filter) procRecord(b []byte) bool {
	kind, rest, _ := bytes.Cut(b, []byte(" "))
	fields := strings.Split(string(rest), " ")
	if string(kind) == "p" {
		if len(fields) != len(procHeadKeys) || !allDigitsOrHex(fields) {
			return false
		}
		if len(f.procs) >= maxProcs {
			for k := range f.procs {
				delete(f.procs, k)
				break
			}
		}
		f.procs[fields[1]] = &procRec{head: fields}
		return true
	}
	if len(fields) < 1 {
		return false
	}
	p := f.procs[fields[0]]
	if p == nil {
		return false
	}
	switch string(kind) {
	case "pg":
		if len(fields) != 5 {
			return false
		}
		p.sec = fields[1]
		p.leaf = cutNUL(append(unhex(fields[2]), unhex(fields[3])...))
		p.parent = cutNUL(unhex(fields[4]))
	case "pe":
		if len(fields) != 10 || p.done {
			return false
		}
		p.done = fields[1] == "1"
		for i := 0; i < 4; i++ {
			n, err := strconv.Atoi(fields[2+i])
			if err != nil {
				return false
			}
			if n == 0 {
				continue
			}
			c := unhex(fields[6+i])
			if n > len(c) {
				c = append(c, "..."...)
			}
			p.comps = append(p.comps, c)
		}
	case "pa":
		if len(fields) != 7 {
			return false
		}
		n, err := strconv.Atoi(fields[2])
		if err != nil {
			return false
		}
		p.argLen = n
		for _, a := range fields[3:] {
			p.argv = append(p.argv, unhex(a)...)
		}
		if fields[1] == strconv.Itoa(argvRead/2) {
			delete(f.procs, fields[0])
			f.writeProc(p)
		}
	default:
		return false
	}
	return true
}

// writeProc prints the proc line of p.
func (f *filter) writeProc(p *procRec) {
	w := f.out
	h := p.head
	w.WriteString("proc pid=" + h[0] + " ppid=" + h[3] + " uid=" + h[4] + " euid=" + h[5] +
		" gid=" + h[6] + " egid=" + h[7] + " auid=" + h[8])
	w.WriteString(" cap_effective=" + capHex(h[9]) + " cap_permitted=" + capHex(h[10]) +
		" cap_inheritable=" + capHex(h[11]))
	w.WriteString(" secureexec=" + p.sec + " start=" + h[2] + " cgroup=" + h[12])
	w.WriteString(" container=" + containerID(p.leaf, p.parent))
	w.WriteString(" exe_path=")
	w.WriteString(escapeName(exePath(p.comps, p.done)))
	w.WriteString(" args=")
	w.WriteString(argsText(p.argv, p.argLen))
	w.WriteByte('\n')
}

// capHex is a capability set as proc lines write it: 0x and hex digits, or 0.
func capHex(v string) string {
	if v == "0" {
		return v
	}
	return "0x" + v
}

// exePath joins the components (leaf first) into the path; a walk that did not reach
// the root starts with ".../". None (a kernel thread: no mm) is the empty path.
func exePath(comps [][]byte, done bool) []byte {
	var b []byte
	if !done {
		b = append(b, "..."...)
	}
	for i := len(comps) - 1; i >= 0; i-- {
		b = append(b, '/')
		b = append(b, comps[i]...)
	}
	return b
}

// argsText is argv (NUL after each argument) as args= writes it; argLen, the length of
// the whole, beyond what was read, ends it in "...".
func argsText(argv []byte, argLen int) string {
	cut := argLen > len(argv)
	argv = bytes.TrimSuffix(argv, []byte{0})
	var b strings.Builder
	for i, a := range bytes.Split(argv, []byte{0}) {
		if i > 0 {
			b.WriteByte(' ')
		}
		for _, c := range a {
			if c <= ' ' || c == '\\' || c > '~' {
				fmt.Fprintf(&b, "\\x%02x", c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	if cut {
		b.WriteString("...")
	}
	return b.String()
}

// escapeName writes a name as exe= is: bytes outside printable ASCII as \xNN, and every
// byte so when the name holds a space or a backslash.
func escapeName(s []byte) string {
	all := bytes.ContainsAny(s, " \\")
	var b strings.Builder
	for _, c := range s {
		if all || c < ' ' || c > '~' {
			fmt.Fprintf(&b, "\\x%02x", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// containerID is the container id in a cgroup's name (leaf) or its parent's: the 64 hex
// digits of docker-, cri-containerd-, crio- or libpod-<id>.scope, or of /docker/<id>.
func containerID(leaf, parent []byte) string {
	s := string(leaf)
	if strings.HasSuffix(s, ".scope") {
		s = strings.TrimSuffix(s, ".scope")
		for _, p := range []string{"docker-", "cri-containerd-", "crio-", "libpod-"} {
			if id, ok := strings.CutPrefix(s, p); ok && isHex64(id) {
				return id
			}
		}
		return ""
	}
	if string(parent) == "docker" && isHex64(s) {
		return s
	}
	return ""
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func allDigitsOrHex(fields []string) bool {
	for _, s := range fields {
		if s == "" {
			return false
		}
		for _, c := range []byte(s) {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// unhex decodes a %rx buffer ("\x41\x42"); anything else in it is kept as it is.
func unhex(s string) []byte {
	b := make([]byte, 0, len(s)/4)
	for i := 0; i < len(s); {
		if i+4 <= len(s) && s[i] == '\\' && s[i+1] == 'x' {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b = append(b, byte(v))
				i += 4
				continue
			}
		}
		b = append(b, s[i])
		i++
	}
	return b
}

func cutNUL(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// writeClock prints the clock line, once, before the first event line.
func (f *filter) writeClock() {
	if f.clocked {
		return
	}
	f.clocked = true
	mono, now := f.clock()
	fmt.Fprintf(f.out, "# clock monotonic=%d realtime=%s\n", mono, now.UTC().Format(time.RFC3339Nano))
}

// clockSource is what the clock line reads (tests fix it).
var clockSource = readClock
