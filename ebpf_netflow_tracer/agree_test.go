package tracer_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// haveKprobes: the kernel has kprobes (CONFIG_KPROBES), as scripts/netflow-trace checks.
func haveKprobes() bool {
	for _, f := range []string{"/sys/bus/event_source/devices/kprobe/type", "/sys/kernel/tracing/kprobe_events"} {
		if _, err := os.Stat(f); err == nil {
			return true
		}
	}
	return false
}

// requireKprobesAttached checks that the kernel itself lists a kprobe and a kretprobe on each
// of funcs (debugfs kprobes/list: "ADDR  k  tcp_v4_connect+0x0 ..."; r for a kretprobe): the
// kprobe variant really runs, not something that prints the same lines another way.
func requireKprobesAttached(t *testing.T, funcs ...string) {
	t.Helper()
	data, err := os.ReadFile("/sys/kernel/debug/kprobes/list")
	require.NoError(t, err, "the kernel's list of kprobes (debugfs)")
	have := map[string]bool{}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 {
			sym, _, _ := strings.Cut(f[2], "+")
			have[f[1]+" "+sym] = true
		}
	}
	for _, fn := range funcs {
		assert.True(t, have["k "+fn], "no kprobe on %s in the kernel's list:\n%s", fn, data)
		assert.True(t, have["r "+fn], "no kretprobe on %s in the kernel's list:\n%s", fn, data)
	}
}

