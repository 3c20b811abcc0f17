package tracer_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Generous: bpftrace compiles and attaches in a few seconds, but the machine
// may be busy, and in an emulated guest (scripts/test-kernels, TCG) beside
// TestScriptsCompile a start took 121 s. No test outcome depends on how fast
// anything is.
const (
	startTimeout = 5 * time.Minute
	lineTimeout  = time.Minute
	stopTimeout  = time.Minute
)

// TestLiveTracepoint runs scripts/netflow-trace --variant tracepoint against
// real loopback connections between two separate processes.
func TestLiveTracepoint(t *testing.T) {
	testLive(t, "tracepoint")
}

// TestLiveKprobe does the same with the kprobe script, where the kernel has
// kprobes (CONFIG_KPROBES).
func TestLiveKprobe(t *testing.T) {
	if !haveKprobes() {
		t.Skip("this kernel has no kprobes; netflow.bt is compile-checked by TestScriptsCompile and run live by scripts/test-kernels")
	}
	testLive(t, "kprobe")
}

// event is one parsed trace line.
type event struct {
	raw           string
	remote, local netip.AddrPort // unmapped: [::ffff:a.b.c.d] reads as a.b.c.d
	out           bool           // → connect; ← accept
	pid, tid      int
	ret           int
	hasRet        bool
	exe           string // decoded: \xNN escapes turned back into bytes
	exeRaw        string // as printed
	cgroup        uint64
	conn          string // the connection's identity (line format 2)
	comm          string // without the trailing \x00 padding
}

var (
	endpointRE = `(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]):(\d{1,5})`
	lineRE     = regexp.MustCompile(`^` + endpointRE + `(→|←)` + endpointRE +
		`\|pid=(\d+) tid=(\d+) uid=(\d+)(?: ret=(-?\d+))? exe=([\x21-\x7e]*) cgroup=(\d+) conn=([0-9a-f]+-[0-9a-f]+) (?:reconnect=1 )?comm=([\x20-\x7e]+)$`)
	lostRE = regexp.MustCompile(`^# lost \d+ events$`)
	// A close line (docs/line-format.md, version 2), and the version line the tracers print
	// first: the rest of stdout, besides open lines.
	closeRE = regexp.MustCompile(`^close ` + endpointRE + `(→|←)` + endpointRE +
		`\|pid=\d+ uid=\d+ conn=[0-9a-f]+-[0-9a-f]+ end=(?:local|peer|reset-sent|reset-recv|timeout|never) dur_us=\d+ sent=\d+ recv=\d+ retrans=\d+(?: connect_us=\d+)? comm=[\x20-\x7e]+$`)
	versionLine = "# line format 3"
)

// endpoint reads a line's host and port, an IPv4-mapped address as IPv4 (as readers do).
func endpoint(host, port string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(host + ":" + port)
	if err != nil {
		return ap, err
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

func parseLine(line string) (event, error) {
	m := lineRE.FindStringSubmatch(line)
	if m == nil {
		return event{}, fmt.Errorf("not a trace line: %q", line)
	}
	remote, err := endpoint(m[1], m[2])
	if err != nil {
		return event{}, err
	}
	local, err := endpoint(m[4], m[5])
	if err != nil {
		return event{}, err
	}
	e := event{raw: line, remote: remote, local: local, out: m[3] == "→"}
	e.pid, _ = strconv.Atoi(m[6])
	e.tid, _ = strconv.Atoi(m[7])
	if m[9] != "" {
		e.hasRet = true
		e.ret, _ = strconv.Atoi(m[9])
	}
	e.exeRaw = m[10]
	e.exe, err = unescape(m[10])
	if err != nil {
		return event{}, fmt.Errorf("exe=: %v: %q", err, line)
	}
	e.cgroup, _ = strconv.ParseUint(m[11], 10, 64)
	e.conn = m[12]
	e.comm = m[13]
	for strings.HasSuffix(e.comm, `\x00`) {
		e.comm = strings.TrimSuffix(e.comm, `\x00`)
	}
	if e.out != e.hasRet {
		return event{}, fmt.Errorf("ret= must be on → lines and only there: %q", line)
	}
	return e, nil
}

// unescape turns the tracers' \xNN escapes back into bytes; any other
// backslash is an error (exe= escapes its backslashes).
func unescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+3 >= len(s) || s[i+1] != 'x' {
			return "", fmt.Errorf("bad escape at %d", i)
		}
		n, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
		if err != nil {
			return "", fmt.Errorf("bad escape at %d", i)
		}
		b.WriteByte(byte(n))
		i += 3
	}
	return b.String(), nil
}

// tracer is a running scripts/netflow-trace.
type tracer struct {
	cmd     *exec.Cmd
	started chan struct{} // closed at the stderr "tracing ..." line
	done    chan struct{} // closed when stdout and stderr are drained

	mu     sync.Mutex
	stdout []string
	stderr []string
}

func startTracer(t *testing.T, root string, args ...string) *tracer {
	t.Helper()
	tr := spawnTracer(t, root, args...)
	tr.waitStarted(t)
	return tr
}

