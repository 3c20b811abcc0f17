package tracer_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEndToEnd is the whole pipeline on the real kernel: scripts/netflow-trace, real servers
// and clients in separate processes over IPv4, IPv6 and a dual-stack listener, SIGINT, then
// net_visualizer on the capture. The JSON graph must hold exactly the true edges: each
// client pid → its server pid, with the number of connections and the server port.
func TestEndToEnd(t *testing.T) {
	requireBPF(t)
	root := repoRoot(t)
	netpeer := buildNetpeer(t, root)
	visualizer := filepath.Join(t.TempDir(), "net_visualizer")
	buildProgram(t, root, "./net_visualizer", visualizer)

	tr := startTracer(t, root, "--comm", "netpeer")
	type want struct {
		client, server int
		port           uint16
		conns          int
	}
	var wants []want
	for _, c := range []struct{ listen, dial string }{
		{"127.0.0.1:0", ""},
		{"[::1]:0", ""},
		{"[::]:0", "127.0.0.1"}, // the accept side sees [::ffff:127.0.0.1]
	} {
		srv := startServer(t, netpeer, c.listen, 3)
		addr := srv.addr.String()
		if c.dial != "" {
			addr = netip.AddrPortFrom(netip.MustParseAddr(c.dial), srv.addr.Port()).String()
		}
		pid, conns := runClient(t, netpeer, addr, 3)
		require.Len(t, conns, 3)
		wants = append(wants, want{pid, srv.pid, srv.addr.Port(), 3})
	}
	// Wait until the last accept is in the capture, then stop as Ctrl-C would.
	last := wants[len(wants)-1]
	tr.waitFor(t, "for the last accept", func(e event) bool { return !e.out && e.pid == last.server })
	tr.stop(t)

	capture := filepath.Join(t.TempDir(), "capture.trace")
	require.NoError(t, os.WriteFile(capture, []byte(tr.text(&tr.stdout)+"\n"), 0o644))
	cmd := exec.Command(visualizer, "-q", "-format", "json", capture)
	cmd.Stderr = os.Stderr
	js, err := cmd.Output()
	require.NoError(t, err)
	var g struct {
		Nodes []struct {
			ID, Kind, Comm string
			PID            int
		}
		Edges []struct {
			From, To    string
			Connections int
			Ports       []uint16
			Failed      bool
		}
	}
	require.NoError(t, json.Unmarshal(js, &g))
	name := map[string]string{}
	for _, n := range g.Nodes {
		name[n.ID] = n.Kind + ":" + strconv.Itoa(n.PID)
	}
	// Only the edges of this test's processes: the tracer sees the whole machine, and
	// other tests (or anything else running) may connect meanwhile.
	ours := map[string]bool{}
	var expect []string
	for _, w := range wants {
		expect = append(expect, fmt.Sprintf("process:%d -> process:%d x%d [%d] failed=false", w.client, w.server, w.conns, w.port))
		ours["process:"+strconv.Itoa(w.client)] = true
		ours["process:"+strconv.Itoa(w.server)] = true
	}
	var got []string
	for _, e := range g.Edges {
		if !ours[name[e.From]] && !ours[name[e.To]] {
			continue
		}
		got = append(got, fmt.Sprintf("%s -> %s x%d %v failed=%v", name[e.From], name[e.To], e.Connections, e.Ports, e.Failed))
	}
	assert.ElementsMatch(t, expect, got, "capture:\n%s", strings.Join(tr.stdout, "\n"))
}
