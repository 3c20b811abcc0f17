package tracer_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// afNet is two network namespaces joined by a veth pair: the client's
// (tcp_syn_retries=1: a SYN left unanswered times out after ~3 s) and the
// peer's, whose end has no address at first, so SYNs sent to peer (a static
// neighbour entry on the client's side) vanish unanswered. The connects are
// non-blocking (Go's net.Dial), so connect(2) returns EINPROGRESS and the
// outcome comes seconds later.
type afNet struct {
	client, peerNS string // namespaces
	host, peer     string // addresses: the client's, and the one to connect to
	peerDev        string
}

func afRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	require.NoError(t, err, "%v:\n%s", args, out)
	return strings.TrimSpace(string(out))
}

func afSetup(t *testing.T) *afNet {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip(8) not found")
	}
	id := os.Getpid()
	n := &afNet{
		client:  fmt.Sprintf("nfafc%d", id),
		peerNS:  fmt.Sprintf("nfafp%d", id),
		host:    fmt.Sprintf("192.0.2.%d", 4*(id%60)+1),
		peer:    fmt.Sprintf("192.0.2.%d", 4*(id%60)+2),
		peerDev: "afp",
	}
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", n.client).Run()
		_ = exec.Command("ip", "netns", "del", n.peerNS).Run()
	})
	afRun(t, "ip", "netns", "add", n.client)
	afRun(t, "ip", "netns", "add", n.peerNS)
	afRun(t, "ip", "-n", n.client, "link", "add", "afc", "type", "veth", "peer", "name", n.peerDev, "netns", n.peerNS)
	afRun(t, "ip", "-n", n.client, "addr", "add", n.host+"/30", "dev", "afc")
	afRun(t, "ip", "-n", n.client, "link", "set", "afc", "up")
	afRun(t, "ip", "-n", n.peerNS, "link", "set", n.peerDev, "up")
	afRun(t, "ip", "-n", n.peerNS, "link", "set", "lo", "up")
	mac := afRun(t, "ip", "netns", "exec", n.peerNS, "cat", "/sys/class/net/"+n.peerDev+"/address")
	afRun(t, "ip", "-n", n.client, "neigh", "replace", n.peer, "lladdr", mac, "dev", "afc", "nud", "permanent")
	afRun(t, "ip", "netns", "exec", n.client, "sysctl", "-qw", "net.ipv4.tcp_syn_retries=1")
	return n
}

// afClient runs netpeer client in the client namespace (ip netns exec execs
// it: same pid) and returns its pid and output.
func afClient(t *testing.T, netpeer string, n *afNet, addr string, extra ...string) (int, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	args := append([]string{"netns", "exec", n.client, netpeer, "client", "-connect", addr}, extra...)
	cmd := exec.CommandContext(ctx, "ip", args...)
	out, err := cmd.Output()
	var pid int
	_, _ = fmt.Sscanf(string(out), "pid=%d", &pid)
	return pid, string(out), err
}

// afServer starts netpeer server inside the peer namespace on addr.
func afServer(t *testing.T, netpeer string, n *afNet, addr string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", n.peerNS, netpeer, "server", "-listen", addr, "-n", "0")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	endAtCleanup(t, cmd, stdin)
	first, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "netpeer server printed nothing")
	require.Contains(t, first, "addr="+addr)
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
}

// afLines returns the → lines of pid printed so far.
func afLines(tr *tracer, pid int) []event {
	tr.mu.Lock()
	lines := append([]string(nil), tr.stdout...)
	tr.mu.Unlock()
	var out []event
	for _, l := range lines {
		if e, err := parseLine(l); err == nil && e.out && e.pid == pid {
			out = append(out, e)
		}
	}
	return out
}

// TestLiveAsyncOutcome: a non-blocking connect whose outcome comes only
// after connect(2) returned EINPROGRESS is printed once, when the socket
// leaves SYN_SENT, with the connecting process and the real outcome:
// ret=-110 for a SYN never answered, ret=0 for one answered on its
// retransmission. Never ret=-115.
func TestLiveAsyncOutcome(t *testing.T) {
	requireBPF(t)
	root := repoRoot(t)
	netpeer := buildNetpeer(t, root)
	n := afSetup(t)

	tr := startTracer(t, root, "--variant", "tracepoint")

	// Timed out: nothing answers; with tcp_syn_retries=1 the kernel gives
	// up after ~3 s (1 s, then 2 s).
	lost := n.peer + ":9"
	start := time.Now()
	tpid, out, err := afClient(t, netpeer, n, lost, "-expect-fail")
	require.NoError(t, err, "netpeer client:\n%s", out)
	require.Contains(t, out, "timed out", out)
	require.Greater(t, time.Since(start), 2*time.Second, "the timeout must come late")
	e, ok := tr.waitFor(t, "for the timed-out connect", func(e event) bool { return e.out && e.pid == tpid })
	if ok {
		assert.Equal(t, -110, e.ret, "timed out after EINPROGRESS: %s", e.raw)
		assert.Equal(t, lost, e.remote.String(), e.raw)
		assert.Equal(t, n.host, e.local.Addr().String(), e.raw)
		assert.Zero(t, e.local.Port(), "a failed connect has local port 0, however late it fails: %s", e.raw)
		assert.Equal(t, "netpeer", e.comm, e.raw)
		assert.Equal(t, "netpeer", e.exe, e.raw)
	}

	// Connected late: the first SYN finds no address; the peer gets it and a
	// listener before the retransmission, 1 s later.
	dst := n.peer + ":8080"
	type result struct {
		pid int
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		pid, out, err := afClient(t, netpeer, n, dst)
		done <- result{pid, out, err}
	}()
	time.Sleep(300 * time.Millisecond)
	afRun(t, "ip", "-n", n.peerNS, "addr", "add", n.peer+"/30", "dev", n.peerDev)
	afServer(t, netpeer, n, dst)
	r := <-done
	require.NoError(t, r.err, "netpeer client:\n%s", r.out)
	var local, remote string
	_, err = fmt.Sscanf(r.out[strings.Index(r.out, "ok "):], "ok local=%s remote=%s", &local, &remote)
	require.NoError(t, err, r.out)
	e, ok = tr.waitFor(t, "for the late connect", func(e event) bool { return e.out && e.pid == r.pid })
	if ok {
		assert.Equal(t, 0, e.ret, "connected after EINPROGRESS: %s", e.raw)
		assert.Equal(t, dst, e.remote.String(), e.raw)
		assert.Equal(t, local, e.local.String(), e.raw)
	}

	// Once each: give a second line time to show up.
	time.Sleep(1500 * time.Millisecond)
	tr.stop(t)
	assert.Len(t, afLines(tr, tpid), 1, "timed-out connect: one line\n%s", tr.text(&tr.stdout))
	assert.Len(t, afLines(tr, r.pid), 1, "late connect: one line\n%s", tr.text(&tr.stdout))
}