// spawnTracer starts scripts/netflow-trace without waiting for it to attach (waitStarted
// does), so that two tracers can compile and attach at the same time.
func spawnTracer(t *testing.T, root string, args ...string) *tracer {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, "scripts", "netflow-trace"), args...)
	cmd.Dir = root
	// Its own process group, so that cleanup can reach bpftrace too; the
	// SIGINT under test goes to the script alone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	tr := &tracer{cmd: cmd, started: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
		}
	})

	var wg sync.WaitGroup
	wg.Add(2)
	read := func(r io.Reader, dst *[]string, onLine func(string)) {
		defer wg.Done()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			tr.mu.Lock()
			*dst = append(*dst, sc.Text())
			tr.mu.Unlock()
			onLine(sc.Text())
		}
	}
	var once sync.Once
	go read(stdout, &tr.stdout, func(string) {})
	go read(stderr, &tr.stderr, func(line string) {
		if strings.HasPrefix(line, "tracing ") {
			once.Do(func() { close(tr.started) })
		}
	})
	go func() { wg.Wait(); close(tr.done) }()
	return tr
}

// waitStarted waits for the tracer's "tracing ..." line, until startTimeout.
func (tr *tracer) waitStarted(t *testing.T) {
	t.Helper()
	cmd := tr.cmd
	select {
	case <-tr.started:
	case <-tr.done:
		_ = cmd.Wait()
		t.Fatalf("netflow-trace exited before tracing: %v\nstderr:\n%s", cmd.ProcessState, tr.text(&tr.stderr))
	case <-time.After(startTimeout):
		t.Fatalf("netflow-trace did not report tracing within %v\nstderr:\n%s", startTimeout, tr.text(&tr.stderr))
	}
}

func (tr *tracer) text(lines *[]string) string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return strings.Join(*lines, "\n")
}

// waitFor returns the first stdout line that parses and matches, polling
// until lineTimeout.
func (tr *tracer) waitFor(t *testing.T, what string, match func(event) bool) (event, bool) {
	t.Helper()
	deadline := time.Now().Add(lineTimeout)
	for {
		tr.mu.Lock()
		lines := append([]string(nil), tr.stdout...)
		tr.mu.Unlock()
		for _, l := range lines {
			if e, err := parseLine(l); err == nil && match(e) {
				return e, true
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("no trace line %s within %v; trace so far:\n%s", what, lineTimeout, strings.Join(lines, "\n"))
			return event{}, false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGINT, as Ctrl-C would, and waits for a clean exit.
func (tr *tracer) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, tr.cmd.Process.Signal(syscall.SIGINT))
	select {
	case <-tr.done:
	case <-time.After(stopTimeout):
		t.Fatalf("netflow-trace still running %v after SIGINT", stopTimeout)
	}
	err := tr.cmd.Wait()
	assert.NoError(t, err, "netflow-trace must exit 0 after SIGINT; stderr:\n%s", tr.text(&tr.stderr))
}

// server is a running netpeer server.
type server struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	pid   int
	addr  netip.AddrPort
}

func startServer(t *testing.T, netpeer, listen string, n int) *server {
	t.Helper()
	cmd := exec.Command(netpeer, "server", "-listen", listen, "-n", strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	s := &server{cmd: cmd, stdin: stdin}
	endAtCleanup(t, cmd, stdin)

	first, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "netpeer server printed nothing")
	var addr string
	_, err = fmt.Sscanf(first, "pid=%d addr=%s", &s.pid, &addr)
	require.NoError(t, err, "netpeer server: %q", first)
	require.Equal(t, cmd.Process.Pid, s.pid)
	s.addr, err = netip.ParseAddrPort(addr)
	require.NoError(t, err)
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return s
}

// conn is one connection as the client saw it.
type conn struct{ local, remote netip.AddrPort }

// runClient connects n times and returns its pid and connections.
func runClient(t *testing.T, netpeer, addr string, n int, extra ...string) (int, []conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	args := append([]string{"client", "-connect", addr, "-n", strconv.Itoa(n)}, extra...)
	cmd := exec.CommandContext(ctx, netpeer, args...)
	out, err := cmd.Output()
	require.NoError(t, err, "netpeer %v:\n%s", args, out)
	var pid int
	var conns []conn
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var local, remote string
		switch {
		case strings.HasPrefix(line, "pid="):
			_, err := fmt.Sscanf(line, "pid=%d", &pid)
			require.NoError(t, err)
		case strings.HasPrefix(line, "ok local="):
			_, err := fmt.Sscanf(line, "ok local=%s remote=%s", &local, &remote)
			require.NoError(t, err)
			l, err := netip.ParseAddrPort(local)
			require.NoError(t, err)
			r, err := netip.ParseAddrPort(remote)
			require.NoError(t, err)
			conns = append(conns, conn{
				local:  netip.AddrPortFrom(l.Addr().Unmap(), l.Port()),
				remote: netip.AddrPortFrom(r.Addr().Unmap(), r.Port()),
			})
		}
	}
	require.Equal(t, cmd.Process.Pid, pid, "client pid")
	return pid, conns
}

func buildNetpeer(t *testing.T, root string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "netpeer")
	buildProgram(t, root, "./dev/netpeer", bin)
	return bin
}

