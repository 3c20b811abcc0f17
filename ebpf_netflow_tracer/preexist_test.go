package tracer_test

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// preConn is a connection a test opened before the tracer started: the client's and the
// server's pids, the client's end (local) and the server's (remote).
type preConn struct {
	client, server int
	local, remote  netip.AddrPort
	netns          string // the namespace's name ("": the host's)
}

// openHeld connects client to server and keeps the connection open (-hold) until the
// client is released.
func openHeld(t *testing.T, netpeer string, server *peer, prefix []string, extra ...string) (*peer, preConn) {
	t.Helper()
	argv := append(append(append([]string(nil), prefix...), netpeer, "client", "-connect", server.addr.String(),
		"-end", "first", "-hold"), extra...)
	c := startPeer(t, argv...)
	ok := c.waitLines(t, "ok ", 1)[0]
	var local, remote string
	_, err := fmt.Sscanf(ok, "ok local=%s remote=%s", &local, &remote)
	require.NoError(t, err, "%q", ok)
	pc := preConn{client: c.pid, server: server.pid}
	pc.local, err = netip.ParseAddrPort(local)
	require.NoError(t, err)
	pc.remote, err = netip.ParseAddrPort(remote)
	require.NoError(t, err)
	require.Equal(t, server.addr, pc.remote)
	return c, pc
}

// TestLivePreexisting: connections opened before the tracer starts, and still open, are
// listed once per end (the client's → and the server's ←, each with its pid), with
// preexisting=1, before any traced line; in the host's namespace and in one the test makes.
// A connection made afterwards is traced as usual, not marked.
func TestLivePreexisting(t *testing.T) {
	requireBPF(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("ip(8) not found: the test needs a network namespace of its own")
	}
	root := repoRoot(t)
	netpeer := buildNetpeer(t, root)
	// This tree's filter: the script's cache (~/.cache/netflow) is shared by every checkout
	// on the machine, and may hold another's, without -list-open.
	filter := filepath.Join(t.TempDir(), "netflow-trace-filter")
	buildProgram(t, root, "./cmd/netflow-trace-filter", filter)
	t.Setenv("NETFLOW_TRACE_FILTER", filter)

	ns := fmt.Sprintf("nfpre%d", os.Getpid())
	_ = exec.Command("ip", "netns", "del", ns).Run()
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	afRun(t, "ip", "netns", "add", ns)
	afRun(t, "ip", "-n", ns, "link", "set", "lo", "up")
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(filepath.Join("/run/netns", ns), &st))
	nsInode := fmt.Sprint(st.Ino)

	// The host's: a server that accepts two (the second after the tracer starts).
	hostSrv := startPeer(t, netpeer, "server", "-end", "last", "-n", "2")
	hostCli, hostConn := openHeld(t, netpeer, hostSrv, nil)
	// The namespace's: 127.0.0.1 there is not the host's.
	inNS := []string{"ip", "netns", "exec", ns}
	nsSrv := startPeer(t, append(inNS, netpeer, "server", "-end", "last")...)
	nsCli, nsConn := openHeld(t, netpeer, nsSrv, inNS, "-netns", filepath.Join("/run/netns", ns))
	nsConn.netns = ns

	tr := startTracer(t, root)
	deadline := time.Now().Add(lineTimeout)
	for _, c := range []preConn{hostConn, nsConn} {
		waitV2(t, tr, fmt.Sprintf("listed for the client %d", c.client), deadline, func(l v2line) bool {
			return l.pid() == c.client && l.kv["preexisting"] == "1"
		})
		waitV2(t, tr, fmt.Sprintf("listed for the server %d", c.server), deadline, func(l v2line) bool {
			return l.pid() == c.server && l.kv["preexisting"] == "1"
		})
	}

	tr.stop(t)
	checkFilteredAndOff(t, root, netpeer, hostConn, hostSrv.addr.Port())
	// Again, to judge the new connection below (the filtered runs saw the held ones too).
	tr = startTracer(t, root)
	waitV2(t, tr, "listed again for the client", time.Now().Add(lineTimeout), func(l v2line) bool {
		return l.pid() == hostConn.client && l.kv["preexisting"] == "1"
	})

	// A new connection, to the host's server: traced, not listed.
	fresh := startPeer(t, netpeer, "client", "-connect", hostSrv.addr.String(), "-end", "first")
	ok := fresh.waitLines(t, "ok ", 1)[0]
	fresh.wait(t)
	var freshLocal string
	_, err := fmt.Sscanf(ok, "ok local=%s", &freshLocal)
	require.NoError(t, err, "%q", ok)
	waitV2(t, tr, "traced for the new client", time.Now().Add(lineTimeout), func(l v2line) bool {
		return !l.close && l.out && l.pid() == fresh.pid
	})
	// The server serves one connection at a time: it accepts the new one once the held
	// one has ended.
	hostCli.release(t)
	nsCli.release(t)
	hostCli.wait(t)
	nsCli.wait(t)
	waitV2(t, tr, "traced for the server's accept of the new client", time.Now().Add(lineTimeout), func(l v2line) bool {
		return !l.close && !l.out && l.pid() == hostSrv.pid && l.remote.String() == freshLocal
	})
	tr.stop(t)

	lines := v2Lines(tr)
	firstTraced := len(lines)
	for i, l := range lines {
		if l.kv["preexisting"] != "1" {
			firstTraced = i
			break
		}
	}
	for i, l := range lines[firstTraced:] {
		assert.NotEqual(t, "1", l.kv["preexisting"], "a listed line after a traced one (%d): %s", firstTraced+i, l.raw)
	}
	for _, c := range []preConn{hostConn, nsConn} {
		checkListed(t, lines, c, nsInode)
	}
	for _, l := range lines {
		if l.pid() == fresh.pid || (l.pid() == hostSrv.pid && l.remote.String() == freshLocal) {
			assert.NotContains(t, l.kv, "preexisting", "the new connection is traced, not listed: %s", l.raw)
		}
	}
	if t.Failed() {
		t.Logf("trace:\n%s\nstderr:\n%s", tr.text(&tr.stdout), tr.text(&tr.stderr))
	}
}

