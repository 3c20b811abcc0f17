package tracer_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLiveRetransmitsTracepoint: segments lost on the way are retransmitted, and the close
// line's retrans= is the sender's own count (tcpi_total_retrans), exactly. The loss is
// made deterministic, in two network namespaces of the test's own: the receiver's end of
// their veth pair goes down while the sender sends, so what the sender transmits vanishes
// (its end has lost its carrier: the kernel drops it without telling TCP), until TCP has
// retransmitted; then it comes back up. (netem would do it at random; this machine's kernel
// has no sch_netem.)
func TestLiveRetransmitsTracepoint(t *testing.T) {
	testRetransmits(t, "tracepoint")
}

// TestLiveRetransmitsKprobe does the same with the kprobe tracer, where the kernel has
// kprobes (the kernel matrix).
func TestLiveRetransmitsKprobe(t *testing.T) {
	if !haveKprobes() {
		t.Skip("this kernel has no kprobes; scripts/test-kernels runs this in the kernel matrix")
	}
	testRetransmits(t, "kprobe")
}

// rtNet is two network namespaces of the test's own, joined by a veth pair: the client's
// (dev nfrc, 10.203.N.1/24) and the server's (dev nfrs, 10.203.N.2/24). Nothing in them
// routes anywhere else.
type rtNet struct {
	client, server       string // namespace names, under /run/netns
	clientIP, serverIP   string
	clientDev, serverDev string
}

var rtSeq atomic.Int32