// closedPort returns a loopback port that nothing listens on.
func closedPort(t *testing.T, network, host string) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen(network, net.JoinHostPort(host, "0"))
	require.NoError(t, err)
	ap := netip.MustParseAddrPort(ln.Addr().String())
	require.NoError(t, ln.Close())
	return ap
}

func ipv6Loopback() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

func testLive(t *testing.T, variant string) {
	requireBPF(t)
	root := repoRoot(t)
	netpeer := buildNetpeer(t, root)
	if !ipv6Loopback() {
		t.Fatal("no IPv6 loopback ([::1]); the live test needs it")
	}

	cgroup, haveCgroup := ownCgroupID(t)

	// --comm keeps other traffic on the machine out of the trace (and out of
	// the perf buffer); both peers are named netpeer.
	tr := startTracer(t, root, "--variant", variant, "--comm", "netpeer")
	if variant == "kprobe" {
		requireKprobesAttached(t, "tcp_v4_connect", "tcp_v6_connect", "inet_csk_accept")
	}
	stderrWant := fmt.Sprintf("tracing TCP connect/accept with %s probes; Ctrl-C to stop", variant)

	type pair struct {
		name      string
		listen    string // server address
		dialHost  string // connect to this host at the server's port ("" = server's address)
		n         int
		bracketed bool     // IPv6 on the wire: both lines in brackets
		mappedIn  bool     // ← line from a dual-stack socket: [::ffff:127.0.0.1]
		extra     []string // more netpeer client flags
	}
	pairs := []pair{
		{name: "ipv4", listen: "127.0.0.1:0", n: 2},
		{name: "ipv6", listen: "[::1]:0", n: 1, bracketed: true},
		{name: "dual-stack listener reached over ipv4", listen: "[::]:0", dialHost: "127.0.0.1", n: 1, mappedIn: true},
		// connect(2) twice on one socket, as hiredis does: one connection, one → line.
		{name: "ipv4 connect again once writable", listen: "127.0.0.1:0", n: 2, extra: []string{"-reconnect"}},
	}
	type result struct {
		pair
		server    *server
		clientPid int
		conns     []conn
	}
	var results []result
	for _, p := range pairs {
		s := startServer(t, netpeer, p.listen, p.n)
		addr := s.addr.String()
		if p.dialHost != "" {
			addr = net.JoinHostPort(p.dialHost, strconv.Itoa(int(s.addr.Port())))
		}
		pid, conns := runClient(t, netpeer, addr, p.n, p.extra...)
		require.Len(t, conns, p.n)
		results = append(results, result{pair: p, server: s, clientPid: pid, conns: conns})
	}

	// Refused: a blocking connect(2) returns -ECONNREFUSED itself; Go's
	// non-blocking dial returns EINPROGRESS and learns the refusal later.
	refused4 := closedPort(t, "tcp4", "127.0.0.1")
	refusedBlockingPid, _ := runClient(t, netpeer, refused4.String(), 1, "-blocking", "-expect-fail")
	refused6 := closedPort(t, "tcp6", "::1")
	refusedDialPid, _ := runClient(t, netpeer, refused6.String(), 1, "-expect-fail")
	// The second connect(2) returns the refusal again: still one attempt.
	refusedAgainPid, _ := runClient(t, netpeer, refused4.String(), 1, "-reconnect", "-expect-fail")

	for _, r := range results {
		for i, c := range r.conns {
			t.Run(fmt.Sprintf("%s/%d", r.name, i), func(t *testing.T) {
				out, ok := tr.waitFor(t, fmt.Sprintf("→ pid=%d %v→%v", r.clientPid, c.remote, c.local), func(e event) bool {
					return e.out && e.pid == r.clientPid && e.local.Port() == c.local.Port()
				})
				if ok {
					assert.Equal(t, "netpeer", out.exe, out.raw)
					if haveCgroup {
						assert.Equal(t, cgroup, out.cgroup, "cgroup= is the client's cgroup v2 id: %s", out.raw)
					}
					assert.Equal(t, c.remote, out.remote, "→ remote is the server: %s", out.raw)
					assert.Equal(t, c.local, out.local, "→ local is the client's end: %s", out.raw)
					assert.Equal(t, "netpeer", out.comm, out.raw)
					assert.Contains(t, []int{0, -115}, out.ret, "a successful connect: %s", out.raw)
					assert.Equal(t, r.bracketed, strings.HasPrefix(out.raw, "["), out.raw)
				}
				in, ok := tr.waitFor(t, fmt.Sprintf("← pid=%d from %v", r.server.pid, c.local), func(e event) bool {
					return !e.out && e.remote.Port() == c.local.Port() && e.local.Port() == c.remote.Port()
				})
				if ok {
					assert.Equal(t, "netpeer", in.exe, in.raw)
					if haveCgroup {
						assert.Equal(t, cgroup, in.cgroup, in.raw)
					}
					assert.Equal(t, r.server.pid, in.pid, "← is the accepting process, not the client: %s", in.raw)
					assert.NotEqual(t, r.clientPid, in.pid, in.raw)
					assert.Equal(t, c.local, in.remote, "← remote is the client's end: %s", in.raw)
					assert.Equal(t, c.remote, in.local, "← local is the server's end: %s", in.raw)
					assert.Equal(t, "netpeer", in.comm, in.raw)
					assert.Equal(t, r.bracketed || r.mappedIn, strings.HasPrefix(in.raw, "["), in.raw)
					if r.mappedIn {
						assert.True(t, strings.HasPrefix(in.raw, "[::ffff:127.0.0.1]:"), in.raw)
					}
					if ok && out.raw != "" {
						assert.Equal(t, out.remote.Port(), in.local.Port(), "ports match across the two lines")
						assert.Equal(t, out.local.Port(), in.remote.Port(), "ports match across the two lines")
					}
				}
			})
		}
	}

	t.Run("refused blocking ipv4", func(t *testing.T) {
		e, ok := tr.waitFor(t, fmt.Sprintf("→ pid=%d to %v", refusedBlockingPid, refused4), func(e event) bool {
			return e.out && e.pid == refusedBlockingPid
		})
		if !ok {
			return
		}
		assert.Equal(t, refused4, e.remote, e.raw)
		assert.Zero(t, e.local.Port(), "a failed connect has local port 0: %s", e.raw)
		// The local address the SYN left from, as the kprobe variant sees it, not the
		// unspecified address the socket has by the time connect(2) returns.
		assert.Equal(t, refused4.Addr(), e.local.Addr(), "local address of a failed connect: %s", e.raw)
		// kprobe: tcp_v4_connect returns 0 once the SYN is out, and the line waits for the
		// RST (ASYNC); tracepoint: connect(2) returns the refusal itself.
		assert.Equal(t, -int(syscall.ECONNREFUSED), e.ret, e.raw)
	})
	t.Run("refused non-blocking ipv6", func(t *testing.T) {
		e, ok := tr.waitFor(t, fmt.Sprintf("→ pid=%d to %v", refusedDialPid, refused6), func(e event) bool {
			return e.out && e.pid == refusedDialPid
		})
		if !ok {
			return
		}
		assert.Equal(t, refused6, e.remote, e.raw)
		assert.True(t, strings.HasPrefix(e.raw, "[::1]:"), e.raw)
		switch {
		case e.ret == -int(syscall.EINPROGRESS):
			// The RST was not processed before connect(2) returned (softirq
			// deferred to ksoftirqd on a busy machine): documented, allowed.
			t.Logf("refusal not yet known at return: %s", e.raw)
		default:
			assert.Equal(t, -int(syscall.ECONNREFUSED), e.ret, e.raw)
			assert.Zero(t, e.local.Port(), "a failed connect has local port 0: %s", e.raw)
		}
	})

	t.Run("refused ipv4 connect again", func(t *testing.T) {
		e, ok := tr.waitFor(t, fmt.Sprintf("→ pid=%d to %v", refusedAgainPid, refused4), func(e event) bool {
			return e.out && e.pid == refusedAgainPid
		})
		if ok {
			assert.Equal(t, refused4, e.remote, e.raw)
		}
	})

	tr.stop(t)
	t.Logf("trace:\n%s", tr.text(&tr.stdout))

	// Exactly one line per connection and side: a connect(2) repeated on the
	// same socket (-reconnect) must not print a second → line.
	t.Run("one line per connection", func(t *testing.T) {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		count := func(out bool, pid int) int {
			n := 0
			for _, l := range tr.stdout {
				if e, err := parseLine(l); err == nil && e.out == out && e.pid == pid {
					n++
				}
			}
			return n
		}
		for _, r := range results {
			assert.Equal(t, len(r.conns), count(true, r.clientPid), "→ lines of %s client pid %d", r.name, r.clientPid)
			assert.Equal(t, len(r.conns), count(false, r.server.pid), "← lines of %s server pid %d", r.name, r.server.pid)
		}
		for _, pid := range []int{refusedBlockingPid, refusedDialPid, refusedAgainPid} {
			assert.Equal(t, 1, count(true, pid), "→ lines of refused client pid %d", pid)
		}
	})

	t.Run("stdout holds trace lines only", func(t *testing.T) {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		require.NotEmpty(t, tr.stdout)
		require.Equal(t, versionLine, tr.stdout[0], "the version line first")
		require.Greater(t, len(tr.stdout), 1)
		assert.Regexp(t, clockRE, tr.stdout[1], "the clock line next")
		for _, l := range tr.stdout[2:] {
			if lostRE.MatchString(l) || closeRE.MatchString(l) {
				continue
			}
			if strings.HasPrefix(l, "proc ") {
				parseProc(t, l)
				continue
			}
			_, err := parseLine(l)
			assert.NoError(t, err)
			assert.NotContains(t, l, "Attaching")
		}
	})
	t.Run("stderr holds the status line", func(t *testing.T) {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		require.NotEmpty(t, tr.stderr)
		assert.Equal(t, stderrWant, tr.stderr[0])
		for _, l := range tr.stderr[1:] {
			assert.True(t, strings.HasPrefix(l, "netflow-trace: lost "), "unexpected stderr line %q", l)
		}
	})
}

