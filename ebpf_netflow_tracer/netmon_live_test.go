package tracer_test

import (
	"bufio"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// netmonEvent is the part of a NetMon event the live test checks.
type netmonEvent struct {
	Process struct {
		PID      int    `json:"pid"`
		Filename string `json:"filename"`
	} `json:"process"`
	Net struct {
		Type         string `json:"type"`
		Saddr, Daddr string
		Sport, Dport uint16
		Cookie       uint64
	} `json:"network_event"`
}

// TestLiveNetMon pipes scripts/netflow-trace into net_visualizer -format netmon, as a user
// would, and checks, while the tracer still runs, that the client's connects are
// TcpConnectionEstablish events of the client's pid, the server's accepts
// TcpConnectionAccept events of the server's pid with the client's real address and port,
// and that each end has a TcpConnectionClose with its open event's cookie.
func TestLiveNetMon(t *testing.T) {
	requireBPF(t)
	root := repoRoot(t)
	netpeer := buildNetpeer(t, root)
	visualizer := filepath.Join(t.TempDir(), "net_visualizer")
	buildProgram(t, root, "./net_visualizer", visualizer)

	trace := exec.Command(filepath.Join(root, "scripts", "netflow-trace"), "--comm", "netpeer")
	trace.Dir = root
	trace.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	vis := exec.Command(visualizer, "-format", "netmon", "-q")
	pipe, err := trace.StdoutPipe()
	require.NoError(t, err)
	vis.Stdin = pipe
	vis.Stderr = os.Stderr
	out, err := vis.StdoutPipe()
	require.NoError(t, err)
	started := make(chan struct{})
	stderr, err := trace.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, trace.Start())
	require.NoError(t, vis.Start())
	t.Cleanup(func() {
		if trace.ProcessState == nil {
			_ = syscall.Kill(-trace.Process.Pid, syscall.SIGKILL)
			_ = trace.Wait()
		}
		_ = vis.Process.Kill()
		_ = vis.Wait()
	})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "tracing ") {
				once.Do(func() { close(started) })
			}
		}
	}()
	var mu sync.Mutex
	var events []netmonEvent
	var raw []string
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var e netmonEvent
			err := json.Unmarshal(sc.Bytes(), &e)
			mu.Lock()
			raw = append(raw, sc.Text())
			if err == nil {
				events = append(events, e)
			}
			mu.Unlock()
			assert.NoError(t, err, "not JSON: %s", sc.Text())
		}
	}()
	select {
	case <-started:
	case <-time.After(startTimeout):
		t.Fatalf("netflow-trace did not start within %v", startTimeout)
	}

	srv := startServer(t, netpeer, "127.0.0.1:0", 2)
	client, conns := runClient(t, netpeer, srv.addr.String(), 2)
	require.Len(t, conns, 2)

	// One end's events: kind, local and remote end, of one of this test's processes.
	type end struct {
		kind          string
		pid           int
		local, remote netip.AddrPort
	}
	var want []end
	for _, c := range conns {
		want = append(want,
			end{"TcpConnectionEstablish", client, c.local, c.remote},
			end{"TcpConnectionAccept", srv.pid, c.remote, c.local},
			end{"TcpConnectionClose", client, c.local, c.remote},
			end{"TcpConnectionClose", srv.pid, c.remote, c.local})
	}
	ours := func() []end {
		mu.Lock()
		defer mu.Unlock()
		var got []end
		for _, e := range events {
			if e.Process.PID != client && e.Process.PID != srv.pid {
				continue // the tracer sees the whole machine
			}
			l := netip.AddrPortFrom(netip.MustParseAddr(e.Net.Saddr), e.Net.Sport)
			r := netip.AddrPortFrom(netip.MustParseAddr(e.Net.Daddr), e.Net.Dport)
			got = append(got, end{e.Net.Type, e.Process.PID, l, r})
		}
		return got
	}
	deadline := time.Now().Add(lineTimeout)
	for len(ours()) < len(want) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	// Still tracing: the events came through the pipe as they happened, not at its end.
	assert.Nil(t, trace.ProcessState)
	assert.ElementsMatch(t, want, ours(), "events:\n%s", strings.Join(raw, "\n"))

	// Each end's open and close events share a cookie; the four ends have four.
	mu.Lock()
	cookies := map[uint64][]string{}
	for _, e := range events {
		if e.Process.PID == client || e.Process.PID == srv.pid {
			assert.Equal(t, "netpeer", e.Process.Filename)
			cookies[e.Net.Cookie] = append(cookies[e.Net.Cookie], e.Net.Type)
		}
	}
	mu.Unlock()
	assert.Len(t, cookies, 4, "%v", cookies)
	for c, kinds := range cookies {
		assert.Len(t, kinds, 2, "cookie %d: %v", c, kinds)
		assert.Contains(t, kinds, "TcpConnectionClose", "cookie %d", c)
	}

	require.NoError(t, trace.Process.Signal(syscall.SIGINT))
	done := make(chan error, 1)
	go func() { done <- vis.Wait() }()
	select {
	case err := <-done:
		assert.NoError(t, err, "net_visualizer -format netmon must exit 0 at the end of the pipe")
	case <-time.After(stopTimeout):
		t.Fatal("net_visualizer still running after the tracer stopped")
	}
	_ = trace.Wait()
}