func rtSetup(t *testing.T) *rtNet {
	t.Helper()
	_, err := exec.LookPath("ip")
	require.NoError(t, err, "ip(8) (iproute2) is needed")
	id, seq := os.Getpid(), rtSeq.Add(1)
	sub := (id*7 + int(seq)) % 250
	n := &rtNet{
		client:    fmt.Sprintf("nf10rc%d-%d", id, seq),
		server:    fmt.Sprintf("nf10rs%d-%d", id, seq),
		clientIP:  fmt.Sprintf("10.203.%d.1", sub),
		serverIP:  fmt.Sprintf("10.203.%d.2", sub),
		clientDev: "nfrc",
		serverDev: "nfrs",
	}
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", n.client).Run()
		_ = exec.Command("ip", "netns", "del", n.server).Run()
	})
	afRun(t, "ip", "netns", "add", n.client)
	afRun(t, "ip", "netns", "add", n.server)
	afRun(t, "ip", "-n", n.client, "link", "add", n.clientDev, "type", "veth", "peer", "name", n.serverDev, "netns", n.server)
	afRun(t, "ip", "-n", n.client, "addr", "add", n.clientIP+"/24", "dev", n.clientDev)
	afRun(t, "ip", "-n", n.server, "addr", "add", n.serverIP+"/24", "dev", n.serverDev)
	for _, ns := range []string{n.client, n.server} {
		afRun(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	afRun(t, "ip", "-n", n.client, "link", "set", n.clientDev, "up")
	afRun(t, "ip", "-n", n.server, "link", "set", n.serverDev, "up")
	// A static neighbour: the client's entry survives its carrier going away, so what it
	// sends meanwhile is dropped by the device, not held back waiting for ARP.
	mac := afRun(t, "ip", "netns", "exec", n.server, "cat", "/sys/class/net/"+n.serverDev+"/address")
	afRun(t, "ip", "-n", n.client, "neigh", "replace", n.serverIP, "lladdr", mac, "dev", n.clientDev, "nud", "permanent")
	// Nothing but the veth's own subnet: no default route in either namespace.
	for _, ns := range []string{n.client, n.server} {
		routes := afRun(t, "ip", "-n", ns, "-4", "route", "show", "default")
		require.Empty(t, routes, "namespace %s has a default route", ns)
	}
	return n
}

// waitUntil polls cond until it holds, or fails the test after startTimeout.
func waitUntil(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last seen:\n%s", what, startTimeout, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ss -i: retrans:<tcpi_retrans>/<tcpi_total_retrans>, shown once either is not 0.
var ssRetransRE = regexp.MustCompile(`retrans:(\d+)/(\d+)`)

func testRetransmits(t *testing.T, variant string) {
	requireBPF(t)
	root := repoRoot(t)
	netpeer := buildNetpeer(t, root)
	n := rtSetup(t)
	clientNS := filepath.Join("/run/netns", n.client)

	// The guard the namespaced client relies on: outside its namespace it refuses before it
	// opens a socket (checked against a loopback port nobody listens on, so that even a
	// broken guard could send nothing beyond this host).
	nobody := closedPort(t, "tcp4", "127.0.0.1")
	out, err := exec.Command(netpeer, "client", "-netns", clientNS, "-connect", nobody.String()).CombinedOutput()
	require.Error(t, err, "netpeer -netns outside the namespace must refuse:\n%s", out)
	require.Contains(t, string(out), "refusing to connect")

	tr := startTracer(t, root, "--variant", variant, "--comm", "netpeer")
	if variant == "kprobe" {
		requireKprobesAttached(t, "tcp_v4_connect", "tcp_v6_connect", "inet_csk_accept")
	}

	const size = 1 << 20 // client → server; one byte back says all of it arrived
	srv := startPeer(t, "ip", "netns", "exec", n.server, netpeer, "server", "-listen", n.serverIP+":8080", "-n", "1",
		"-end", "last", "-recv", strconv.Itoa(size), "-send", "1")
	require.Equal(t, n.serverIP+":8080", srv.addr.String())
	cl := startPeer(t, "ip", "netns", "exec", n.client, netpeer, "client", "-netns", clientNS,
		"-connect", srv.addr.String(), "-end", "first", "-send", strconv.Itoa(size), "-recv", "1", "-hold")
	ok := cl.waitLines(t, "ok local=", 1)[0]
	// Held after connecting, before it sends: it is in its namespace (as -netns checked).
	self, err := os.Stat(fmt.Sprintf("/proc/%d/ns/net", cl.pid))
	require.NoError(t, err)
	want, err := os.Stat(clientNS)
	require.NoError(t, err)
	require.True(t, os.SameFile(want, self), "the client (pid %d) runs outside its namespace %s", cl.pid, n.client)

	// The receiver's end goes down; once the sender's end has lost its carrier (the kernel
	// has then swapped its queue for one that drops), it sends.
	afRun(t, "ip", "-n", n.server, "link", "set", n.serverDev, "down")
	waitUntil(t, "the client's end loses its carrier", func() (bool, string) {
		s := afRun(t, "ip", "-n", n.client, "-o", "link", "show", n.clientDev)
		return strings.Contains(s, "NO-CARRIER") && strings.Contains(s, " state DOWN "), s
	})
	cl.release(t)
	waitUntil(t, "the client retransmits", func() (bool, string) {
		s := afRun(t, "ip", "netns", "exec", n.client, "ss", "-tin", "dst", n.serverIP)
		m := ssRetransRE.FindStringSubmatch(s)
		return m != nil && (m[1] != "0" || m[2] != "0"), s
	})
	afRun(t, "ip", "-n", n.server, "link", "set", n.serverDev, "up")

	ce := cl.closedEnds(t, 1)[0]
	cl.wait(t)
	se := srv.closedEnds(t, 1)[0]
	require.Equal(t, []int64{size, 1}, []int64{ce.sent, ce.recv}, "client: %s", cl.text())
	require.Equal(t, []int64{1, size}, []int64{se.sent, se.recv}, "server: %s", srv.text())
	require.Greater(t, ce.retrans, int64(0), "the client retransmitted (its TCP_INFO): %s", cl.text())
	t.Logf("client %s; its TCP_INFO: %d retransmitted; the server's: %d", ok, ce.retrans, se.retrans)

	deadline := time.Now().Add(2 * lineTimeout)
	cEnd, okC := waitV2(t, tr, "close → of the client", deadline, func(l v2line) bool {
		return l.close && l.out && l.local == ce.local && l.remote == ce.remote
	})
	sEnd, okS := waitV2(t, tr, "close ← of the server", deadline, func(l v2line) bool {
		return l.close && !l.out && l.remote == ce.local
	})
	tr.stop(t)
	t.Logf("%s trace:\n%s", variant, tr.text(&tr.stdout))
	if okC {
		assert.Equal(t, cl.pid, cEnd.pid(), cEnd.raw)
		assert.Equal(t, "local", cEnd.kv["end"], cEnd.raw)
		checkNum(t, cEnd, "sent", size)
		checkNum(t, cEnd, "recv", 1)
		checkNum(t, cEnd, "retrans", ce.retrans)
	}
	if okS {
		assert.Equal(t, srv.pid, sEnd.pid(), sEnd.raw)
		assert.Equal(t, srv.addr, sEnd.local, sEnd.raw)
		assert.Equal(t, "peer", sEnd.kv["end"], sEnd.raw)
		checkNum(t, sEnd, "sent", 1)
		checkNum(t, sEnd, "recv", size)
		checkNum(t, sEnd, "retrans", se.retrans)
	}
}