// TestLiveCommEscaping: a process may name itself anything, newline
// included (prctl PR_SET_NAME); its line must stay one line, with the
// unprintable bytes as \xNN and "|", "=", " " kept as they are. It also
// checks that --comm filters in the kernel: only the renamed client shows.
func TestLiveCommEscaping(t *testing.T) {
	requireBPF(t)
	root := repoRoot(t)
	netpeer := buildNetpeer(t, root)
	const name = "nf\n|x=y z\t"
	const printed = `nf\x0a|x=y z\x09`

	tr := startTracer(t, root, "--variant", "tracepoint", "--comm", name)
	s := startServer(t, netpeer, "127.0.0.1:0", 1)
	pid, _ := runClient(t, netpeer, s.addr.String(), 1, "-comm", name)
	e, ok := tr.waitFor(t, fmt.Sprintf("→ pid=%d", pid), func(e event) bool { return e.out && e.pid == pid })
	tr.stop(t)
	t.Logf("trace:\n%s", tr.text(&tr.stdout))
	require.True(t, ok)
	assert.Equal(t, printed, e.comm, e.raw)
	assert.Equal(t, s.addr, e.remote, e.raw)
	assert.Equal(t, 0, e.ret, e.raw)

	tr.mu.Lock()
	defer tr.mu.Unlock()
	var opens []string
	for _, l := range tr.stdout {
		if l != versionLine && !closeRE.MatchString(l) && !clockRE.MatchString(l) && !strings.HasPrefix(l, "proc ") {
			opens = append(opens, l)
		}
	}
	assert.Len(t, opens, 1, "only the renamed client passes --comm; one connect, one line")
	// Its close line: the same conn= and the name escaped the same way, on one line.
	var closes []string
	for _, l := range tr.stdout {
		if closeRE.MatchString(l) && strings.Contains(l, fmt.Sprintf("|pid=%d ", pid)) {
			closes = append(closes, l)
		}
	}
	if assert.Len(t, closes, 1, "the client's close line") {
		assert.Contains(t, closes[0], " conn="+e.conn+" ")
		assert.True(t, strings.HasSuffix(closes[0], " comm="+printed) || strings.Contains(closes[0], " comm="+printed+`\x00`), closes[0])
	}
}

