package tracer_test

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// This file holds what the whole-connection tests (close_test.go, retrans_test.go) share:
// a reader of version 2 trace lines that follows the grammar of docs/line-format.md rather
// than one tracer's key order, and netpeer processes driven line by line.

// v2line is one trace line of version 2: an opening line (→ or ←) or a close line.
type v2line struct {
	raw           string
	close         bool
	remote, local netip.AddrPort // unmapped: [::ffff:a.b.c.d] reads as a.b.c.d
	out           bool           // → connected; ← accepted
	kv            map[string]string
	comm          string
}

var v2RE = regexp.MustCompile(`^(close )?` + endpointRE + `(→|←)` + endpointRE + `\|(.*)$`)

// parseV2 reads line by the grammar: "close "?, remote endpoint, arrow, local endpoint, "|",
// key=value pairs without spaces, comm= last running to the end of the line; pid= required.
func parseV2(line string) (v2line, error) {
	m := v2RE.FindStringSubmatch(line)
	if m == nil {
		return v2line{}, fmt.Errorf("not a trace line: %q", line)
	}
	l := v2line{raw: line, close: m[1] != "", out: m[4] == "→", kv: map[string]string{}}
	var err error
	if l.remote, err = endpoint(m[2], m[3]); err != nil {
		return v2line{}, err
	}
	if l.local, err = endpoint(m[5], m[6]); err != nil {
		return v2line{}, err
	}
	rest := m[7]
	for !strings.HasPrefix(rest, "comm=") {
		tok, after, ok := strings.Cut(rest, " ")
		if !ok {
			return v2line{}, fmt.Errorf("no comm= at the end: %q", line)
		}
		k, v, ok := strings.Cut(tok, "=")
		if !ok || k == "" {
			return v2line{}, fmt.Errorf("%q is no key=value: %q", tok, line)
		}
		if _, dup := l.kv[k]; dup {
			return v2line{}, fmt.Errorf("key %s twice: %q", k, line)
		}
		l.kv[k] = v
		rest = after
	}
	l.comm = strings.TrimPrefix(rest, "comm=")
	if _, ok := l.kv["pid"]; !ok {
		return v2line{}, fmt.Errorf("no pid=: %q", line)
	}
	return l, nil
}

