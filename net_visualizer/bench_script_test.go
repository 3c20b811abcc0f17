package main

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBenchVisualizerTables: scripts/bench-visualizer prints its table, and with --big the
// rows the big-graph bars are read from (the reading alone, DOT, JSON and -every), every one a
// measurement (no "failed"). Small traces: this checks the script, not the speed.
func TestBenchVisualizerTables(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every program of the benchmark")
	}
	row := regexp.MustCompile(`^\| ([^|]+) \| [0-9,]+ \| [0-9.]+ \| [0-9,]+ \| [0-9]+ \| [0-9.]+× \| [0-9.]+ \|$`)
	for _, tt := range []struct {
		args []string
		rows []string
	}{
		{[]string{"--runs", "1", "--", "-connections", "2000"}, []string{"cat (read floor)", "baseline", "net_visualizer"}},
		{[]string{"--runs", "1", "--big", "--", "-connections", "3000", "-processes", "50", "-external", "100", "-inbound", "0.05"},
			[]string{"cat (read floor)", "baseline", "net_visualizer -pid 1 (all filtered out)", "net_visualizer", "net_visualizer -format json",
				"net_visualizer -every 1s -o FILE"}},
	} {
		out, err := exec.Command("../scripts/bench-visualizer", tt.args...).CombinedOutput()
		require.NoError(t, err, "%s", out)
		var got []string
		for _, l := range strings.Split(string(out), "\n") {
			if m := row.FindStringSubmatch(l); m != nil {
				got = append(got, m[1])
			}
		}
		assert.Equal(t, tt.rows, got, "rows of bench-visualizer %v:\n%s", tt.args, out)
	}
}