// TestLiveStopDuringStartup: a SIGINT or SIGTERM at any moment of
// scripts/netflow-trace's start (before bpftrace runs, while the pipes are
// set up, while bpftrace compiles, the moment its signal handler is in place
// while it attaches, and once it traces) must stop everything: exit status 0,
// nothing on stdout, its temporary directory gone, no process of it left.
// Many tries at delays spread over the first 1.5 s, each signal sent to the
// script alone (kill PID) or to its whole process group (a terminal's Ctrl-C,
// GNU timeout's SIGTERM), so that a race is hit rather than missed by luck.
func TestLiveStopDuringStartup(t *testing.T) {
	requireBPF(t)
	root := repoRoot(t)
	// Not a connection of this test: no line may appear.
	port := strconv.Itoa(int(closedPort(t, "tcp4", "127.0.0.1").Port()))
	sigs := []syscall.Signal{syscall.SIGINT, syscall.SIGTERM}
	const n = 40
	for i := 0; i < n; i++ {
		delay := time.Duration(i) * 1500 * time.Millisecond / (n - 1)
		sig := sigs[i%2]
		group := i%4 >= 2
		t.Run(fmt.Sprintf("%v/%v/group=%v", delay, sig, group), func(t *testing.T) {
			t.Parallel()
			stopDuringStartup(t, root, port, sig, group, nil, func(*testing.T, string) { time.Sleep(delay) })
		})
	}
	// bpftrace has its handler, and attaches: an early signal there is seen
	// only through its next event.
	for _, sig := range sigs {
		t.Run(fmt.Sprintf("attaching/%v", sig), func(t *testing.T) {
			t.Parallel()
			stopDuringStartup(t, root, port, sig, false, nil, func(t *testing.T, token string) {
				waitProc(t, token, "bpftrace with its signal handler", func(p procInfo) bool {
					return p.comm == "bpftrace" && p.sigCaught&(1<<(syscall.SIGINT-1)) != 0
				})
			})
		})
	}
}