// num is the integer value of key, and whether the line has it as an integer.
func (l v2line) num(key string) (int64, bool) {
	v, ok := l.kv[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

func (l v2line) pid() int {
	n, _ := l.num("pid")
	return int(n)
}

// v2Lines returns the tracer's stdout lines so far that parse as version 2 lines.
func v2Lines(tr *tracer) []v2line {
	tr.mu.Lock()
	lines := append([]string(nil), tr.stdout...)
	tr.mu.Unlock()
	var out []v2line
	for _, s := range lines {
		if l, err := parseV2(s); err == nil {
			out = append(out, l)
		}
	}
	return out
}

// waitV2 returns the first line that matches, polling until deadline (checking once at
// least); false (and an error reported) when none came.
func waitV2(t *testing.T, tr *tracer, what string, deadline time.Time, match func(v2line) bool) (v2line, bool) {
	t.Helper()
	for {
		for _, l := range v2Lines(tr) {
			if match(l) {
				return l, true
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("no trace line %s; trace so far:\n%s", what, tr.text(&tr.stdout))
			return v2line{}, false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// peer is a running netpeer (server or client), perhaps under ip netns exec (which execs
// it: the same pid), whose stdout is collected line by line.
type peer struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	pid   int
	addr  netip.AddrPort // a server's listening address
	done  chan struct{}  // closed when stdout ends

	mu    sync.Mutex
	lines []string
}

// startPeer runs argv and waits for netpeer's first line (pid=, and addr= for a server).
func startPeer(t *testing.T, argv ...string) *peer {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	p := &peer{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	endAtCleanup(t, cmd, stdin)
	first := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			if len(p.lines) == 0 {
				first <- sc.Text()
			}
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
		}
	}()
	var line string
	select {
	case line = <-first:
	case <-p.done:
		t.Fatalf("%v printed nothing: %v", argv, cmd.Wait())
	case <-time.After(startTimeout):
		t.Fatalf("%v printed nothing within %v", argv, startTimeout)
	}
	f := strings.Fields(line)
	require.NotEmpty(t, f, "%v: %q", argv, line)
	_, err = fmt.Sscanf(f[0], "pid=%d", &p.pid)
	require.NoError(t, err, "%v: %q", argv, line)
	require.Equal(t, cmd.Process.Pid, p.pid, "netpeer's own pid, as it says: %q", line)
	if len(f) > 1 {
		p.addr, err = netip.ParseAddrPort(strings.TrimPrefix(f[1], "addr="))
		require.NoError(t, err, "%v: %q", argv, line)
	}
	return p
}

// endAtCleanup ends a started netpeer when its test ends: closing its stdin ends it; one
// that has not exited within stopTimeout is killed. No deadline before that: a server
// started before a tracer lives as long as its test needs it (on a slow guest, several
// tracer starts).
func endAtCleanup(t *testing.T, cmd *exec.Cmd, stdin io.Closer) {
	exited := make(chan error, 1)
	t.Cleanup(func() {
		stdin.Close()
		go func() { exited <- cmd.Wait() }()
		select {
		case <-exited:
		case <-time.After(stopTimeout):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
}

// release writes one line to the peer's stdin: a -hold peer goes on.
func (p *peer) release(t *testing.T) {
	t.Helper()
	_, err := io.WriteString(p.stdin, "\n")
	require.NoError(t, err)
}

// wait waits for the peer to exit and requires exit status 0.
func (p *peer) wait(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(startTimeout):
		t.Fatalf("netpeer %d still running after %v:\n%s", p.pid, startTimeout, p.text())
	}
	require.NoError(t, p.cmd.Wait(), "netpeer %d:\n%s", p.pid, p.text())
}

func (p *peer) text() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// waitLines waits until the peer has printed n lines starting with prefix, and returns them.
func (p *peer) waitLines(t *testing.T, prefix string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		p.mu.Lock()
		var got []string
		for _, l := range p.lines {
			if strings.HasPrefix(l, prefix) {
				got = append(got, l)
			}
		}
		p.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("netpeer %d: %d lines %q within %v, want %d:\n%s", p.pid, len(got), prefix, startTimeout, n, p.text())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// end is one end of a connection as netpeer saw it, from its "closed" line: what it wrote
// and read, and the kernel's tcpi_total_retrans just before close(2).
type end struct {
	local, remote netip.AddrPort
	sent, recv    int64
	retrans       int64
	err           string
}

var closedRE = regexp.MustCompile(`^closed local=(\S+) remote=(\S+) sent=(\d+) recv=(\d+) retrans=(\d+) bytes_acked=\d+ bytes_received=\d+(?: err=(\S+))?$`)

func parseClosed(t *testing.T, line string) end {
	t.Helper()
	m := closedRE.FindStringSubmatch(line)
	require.NotNil(t, m, "netpeer: %q", line)
	ap := func(s string) netip.AddrPort {
		a, err := netip.ParseAddrPort(s)
		require.NoError(t, err, line)
		return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	}
	e := end{local: ap(m[1]), remote: ap(m[2]), err: m[6]}
	e.sent, _ = strconv.ParseInt(m[3], 10, 64)
	e.recv, _ = strconv.ParseInt(m[4], 10, 64)
	e.retrans, _ = strconv.ParseInt(m[5], 10, 64)
	return e
}

// closedEnds returns the peer's "closed" lines, n of them at least, parsed.
func (p *peer) closedEnds(t *testing.T, n int) []end {
	t.Helper()
	var ends []end
	for _, l := range p.waitLines(t, "closed ", n) {
		ends = append(ends, parseClosed(t, l))
	}
	return ends
}
