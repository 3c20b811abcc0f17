package tracer_test

// The live test of netflow_lifecycle.bt through scripts/netflow-lifecycle: a
// known program (dev/sockdemo) makes a fixed list of socket calls under a
// hostile name, and every row the CSV must hold for its pid is asserted.
// Helpers are prefixed lc: other live tests share this package.

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lcHeader is the v3 nw_conn header the files must start with.
var lcHeader = []string{
	"Timestamp", "Event Type", "PID", "TID", "Command", "Domain", "Socket Type",
	"Protocol", "IP Version", "Local Address", "Remote Address", "Local Port",
	"Remote Port", "File Descriptor", "Backlog", "Latency", "Return Value",
}

const lcTimeLayout = "2006-01-02 15:04:05.000000"

// lcDemoName is the file name the known program runs under: comm is the
// name's first 15 bytes, and this one has a space, a comma, a quote and a
// newline, which bpftrace prints as \x0a.
const (
	lcDemoName = "lc demo,\"x\n"
	lcDemoComm = `lc demo,"x\x0a`
)

// Generous bounds on waiting, so that a broken tracer fails instead of
// hanging; they are never a pass/fail threshold on speed.
const (
	lcStartTimeout = 5 * time.Minute // go build + bpftrace's compile
	lcRowsTimeout  = 2 * time.Minute
	lcStopTimeout  = time.Minute
)

// lcDemoReport is dev/sockdemo's Report.
type lcDemoReport struct {
	PID                                   int
	ListenFD, ListenPort                  int
	ClientFD, ClientPort                  int
	AcceptFD                              int
	BindBusyFD                            int
	FileFD, DupFD                         int
	PipeFDs                               [2]int
	RefusedFD, RefusedPort                int
	DeafFD                                int
	NonblockFD, NonblockPort, NonblockRet int
	NonblockAcceptFD                      int
	V6                                    bool
	ListenFD6, ListenPort6                int
	ClientFD6, ClientPort6, AcceptFD6     int
	UDPFD, UDPPort                        int
	UnixFD                                int
}

// lcRow is one CSV row by column name.
type lcRow map[string]string

func (r lcRow) String() string {
	var b strings.Builder
	for _, h := range lcHeader {
		fmt.Fprintf(&b, "%s=%q ", h, r[h])
	}
	return b.String()
}

// lcWant is a row the trace must hold: every column named here must match
// exactly ("" = must be empty); columns not named are not checked.
type lcWant map[string]string