// stopDuringStartup starts netflow-trace, waits until its own trap is set
// (a signal before a shell's first command cannot be caught by anything),
// then until wait returns, sends sig, and checks the stop. env is added to
// the script's environment.
func stopDuringStartup(t *testing.T, root, port string, sig syscall.Signal, group bool, env []string, wait func(t *testing.T, token string)) {
	tmp := t.TempDir()
	token := fmt.Sprintf("NETFLOW_STOP_TEST=%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "_"))
	cmd := exec.Command(filepath.Join(root, "scripts", "netflow-trace"), "--variant", "tracepoint", "--port", port)
	cmd.Dir = root
	cmd.Env = append(append(os.Environ(), "TMPDIR="+tmp, token), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	pid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		for _, p := range tokenProcs(token) {
			_ = syscall.Kill(-p.pid, syscall.SIGKILL) // the leader of its own group (setsid)
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	})

	waitProc(t, token, "the script's trap", func(p procInfo) bool {
		return p.pid == pid && p.sigCaught&(1<<(syscall.SIGTERM-1)) != 0
	})
	wait(t, token)
	target := pid
	if group {
		target = -pid
	}
	require.NoError(t, syscall.Kill(target, sig))

	select {
	case err := <-done:
		assert.NoError(t, err, "exit status 0 after %v; stderr:\n%s", sig, stderr.String())
	case <-time.After(lineTimeout):
		t.Fatalf("netflow-trace still running %v after %v (a hang); processes: %v; stderr:\n%s",
			lineTimeout, sig, tokenProcs(token), stderr.String())
	}
	// No trace line; the version line, which BEGIN prints, may have made it.
	assert.Regexp(t, `^(`+versionLine+`\n(# clock [^\n]*\n)?)?$`, stdout.String())
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left, "its temporary directory (and FIFOs) must be removed")
	assert.Eventually(t, func() bool { return len(tokenProcs(token)) == 0 }, lineTimeout, 10*time.Millisecond,
		"no process of it may be left behind: %v", tokenProcs(token))
}

// procInfo is what /proc says of a process.
type procInfo struct {
	pid       int
	comm      string
	sigCaught uint64 // SigCgt: bit N-1 set when signal N has a handler
}

func (p procInfo) String() string { return fmt.Sprintf("%d(%s)", p.pid, p.comm) }

// tokenProcs lists the processes whose environment holds token (KEY=VALUE):
// everything a test started, whatever session or process group it moved to.
func tokenProcs(token string) []procInfo {
	var procs []procInfo
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", d.Name(), "environ"))
		if err != nil || !strings.Contains("\x00"+string(env), "\x00"+token+"\x00") {
			continue
		}
		p := procInfo{pid: pid}
		comm, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "comm"))
		p.comm = strings.TrimSpace(string(comm))
		status, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "status"))
		for _, l := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(l, "SigCgt:"); ok {
				p.sigCaught, _ = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			}
		}
		if state, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "stat")); strings.Contains(string(state), ") Z ") {
			continue // a zombie has no environment left to match, but be sure
		}
		procs = append(procs, p)
	}
	return procs
}