// checkListed requires exactly one listed line for each end of c, with the right ends.
func checkListed(t *testing.T, lines []v2line, c preConn, nsInode string) {
	t.Helper()
	var cli, srv []v2line
	for _, l := range lines {
		if l.kv["preexisting"] != "1" {
			continue
		}
		switch {
		case l.pid() == c.client:
			cli = append(cli, l)
		case l.pid() == c.server:
			srv = append(srv, l)
		}
	}
	where := "host"
	if c.netns != "" {
		where = "netns " + c.netns
	}
	if assert.Len(t, cli, 1, "%s: listed lines of the client %d", where, c.client) {
		l := cli[0]
		assert.True(t, l.out, "%s: the client's end is →: %s", where, l.raw)
		assert.Equal(t, c.remote, l.remote, l.raw)
		assert.Equal(t, c.local, l.local, l.raw)
		checkListedKeys(t, l, c, nsInode)
	}
	if assert.Len(t, srv, 1, "%s: listed lines of the server %d", where, c.server) {
		l := srv[0]
		assert.False(t, l.out, "%s: the server's end is ←: %s", where, l.raw)
		assert.Equal(t, c.local, l.remote, l.raw)
		assert.Equal(t, c.remote, l.local, l.raw)
		checkListedKeys(t, l, c, nsInode)
	}
}

func checkListedKeys(t *testing.T, l v2line, c preConn, nsInode string) {
	t.Helper()
	assert.Equal(t, "netpeer", l.comm, l.raw)
	assert.Equal(t, "0", l.kv["uid"], l.raw)
	assert.Equal(t, "netpeer", l.kv["exe"], l.raw)
	assert.True(t, strings.HasSuffix(l.kv["conn"], "-0") && len(l.kv["conn"]) > 2, "conn= is the cookie, then -0: %s", l.raw)
	for _, k := range []string{"tid", "ret", "reconnect"} {
		assert.NotContains(t, l.kv, k, l.raw)
	}
	if c.netns != "" {
		assert.Equal(t, nsInode, l.kv["netns"], "the namespace's inode: %s", l.raw)
	} else {
		assert.NotEqual(t, nsInode, l.kv["netns"], l.raw)
		assert.NotEmpty(t, l.kv["netns"], l.raw)
	}
}

// checkFilteredAndOff: with --port, only the held connection on that port is listed (the
// namespace's is not); with --no-preexisting, nothing is, and a new connection (a
// sentinel: listed lines would come before its line) is traced.
func checkFilteredAndOff(t *testing.T, root, netpeer string, c preConn, port uint16) {
	t.Helper()
	tr := startTracer(t, root, "--port", fmt.Sprint(port))
	waitV2(t, tr, "listed with --port for the client", time.Now().Add(lineTimeout), func(l v2line) bool {
		return l.pid() == c.client && l.kv["preexisting"] == "1"
	})
	tr.stop(t)
	lines := v2Lines(tr)
	for _, l := range lines {
		if l.kv["preexisting"] == "1" {
			assert.True(t, l.local.Port() == port || l.remote.Port() == port, "--port %d lists only its connections: %s", port, l.raw)
		}
	}
	assert.Len(t, lines, 2, "--port %d: the held connection's two ends:\n%s", port, tr.text(&tr.stdout))

	srv := startPeer(t, netpeer, "server", "-end", "first", "-n", "0")
	tr = startTracer(t, root, "--no-preexisting", "--port", fmt.Sprint(srv.addr.Port()), "--comm", "netpeer")
	cli := startPeer(t, netpeer, "client", "-connect", srv.addr.String(), "-end", "last")
	cli.wait(t)
	waitV2(t, tr, "traced with --no-preexisting", time.Now().Add(lineTimeout), func(l v2line) bool {
		return !l.close && l.out && l.pid() == cli.pid
	})
	tr.stop(t)
	for _, l := range v2Lines(tr) {
		assert.NotContains(t, l.kv, "preexisting", "--no-preexisting: %s", l.raw)
	}
}