func TestLifecycleLive(t *testing.T) {
	lcRequireLive(t)
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	tmp := t.TempDir()

	demo := filepath.Join(tmp, lcDemoName)
	buildProgram(t, root, "./dev/sockdemo", demo)

	outDir := filepath.Join(tmp, "trace")
	tr := lcStartTracer(t, root, outDir)

	before := time.Now()
	cmd := exec.Command(demo, "-dir", tmp)
	cmd.Stderr = os.Stderr
	js, err := cmd.Output()
	require.NoError(t, err, "sockdemo")
	after := time.Now()
	var rep lcDemoReport
	require.NoError(t, json.Unmarshal(js, &rep), "sockdemo's report: %s", js)
	want := lcExpected(rep)

	// Rows reach the files while the tracer runs: wait for all of the demo's.
	deadline := time.Now().Add(lcRowsTimeout)
	for time.Now().Before(deadline) {
		if rows, err := lcReadTrace(outDir); err == nil && len(lcByPID(rows, rep.PID)) >= len(want) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	tr.stop(t)

	files := lcTraceFiles(t, outDir)
	for _, f := range files {
		lcCheckFile(t, f)
	}
	rows, err := lcReadTrace(outDir)
	require.NoError(t, err)
	mine := lcByPID(rows, rep.PID)
	require.NotEmpty(t, mine, "no rows for the demo's pid %d; tracer stderr:\n%s", rep.PID, tr.stderrText())

	for _, r := range mine {
		assert.Equal(t, lcDemoComm, r["Command"], "the name with a comma, a quote and a newline stays one field: %v", r)
		assert.Regexp(t, `^[0-9]+$`, r["TID"], "%v", r)
		ts, err := time.ParseInLocation(lcTimeLayout, r["Timestamp"], time.Local)
		if assert.NoError(t, err, "%v", r) {
			// Wall clock from CLOCK_MONOTONIC: the rows fall while the demo ran.
			// (A minute's slack for coarse clocks; a wrong clock is off by far more.)
			assert.True(t, ts.After(before.Add(-time.Minute)) && ts.Before(after.Add(time.Minute)),
				"timestamp %s outside the demo's run %s..%s", ts, before, after)
		}
		switch r["Event Type"] {
		case "ACCEPT", "CONNECT":
			assert.Regexp(t, `^[0-9]+$`, r["Latency"], "latency of %v", r)
		default:
			assert.Empty(t, r["Latency"], "no latency on %v", r)
		}
	}

	// Every expected row, each matched by a different row of the trace.
	used := make([]bool, len(mine))
	for _, w := range want {
		i := lcMatch(mine, used, w)
		if assert.GreaterOrEqual(t, i, 0, "missing row %v\nthe demo's rows:\n%s", w, lcRowsText(mine)) {
			used[i] = true
		}
	}
	// And nothing else: above all no CLOSE for the regular file or the pipe.
	for i, r := range mine {
		assert.True(t, used[i], "unexpected row %v", r)
	}
	count := func(rows []lcRow, ev string) (n int) {
		for _, r := range rows {
			if r["Event Type"] == ev {
				n++
			}
		}
		return n
	}
	wantCloses := 0
	for _, w := range want {
		if w["Event Type"] == "CLOSE" {
			wantCloses++
		}
	}
	assert.Equal(t, wantCloses, count(mine, "CLOSE"), "CLOSE rows")
	assert.Len(t, mine, len(want), "rows for the demo's pid")
}

// lcExpected lists the rows the demo's calls must produce (see dev/sockdemo).
func lcExpected(r lcDemoReport) []lcWant {
	const lo, lo6 = "127.0.0.1", "::1"
	itoa := strconv.Itoa
	tcp := func(ev string, fd int, w lcWant) lcWant {
		w["Event Type"], w["File Descriptor"] = ev, itoa(fd)
		w["Domain"], w["Socket Type"], w["Protocol"], w["IP Version"] = "AF_INET", "SOCK_STREAM", "TCP", "4"
		if _, ok := w["Return Value"]; !ok {
			w["Return Value"] = "0"
		}
		return w
	}
	tcp6 := func(ev string, fd int, w lcWant) lcWant {
		w = tcp(ev, fd, w)
		w["Domain"], w["IP Version"] = "AF_INET6", "6"
		return w
	}
	unbound := lcWant{"Local Address": "", "Local Port": "", "Remote Address": "", "Remote Port": "", "Backlog": ""}
	ends := func(la string, lp int, ra string, rp int) lcWant {
		w := lcWant{"Local Address": la, "Local Port": itoa(lp), "Remote Address": ra, "Remote Port": itoa(rp)}
		if ra == "" {
			w["Remote Port"] = ""
		}
		return w
	}
	with := func(w lcWant, k, v string) lcWant { w[k] = v; return w }
	cp := func(w lcWant) lcWant {
		c := lcWant{}
		for k, v := range w {
			c[k] = v
		}
		return c
	}

	want := []lcWant{
		// TCP over IPv4: listen, connect, accept, shutdown, close.
		tcp("SOCKET_CREATE", r.ListenFD, cp(unbound)),
		tcp("BIND", r.ListenFD, ends(lo, r.ListenPort, "", 0)),
		tcp("LISTEN", r.ListenFD, with(ends(lo, r.ListenPort, "", 0), "Backlog", "7")),
		tcp("SOCKET_CREATE", r.ClientFD, cp(unbound)),
		tcp("CONNECT", r.ClientFD, ends(lo, r.ClientPort, lo, r.ListenPort)),
		tcp("ACCEPT", r.AcceptFD, ends(lo, r.ListenPort, lo, r.ClientPort)),
		tcp("SHUTDOWN", r.ClientFD, with(ends(lo, r.ClientPort, lo, r.ListenPort), "Backlog", "SHUT_WR")),
		tcp("SHUTDOWN", r.AcceptFD, with(ends(lo, r.ListenPort, lo, r.ClientPort), "Backlog", "SHUT_RDWR")),
		tcp("CLOSE", r.ClientFD, ends(lo, r.ClientPort, lo, r.ListenPort)),
		tcp("CLOSE", r.AcceptFD, ends(lo, r.ListenPort, lo, r.ClientPort)),

		// A bind to a busy port shows the address asked for; a bind on a
		// regular file is not a socket at all.
		tcp("SOCKET_CREATE", r.BindBusyFD, cp(unbound)),
		tcp("BIND", r.BindBusyFD, with(ends(lo, r.ListenPort, "", 0), "Return Value", "-98")),
		tcp("CLOSE", r.BindBusyFD, cp(unbound)),
		{"Event Type": "BIND", "File Descriptor": itoa(r.FileFD), "Return Value": "-88",
			"Domain": "", "Socket Type": "", "Protocol": "", "IP Version": "", "Local Address": ""},
		// A socket whose fd the file took over (dup3): created, never a CLOSE.
		tcp("SOCKET_CREATE", r.DupFD, cp(unbound)),

		// Refused: the remote end is the one asked for, there is no local port.
		tcp("SOCKET_CREATE", r.DeafFD, cp(unbound)),
		tcp("BIND", r.DeafFD, ends(lo, r.RefusedPort, "", 0)),
		tcp("SOCKET_CREATE", r.RefusedFD, cp(unbound)),
		tcp("CONNECT", r.RefusedFD, lcWant{"Return Value": "-111", "Local Port": "",
			"Remote Address": lo, "Remote Port": itoa(r.RefusedPort)}),
		tcp("CLOSE", r.RefusedFD, lcWant{"Local Port": ""}),
		tcp("CLOSE", r.DeafFD, ends(lo, r.RefusedPort, "", 0)),

		// Non-blocking: -115 (or 0), the local port already known, and the
		// accept on the other side shows it as its peer.
		tcp("SOCKET_CREATE", r.NonblockFD, cp(unbound)),
		tcp("CONNECT", r.NonblockFD, with(ends(lo, r.NonblockPort, lo, r.ListenPort), "Return Value", itoa(r.NonblockRet))),
		tcp("ACCEPT", r.NonblockAcceptFD, ends(lo, r.ListenPort, lo, r.NonblockPort)),
		tcp("CLOSE", r.NonblockFD, ends(lo, r.NonblockPort, lo, r.ListenPort)),
		tcp("CLOSE", r.NonblockAcceptFD, ends(lo, r.ListenPort, lo, r.NonblockPort)),

		// UDP and Unix.
		with(with(with(tcp("SOCKET_CREATE", r.UDPFD, cp(unbound)), "Socket Type", "SOCK_DGRAM"), "Protocol", "UDP"), "IP Version", "4"),
		with(with(tcp("BIND", r.UDPFD, ends(lo, r.UDPPort, "", 0)), "Socket Type", "SOCK_DGRAM"), "Protocol", "UDP"),
		with(with(tcp("CLOSE", r.UDPFD, ends(lo, r.UDPPort, "", 0)), "Socket Type", "SOCK_DGRAM"), "Protocol", "UDP"),
		{"Event Type": "SOCKET_CREATE", "File Descriptor": itoa(r.UnixFD), "Domain": "AF_UNIX",
			"Socket Type": "SOCK_STREAM", "Protocol": "", "IP Version": "", "Local Address": "", "Return Value": "0"},
		{"Event Type": "CLOSE", "File Descriptor": itoa(r.UnixFD), "Domain": "AF_UNIX",
			"Socket Type": "SOCK_STREAM", "Protocol": "", "IP Version": "", "Local Address": "", "Return Value": "0"},

		tcp("CLOSE", r.ListenFD, ends(lo, r.ListenPort, "", 0)),
	}
	if r.V6 {
		want = append(want,
			tcp6("SOCKET_CREATE", r.ListenFD6, cp(unbound)),
			tcp6("BIND", r.ListenFD6, ends(lo6, r.ListenPort6, "", 0)),
			tcp6("LISTEN", r.ListenFD6, with(ends(lo6, r.ListenPort6, "", 0), "Backlog", "7")),
			tcp6("SOCKET_CREATE", r.ClientFD6, cp(unbound)),
			tcp6("CONNECT", r.ClientFD6, ends(lo6, r.ClientPort6, lo6, r.ListenPort6)),
			tcp6("ACCEPT", r.AcceptFD6, ends(lo6, r.ListenPort6, lo6, r.ClientPort6)),
			tcp6("CLOSE", r.ClientFD6, ends(lo6, r.ClientPort6, lo6, r.ListenPort6)),
			tcp6("CLOSE", r.AcceptFD6, ends(lo6, r.ListenPort6, lo6, r.ClientPort6)),
			tcp6("CLOSE", r.ListenFD6, ends(lo6, r.ListenPort6, "", 0)),
		)
	}
	return want
}

// lcMatch returns the first unused row that has every column of w, or -1.
func lcMatch(rows []lcRow, used []bool, w lcWant) int {
next:
	for i, r := range rows {
		if used[i] {
			continue
		}
		for k, v := range w {
			if r[k] != v {
				continue next
			}
		}
		return i
	}
	return -1
}

func lcRowsText(rows []lcRow) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(r.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func lcByPID(rows []lcRow, pid int) []lcRow {
	var mine []lcRow
	for _, r := range rows {
		if r["PID"] == strconv.Itoa(pid) {
			mine = append(mine, r)
		}
	}
	return mine
}

// lcTraceFiles lists DIR/linux_trace_v3_test/MACHINE_ID/SESSION/nw_conn/nw_conn_NNNN.csv,
// checking the layout: this machine's id and one session.
func lcTraceFiles(t *testing.T, dir string) []string {
	t.Helper()
	id, err := os.ReadFile("/etc/machine-id")
	require.NoError(t, err)
	sessions, err := filepath.Glob(filepath.Join(dir, "linux_trace_v3_test", strings.TrimSpace(string(id)), "*"))
	require.NoError(t, err)
	require.Len(t, sessions, 1, "one session directory under %s", dir)
	assert.Regexp(t, `^[0-9]{8}_[0-9]{6}_[0-9]{3}$`, filepath.Base(sessions[0]))
	files, err := filepath.Glob(filepath.Join(sessions[0], "nw_conn", "nw_conn_*.csv"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for i, f := range files {
		assert.Equal(t, fmt.Sprintf("nw_conn_%04d.csv", i+1), filepath.Base(f))
	}
	return files
}

// lcCheckFile: the header, 17 columns in every row, and a whole last row.
func lcCheckFile(t *testing.T, name string) {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	assert.True(t, len(b) > 0 && b[len(b)-1] == '\n', "%s ends with a whole row", name)
	r := csv.NewReader(strings.NewReader(string(b)))
	r.FieldsPerRecord = len(lcHeader)
	recs, err := r.ReadAll()
	require.NoError(t, err, "%s is valid CSV with %d columns", name, len(lcHeader))
	require.NotEmpty(t, recs)
	assert.Equal(t, lcHeader, recs[0], "%s starts with the header", name)
}

// lcReadTrace reads every row of every file under dir, in file order.
func lcReadTrace(dir string) ([]lcRow, error) {
	files, err := filepath.Glob(filepath.Join(dir, "linux_trace_v3_test", "*", "*", "nw_conn", "nw_conn_*.csv"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var rows []lcRow
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		recs, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for i, rec := range recs {
			if i == 0 {
				continue // the header
			}
			if len(rec) != len(lcHeader) {
				return nil, fmt.Errorf("%s: row %d has %d fields", f, i+1, len(rec))
			}
			row := lcRow{}
			for j, h := range lcHeader {
				row[h] = rec[j]
			}
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// lcRequireLive: root and bpftrace, or Fatal where the test must run (CI or
// NETFLOW_LIVE=1), or Skip elsewhere.
func lcRequireLive(t *testing.T) {
	t.Helper()
	missing := ""
	if os.Geteuid() != 0 {
		missing = "not root (bpftrace needs it)"
	} else if _, err := exec.LookPath("bpftrace"); err != nil {
		missing = "bpftrace not in PATH"
	}
	if missing == "" {
		return
	}
	if os.Getenv("CI") != "" || os.Getenv("NETFLOW_LIVE") == "1" {
		t.Fatalf("live lifecycle test cannot run: %s (required with CI or NETFLOW_LIVE=1)", missing)
	}
	t.Skipf("live lifecycle test: %s; set NETFLOW_LIVE=1 to make this a failure", missing)
}

// lcTracer is scripts/netflow-lifecycle running under the test.
type lcTracer struct {
	cmd     *exec.Cmd
	mu      sync.Mutex
	stderr  []string
	done    chan error
	stopped bool
}

var lcAttached = regexp.MustCompile(`probes attached; writing `)

func lcStartTracer(t *testing.T, root, dir string) *lcTracer {
	t.Helper()
	tr := &lcTracer{done: make(chan error, 1)}
	tr.cmd = exec.Command(filepath.Join(root, "scripts", "netflow-lifecycle"), "-d", dir)
	tr.cmd.Dir = root
	stderr, err := tr.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, tr.cmd.Start())
	attached := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			tr.mu.Lock()
			tr.stderr = append(tr.stderr, sc.Text())
			tr.mu.Unlock()
			if lcAttached.MatchString(sc.Text()) {
				once.Do(func() { close(attached) })
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		tr.done <- tr.cmd.Wait()
	}()
	t.Cleanup(func() {
		if !tr.stopped {
			_ = tr.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-tr.done:
			case <-time.After(lcStopTimeout):
				_ = tr.cmd.Process.Kill()
			}
		}
	})
	select {
	case <-attached:
	case err := <-tr.done:
		tr.stopped = true
		t.Fatalf("netflow-lifecycle exited before attaching (%v):\n%s", err, tr.stderrText())
	case <-time.After(lcStartTimeout):
		t.Fatalf("netflow-lifecycle did not attach within %v:\n%s", lcStartTimeout, tr.stderrText())
	}
	tr.mu.Lock()
	first := tr.stderr[0]
	tr.mu.Unlock()
	assert.Regexp(t, lcAttached, first, "the first line on stderr says the probes are attached")
	return tr
}

func (tr *lcTracer) stderrText() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return strings.Join(tr.stderr, "\n")
}

// stop sends SIGINT, as Ctrl-C would, and wants a clean exit.
func (tr *lcTracer) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, tr.cmd.Process.Signal(syscall.SIGINT))
	select {
	case err := <-tr.done:
		tr.stopped = true
		assert.NoError(t, err, "netflow-lifecycle exits 0 on SIGINT; stderr:\n%s", tr.stderrText())
	case <-time.After(lcStopTimeout):
		t.Fatalf("netflow-lifecycle still running %v after SIGINT:\n%s", lcStopTimeout, tr.stderrText())
	}
}

// TestLifecycleLiveForgetsExitedProcesses runs the tracer with argument 1, so
// that bpftrace prints its socket-tracking maps at exit: a process that exited
// with sockets open must have left nothing in them, while a live process's
// open socket (the test's own) must still be there.
func TestLifecycleLiveForgetsExitedProcesses(t *testing.T) {
	lcRequireLive(t)
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	demo := filepath.Join(t.TempDir(), "sockdemo")
	buildProgram(t, root, "./dev/sockdemo", demo)

	bt := exec.Command("bpftrace", "-B", "line",
		filepath.Join(root, "ebpf_netflow_tracer", "netflow_lifecycle.bt"), "1")
	stdout, err := bt.StdoutPipe()
	require.NoError(t, err)
	bt.Stderr = io.Discard
	require.NoError(t, bt.Start())
	var mu sync.Mutex
	var lines []string
	ended := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
		}
		ended <- bt.Wait()
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = bt.Process.Kill()
			<-ended
		}
	})
	has := func(pred func(string) bool) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range lines {
			if pred(l) {
				return true
			}
		}
		return false
	}
	waitFor := func(what string, pred func(string) bool, poke bool) {
		t.Helper()
		deadline := time.Now().Add(lcStartTimeout)
		for !has(pred) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s from bpftrace within %v", what, lcStartTimeout)
			}
			if poke {
				_ = syscall.Close(-1234567) // the tracer's READY_FD: are the probes attached?
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("ready", func(l string) bool { return l == "# ready" }, true)

	// A live socket: the test's own, open until bpftrace has stopped.
	own, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	defer syscall.Close(own)

	js, err := exec.Command(demo, "-leak", "5").Output()
	require.NoError(t, err)
	var leak struct {
		PID     int
		LeakFDs []int
	}
	require.NoError(t, json.Unmarshal(js, &leak))
	require.Len(t, leak.LeakFDs, 5)

	created := func(pid, fd int) func(string) bool {
		prefix := fmt.Sprintf(" SOCKET_CREATE %d ", pid)
		return func(l string) bool {
			f := strings.Fields(l)
			return strings.Contains(l, prefix) && len(f) > 11 && f[11] == strconv.Itoa(fd)
		}
	}
	for _, fd := range leak.LeakFDs {
		waitFor("SOCKET_CREATE of the leaking process", created(leak.PID, fd), false)
	}
	waitFor("SOCKET_CREATE of the test's socket", created(os.Getpid(), own), false)

	require.NoError(t, bt.Process.Signal(syscall.SIGINT))
	select {
	case err := <-ended:
		stopped = true
		require.NoError(t, err)
	case <-time.After(lcStopTimeout):
		t.Fatalf("bpftrace still running %v after SIGINT", lcStopTimeout)
	}

	mu.Lock()
	defer mu.Unlock()
	sockRE := regexp.MustCompile(`^@sock\[([0-9]+), ([0-9]+)\]: `)
	nfdRE := regexp.MustCompile(`^@nfd\[([0-9]+)\]: `)
	ownFound := false
	for _, l := range lines {
		if m := sockRE.FindStringSubmatch(l); m != nil {
			assert.NotEqual(t, strconv.Itoa(leak.PID), m[1], "exited process still tracked: %s", l)
			if m[1] == strconv.Itoa(os.Getpid()) && m[2] == strconv.Itoa(own) {
				ownFound = true
			}
		}
		if m := nfdRE.FindStringSubmatch(l); m != nil {
			assert.NotEqual(t, strconv.Itoa(leak.PID), m[1], "exited process still counted: %s", l)
		}
	}
	assert.True(t, ownFound, "the live socket %d of pid %d must still be tracked (else this test proves nothing)", own, os.Getpid())
}