// waitProc polls until a process of token matches; lineTimeout only
// detects a hang.
func waitProc(t *testing.T, token, what string, match func(procInfo) bool) {
	t.Helper()
	deadline := time.Now().Add(lineTimeout)
	for time.Now().Before(deadline) {
		for _, p := range tokenProcs(token) {
			if match(p) {
				return
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("no %s within %v; processes: %v", what, lineTimeout, tokenProcs(token))
}

// ownCgroupID is the cgroup v2 id of this process (what bpftrace's cgroup
// builtin returns for it and its children): the inode number of its
// directory in the cgroup2 file system. false when there is none.
func ownCgroupID(t *testing.T) (uint64, bool) {
	dir, ok := ownCgroupDir(t)
	if !ok {
		return 0, false
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Logf("cgroup= not checked: %v", err)
		return 0, false
	}
	return st.Ino, true
}

// ownCgroupDir is this process's directory in the cgroup2 file system.
func ownCgroupDir(t *testing.T) (string, bool) {
	cg, err := os.ReadFile("/proc/self/cgroup")
	require.NoError(t, err)
	path := ""
	for _, l := range strings.Split(string(cg), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			path = p
		}
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	for _, l := range strings.Split(string(mi), "\n") {
		// ... mountpoint ... - fstype source options
		f := strings.Fields(l)
		for i := range f {
			if f[i] == "-" && i+1 < len(f) && f[i+1] == "cgroup2" && len(f) > 4 && path != "" {
				return filepath.Join(f[4], path), true
			}
		}
	}
	t.Log("cgroup= not checked: no cgroup2 file system mounted")
	return "", false
}

// TestLiveExeAndCgroup: exe= is the executable's file name, escaped so that
// no name can split the metadata (a space) or be misread (a backslash): it
// is then printed as \xNN throughout. cgroup= is the process's cgroup v2 id.
// The client is a copy of netpeer named "net peer\n\x41", run in a cgroup of
// its own where the cgroup2 file system allows one.
func TestLiveExeAndCgroup(t *testing.T) {
	requireBPF(t)
	root := repoRoot(t)
	netpeer := buildNetpeer(t, root)
	const name = "net peer\n\\x41"
	hostile := filepath.Join(t.TempDir(), name)
	data, err := os.ReadFile(netpeer)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(hostile, data, 0o755))

	// A cgroup for the client: a child of ours, removed at the end.
	var cgDir string
	var cgID uint64
	if dir, ok := ownCgroupDir(t); ok {
		d := filepath.Join(dir, fmt.Sprintf("netflow-test-%d", os.Getpid()))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Logf("cgroup= checked against our own cgroup: %v", err)
		} else {
			t.Cleanup(func() { _ = os.Remove(d) })
			var st syscall.Stat_t
			require.NoError(t, syscall.Stat(d, &st))
			cgDir, cgID = d, st.Ino
		}
	}
	if cgDir == "" {
		cgID, _ = ownCgroupID(t)
	}

	s := startServer(t, netpeer, "127.0.0.1:0", 1)
	tr := startTracer(t, root, "--variant", "tracepoint", "--port", strconv.Itoa(int(s.addr.Port())))
	args := []string{"client", "-connect", s.addr.String(), "-blocking"}
	cmd := exec.Command(hostile, args...)
	if cgDir != "" {
		// Join the cgroup, then become the client (same pid).
		cmd = exec.Command("sh", append([]string{"-c", `echo $$ > "$1/cgroup.procs" && shift && exec "$@"`, "sh", cgDir, hostile}, args...)...)
	}
	out, err := cmd.Output()
	require.NoError(t, err, "%s", out)
	var pid int
	_, err = fmt.Sscanf(string(out), "pid=%d", &pid)
	require.NoError(t, err, "%s", out)

	e, ok := tr.waitFor(t, fmt.Sprintf("→ pid=%d", pid), func(e event) bool { return e.out && e.pid == pid })
	tr.stop(t)
	t.Logf("trace:\n%s", tr.text(&tr.stdout))
	require.True(t, ok)
	assert.Equal(t, name, e.exe, e.raw)
	assert.Equal(t, `\x6e\x65\x74\x20\x70\x65\x65\x72\x0a\x5c\x78\x34\x31`, e.exeRaw, "every byte escaped")
	assert.Equal(t, `net peer\x0a\x41`, e.comm, "comm: the kernel's 15 bytes, %r-escaped")
	if cgID != 0 {
		assert.Equal(t, cgID, e.cgroup, e.raw)
	}
	in, ok := tr.waitFor(t, "← of the server", func(e event) bool { return !e.out && e.pid == s.pid })
	if ok {
		assert.Equal(t, "netpeer", in.exe, in.raw)
	}
}

// aggLine is one line of netflow-trace --aggregate.
var aggRE = regexp.MustCompile(`^` + endpointRE + `(→|←)` + endpointRE +
	`\|pid=(\d+) uid=(\d+)(?: ret=(-?\d+))? count=(\d+) comm=([\x20-\x7e]+)$`)

// refusedKey is how the aggregate scripts count a refused connect to addr: the tracepoint
// one by its outcome, from the address the socket has after it (unspecified); the kprobe one
// when its SYN is sent (ret 0), from the address it was sent from.
func refusedKey(variant string, addr netip.AddrPort, pid int) aggKey {
	if variant == "kprobe" {
		return aggKey{out: true, remote: addr, local: netip.AddrPortFrom(addr.Addr(), 0), pid: pid, comm: "netpeer"}
	}
	return aggKey{out: true, remote: addr, local: netip.MustParseAddrPort("0.0.0.0:0"), pid: pid, ret: -111, comm: "netpeer"}
}

// closeAggRE is an aggregated close line: ends, pid, uid, count, end=, the sums, comm.
var closeAggRE = regexp.MustCompile(`^close ` + endpointRE + `(→|←)` + endpointRE +
	`\|pid=(\d+) uid=(\d+) count=(\d+) end=(local|peer|reset-sent|reset-recv|timeout|never) sent=(\d+) recv=(\d+) retrans=(\d+) comm=([\x20-\x7e]+)$`)

// closeAggKey is what the live test sums aggregated close lines by.
type closeAggKey struct {
	out   bool
	pid   int
	never bool
}

type aggKey struct {
	out           bool
	remote, local netip.AddrPort
	pid, ret      int
	comm          string
}

// TestLiveAggregate: --aggregate counts in the kernel and prints one line
// per process and peer, client port 0, count=N; the counts add up to the
// connections made, failed connects keep their ret=, and a hostile name
// (newline, "]", ",") stays inside its line. Their closes come as
// aggregated close lines, each connection counted once on each end, the
// refused one with end=never.
func TestLiveAggregate(t *testing.T) {
	testAggregate(t, "tracepoint")
}

// TestLiveAggregateKprobe: the same with the kprobe scripts (in the kernel matrix: this
// kernel has no kprobes). They count a connect once its SYN is sent, so the refused one
// has ret 0 and the address it was sent from.
func TestLiveAggregateKprobe(t *testing.T) {
	if !haveKprobes() {
		t.Skip("this kernel has no kprobes; scripts/test-kernels runs this in the kernel matrix")
	}
	testAggregate(t, "kprobe")
}

func testAggregate(t *testing.T, variant string) {
	requireBPF(t)
	root := repoRoot(t)
	netpeer := buildNetpeer(t, root)
	r := runAggregate(t, root, netpeer, variant)
	if r.closesShort() {
		// A close the kernel did not show the script: its BPF program was skipped while
		// another one ran on the CPU (README, "Lost events"). Kernels from 6.7 count
		// that and the trace says "# lost"; older ones (bookworm's 6.1) lose it
		// silently. Seen once in many runs under TCG. Once more, from the start; the
		// second run is held to the same exact counts.
		t.Logf("a close is missing (%v of %v): running the whole case once more", r.closed, r.wantClosed)
		r = runAggregate(t, root, netpeer, variant)
	}
	t.Logf("trace:\n%s", r.text)
	assert.Equal(t, r.want, r.got, "counts per process and peer, after the final dump at exit")
	assert.Equal(t, r.wantClosed, r.closed, "aggregated close lines: every connection's close, counted once")
	assert.Empty(t, r.bad, "stdout holds aggregated lines only")
	require.NotEmpty(t, r.stderr)
	assert.Equal(t, "tracing TCP connect/accept with "+variant+" probes, counts every 1 s; Ctrl-C to stop", r.stderr[0])
	assert.Len(t, r.stderr, 1, "nothing lost, nothing else on stderr")
}

// aggRun is one run of the aggregate case: what it expected and what the trace held.
type aggRun struct {
	want, got          map[aggKey]int
	wantClosed, closed map[closeAggKey]int
	bad, stderr        []string
	text               string
}

// closesShort: the connects all counted, and the closes short of them by a missing one or
// more, none counted twice (what a skipped probe run does, and nothing else).
func (r aggRun) closesShort() bool {
	if !assert.ObjectsAreEqual(r.want, r.got) || assert.ObjectsAreEqual(r.wantClosed, r.closed) {
		return false
	}
	for k, n := range r.closed {
		if n > r.wantClosed[k] {
			return false
		}
	}
	return true
}

func runAggregate(t *testing.T, root, netpeer, variant string) aggRun {
	const hostile = "nf\n]x, y"

	tr := startTracer(t, root, "--variant", variant, "--aggregate", "1")
	s := startServer(t, netpeer, "127.0.0.1:0", 5)
	dialPid, conns := runClient(t, netpeer, s.addr.String(), 3)
	require.Len(t, conns, 3)
	namedPid, _ := runClient(t, netpeer, s.addr.String(), 2, "-comm", hostile)
	refused := closedPort(t, "tcp4", "127.0.0.1")
	refusedPid, _ := runClient(t, netpeer, refused.String(), 1, "-blocking", "-expect-fail")

	server := s.addr
	client := netip.AddrPortFrom(server.Addr(), 0)
	want := map[aggKey]int{
		{out: true, remote: server, local: client, pid: dialPid, comm: "netpeer"}:      3,
		{out: true, remote: server, local: client, pid: namedPid, comm: `nf\x0a]x, y`}: 2,
		refusedKey(variant, refused, refusedPid):                                       1,
		{out: false, remote: client, local: server, pid: s.pid, comm: "netpeer"}:       5,
	}
	// Every connection closes, counted by who opened or accepted it: the refused one was
	// never established.
	wantClosed := map[closeAggKey]int{
		{out: true, pid: dialPid}:                 3,
		{out: true, pid: namedPid}:                2,
		{out: true, pid: refusedPid, never: true}: 1,
		{out: false, pid: s.pid}:                  5,
	}
	pids := map[int]bool{dialPid: true, namedPid: true, refusedPid: true, s.pid: true}
	closed := func() map[closeAggKey]int {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		got := map[closeAggKey]int{}
		for _, l := range tr.stdout {
			m := closeAggRE.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			k := closeAggKey{out: m[3] == "→", never: m[9] == "never"}
			k.pid, _ = strconv.Atoi(m[6])
			n, _ := strconv.Atoi(m[8])
			if pids[k.pid] {
				got[k] += n
			}
		}
		return got
	}
	sum := func() (map[aggKey]int, []string) {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		got := map[aggKey]int{}
		var bad []string
		for i, l := range tr.stdout {
			if i == 0 && l == versionLine || i == 1 && clockRE.MatchString(l) {
				continue
			}
			if closeAggRE.MatchString(l) {
				continue
			}
			m := aggRE.FindStringSubmatch(l)
			if m == nil {
				bad = append(bad, l)
				continue
			}
			k := aggKey{out: m[3] == "→", remote: netip.MustParseAddrPort(m[1] + ":" + m[2]), local: netip.MustParseAddrPort(m[4] + ":" + m[5]), comm: m[10]}
			k.pid, _ = strconv.Atoi(m[6])
			k.ret, _ = strconv.Atoi(m[8])
			if k.pid == dialPid && k.ret == -115 {
				// Go's dial is non-blocking: a count does not wait for the handshake, so
				// a connect still in SYN_SENT when connect(2) returns is counted with
				// ret -115 (EINPROGRESS). On loopback that is rare, but a slow guest
				// (the kernel matrix under TCG) sees it; its close line shows it was made.
				k.ret = 0
			}
			for strings.HasSuffix(k.comm, `\x00`) {
				k.comm = strings.TrimSuffix(k.comm, `\x00`)
			}
			n, _ := strconv.Atoi(m[9])
			if pids[k.pid] {
				got[k] += n
			}
		}
		return got, bad
	}
	// The counts come every second: wait until they are all in.
	deadline := time.Now().Add(lineTimeout)
	for {
		got, _ := sum()
		if assert.ObjectsAreEqual(want, got) && assert.ObjectsAreEqual(wantClosed, closed()) ||
			time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	tr.stop(t)
	got, bad := sum()
	r := aggRun{want: want, got: got, wantClosed: wantClosed, closed: closed(), bad: bad, text: tr.text(&tr.stdout)}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	r.stderr = append([]string(nil), tr.stderr...)
	return r
}
