package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"netflow/net_visualizer/internal/render"
)

// TestMatchesBaselineOnGeneratedTraces is the differential test of the fast path: on
// generated traces of several shapes (lines of a connection shuffled, IPv6, IPv4-mapped
// peers, inbound peers, 4-tuples reused over the trace), net_visualizer's edges equal those
// of dev/baseline, the plain implementation that keeps every connection in memory.
func TestMatchesBaselineOnGeneratedTraces(t *testing.T) {
	dir := t.TempDir()
	gen, base := filepath.Join(dir, "gen"), filepath.Join(dir, "baseline")
	for bin, pkg := range map[string]string{gen: "netflow/dev/netflow-gen", base: "netflow/dev/baseline"} {
		out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	shapes := [][]string{
		{"-connections", "30000", "-seed", "1"},
		{"-connections", "30000", "-seed", "2", "-shuffle-window", "2000", "-inbound", "0.05"},
		{"-connections", "60000", "-seed", "3", "-processes", "7", "-external", "3", "-ipv6", "0.5"},
		{"-connections", "20000", "-seed", "4", "-pad=false", "-external-share", "0"},
	}
	for _, shape := range shapes {
		t.Run(strings.Join(shape, " "), func(t *testing.T) {
			trace, err := exec.Command(gen, shape...).Output()
			require.NoError(t, err)
			cmd := exec.Command(base, "-edges")
			cmd.Stdin = bytes.NewReader(trace)
			want, err := cmd.Output()
			require.NoError(t, err)

			code, out, stderr := runMain(t, string(trace), "-q", "-hosts", "", "-format", "json")
			require.Equal(t, 0, code, stderr)
			got := edgesLikeBaseline(t, out)
			require.Equal(t, asShown(strings.Split(strings.TrimSpace(string(want)), "\n")), got)
		})
	}
}

// asShown puts baseline's names (as the tracer printed them, \xNN escapes and all) the
// way the JSON shows them (render.Text).
func asShown(lines []string) []string {
	for i, l := range lines {
		f := strings.Split(l, "\t")
		for j := 0; j < 2 && j < len(f); j++ {
			f[j] = render.Text(f[j])
		}
		lines[i] = strings.Join(f, "\t")
	}
	sort.Strings(lines)
	return lines
}

// edgesLikeBaseline prints our JSON edges the way baseline -edges does.
func edgesLikeBaseline(t *testing.T, out string) []string {
	var g struct {
		Nodes []struct {
			ID, Kind, Comm, Addr string
			PID                  int
		}
		Edges []struct {
			From, To    string
			Connections int
			Failed      bool
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &g))
	name := map[string]string{}
	for _, n := range g.Nodes {
		if n.Kind == "process" {
			name[n.ID] = fmt.Sprintf("%d/%s", n.PID, n.Comm)
		} else {
			name[n.ID] = "ext:" + n.Addr
		}
	}
	var lines []string
	for _, e := range g.Edges {
		to := name[e.To]
		if e.Failed {
			to = "failed:" + strings.TrimPrefix(to, "ext:")
		}
		lines = append(lines, fmt.Sprintf("%s\t%s\t%d", name[e.From], to, e.Connections))
	}
	sort.Strings(lines)
	return lines
}