// TestLiveVariantsAgree runs the kprobe and the tracepoint tracer at the same time on one
// workload (real servers and clients in separate processes: IPv4, IPv6, a dual-stack listener
// reached over IPv4, a blocking connect refused, a non-blocking one refused), and requires
// that both print the same line for each connection, byte for byte, and the edge each line
// stands for: client pid → server pid, exactly. Where the kernel has kprobes.
func TestLiveVariantsAgree(t *testing.T) {
	if !haveKprobes() {
		t.Skip("this kernel has no kprobes; netflow.bt is compile-checked by TestScriptsCompile and run live by scripts/test-kernels")
	}
	requireBPF(t)
	root := repoRoot(t)
	netpeer := buildNetpeer(t, root)
	require.True(t, ipv6Loopback(), "no IPv6 loopback ([::1]); the test needs it")

	variants := []string{"kprobe", "tracepoint"}
	trs := map[string]*tracer{}
	for _, v := range variants {
		trs[v] = spawnTracer(t, root, "--variant", v, "--comm", "netpeer")
	}
	for _, v := range variants {
		trs[v].waitStarted(t)
	}
	requireKprobesAttached(t, "tcp_v4_connect", "tcp_v6_connect", "inet_csk_accept")

	// One connection as the workload made it; a refused one has no server and no local end.
	type connection struct {
		name             string
		clientPid        int
		serverPid        int // 0: refused
		remote, local    netip.AddrPort
		remoteV6, mapped bool // → in brackets; ← printed as [::ffff:a.b.c.d]
	}
	var conns []connection
	for _, c := range []struct {
		name, listen, dialHost string
		n                      int
	}{
		{"ipv4", "127.0.0.1:0", "", 2},
		{"ipv6", "[::1]:0", "", 1},
		{"dual-stack listener reached over ipv4", "[::]:0", "127.0.0.1", 1},
	} {
		s := startServer(t, netpeer, c.listen, c.n)
		addr := s.addr.String()
		if c.dialHost != "" {
			addr = net.JoinHostPort(c.dialHost, strconv.Itoa(int(s.addr.Port())))
		}
		pid, cs := runClient(t, netpeer, addr, c.n)
		require.Len(t, cs, c.n)
		for i, cc := range cs {
			conns = append(conns, connection{name: fmt.Sprintf("%s/%d", c.name, i), clientPid: pid, serverPid: s.pid,
				remote: cc.remote, local: cc.local, remoteV6: c.listen == "[::1]:0", mapped: c.dialHost != ""})
		}
	}
	refused4 := closedPort(t, "tcp4", "127.0.0.1")
	pid, _ := runClient(t, netpeer, refused4.String(), 1, "-blocking", "-expect-fail")
	conns = append(conns, connection{name: "refused blocking ipv4", clientPid: pid, remote: refused4})
	refused6 := closedPort(t, "tcp6", "::1")
	pid, _ = runClient(t, netpeer, refused6.String(), 1, "-expect-fail")
	conns = append(conns, connection{name: "refused non-blocking ipv6", clientPid: pid, remote: refused6, remoteV6: true})

	type lines struct{ out, in event }
	got := map[string]map[string]lines{} // variant → connection name → its lines
	for _, v := range variants {
		got[v] = map[string]lines{}
		for _, c := range conns {
			var l lines
			l.out, _ = trs[v].waitFor(t, fmt.Sprintf("(%s) → of %s, pid %d", v, c.name, c.clientPid), func(e event) bool {
				return e.out && e.pid == c.clientPid && (c.serverPid == 0 || e.local.Port() == c.local.Port())
			})
			if c.serverPid != 0 {
				l.in, _ = trs[v].waitFor(t, fmt.Sprintf("(%s) ← of %s, pid %d", v, c.name, c.serverPid), func(e event) bool {
					return !e.out && e.pid == c.serverPid && e.remote.Port() == c.local.Port()
				})
			}
			got[v][c.name] = l
		}
	}
	for _, v := range variants {
		trs[v].stop(t)
		t.Logf("%s trace:\n%s", v, trs[v].text(&trs[v].stdout))
	}

	for _, c := range conns {
		t.Run(c.name, func(t *testing.T) {
			k, tp := got["kprobe"][c.name], got["tracepoint"][c.name]
			// Byte for byte but conn=, each tracer's own (its run's secret, its probe's time).
			assert.Equal(t, withoutConn(tp.out.raw), withoutConn(k.out.raw), "→ line: tracepoint (expected) and kprobe (actual) differ")
			assert.Equal(t, withoutConn(tp.in.raw), withoutConn(k.in.raw), "← line: tracepoint (expected) and kprobe (actual) differ")
			for _, v := range variants {
				l := got[v][c.name]
				if l.out.raw == "" {
					continue // waitFor said so
				}
				assert.Equal(t, c.clientPid, l.out.pid, "(%s) the → line is the client's: %s", v, l.out.raw)
				assert.Equal(t, c.remote, l.out.remote, "(%s) %s", v, l.out.raw)
				assert.Equal(t, c.remoteV6, strings.HasPrefix(l.out.raw, "["), "(%s) %s", v, l.out.raw)
				if c.serverPid == 0 {
					assert.Equal(t, -111, l.out.ret, "(%s) refused: %s", v, l.out.raw)
					continue
				}
				assert.Equal(t, 0, l.out.ret, "(%s) %s", v, l.out.raw)
				assert.Equal(t, c.local, l.out.local, "(%s) %s", v, l.out.raw)
				if l.in.raw == "" {
					continue
				}
				// The edge: this client pid → this server pid, the two lines mirrored.
				assert.Equal(t, c.serverPid, l.in.pid, "(%s) the ← line is the server's: %s", v, l.in.raw)
				assert.NotEqual(t, c.clientPid, l.in.pid, "(%s) %s", v, l.in.raw)
				assert.Equal(t, l.out.local, l.in.remote, "(%s) mirrored: %s | %s", v, l.out.raw, l.in.raw)
				assert.Equal(t, l.out.remote, l.in.local, "(%s) mirrored: %s | %s", v, l.out.raw, l.in.raw)
				assert.Equal(t, c.mapped, strings.HasPrefix(l.in.raw, "[::ffff:127.0.0.1]:"), "(%s) %s", v, l.in.raw)
			}
		})
	}

	// Exactly one line per connection and side, in both.
	t.Run("one line per connection", func(t *testing.T) {
		want := map[string]int{}
		for _, c := range conns {
			want[fmt.Sprintf("→ pid=%d", c.clientPid)]++
			if c.serverPid != 0 {
				want[fmt.Sprintf("← pid=%d", c.serverPid)]++
			}
		}
		for _, v := range variants {
			have := map[string]int{}
			for _, l := range strings.Split(trs[v].text(&trs[v].stdout), "\n") {
				e, err := parseLine(l)
				if err != nil {
					continue
				}
				arrow := "←"
				if e.out {
					arrow = "→"
				}
				if key := fmt.Sprintf("%s pid=%d", arrow, e.pid); want[key] != 0 {
					have[key]++
				}
			}
			assert.Equal(t, want, have, "(%s) lines per process", v)
		}
	})
}

// withoutConn is a line without the value of its conn=, which differs between two tracers.
func withoutConn(line string) string {
	return connRE.ReplaceAllString(line, " conn=X ")
}

var connRE = regexp.MustCompile(` conn=[0-9a-f]+-[0-9a-f]+ `)
