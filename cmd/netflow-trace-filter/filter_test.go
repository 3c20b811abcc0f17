package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The inputs: real bpftrace 0.17 output (netflow_tp.bt and netflow_tp_agg.bt run with
// FLUSH/SECONDS 1 and --port 47111 while a test program made IPv4 and IPv6 connections,
// refused ones and connections under hostile names), and a synthetic stream with what a
// capture rarely shows (lost events, stray bpftrace messages, a full map, a last line
// without a newline).
var cases = []struct {
	name, input string
	agg         bool
}{
	{"tp", "tp.raw", false},
	{"tp_agg", "tp_agg.raw", true},
	{"synthetic", "synthetic.raw", false},
	{"synthetic_agg", "synthetic.raw", true},
}

const status = "tracing TCP connect/accept with tracepoint probes; Ctrl-C to stop"

func filterOutput(t *testing.T, input []byte, agg bool) (stdout, stderr string) {
	t.Helper()
	args := []string{"-status", status}
	if agg {
		args = append(args, "-aggregate")
	}
	var out, errb bytes.Buffer
	require.NoError(t, run(args, bytes.NewReader(input), &out, &errb))
	return out.String(), errb.String()
}

// TestFilterGolden checks the filter's stdout and stderr against the golden files, which were
// written by the awk program scripts/netflow-trace used before the filter (see
// TestFilterMatchesAwk): the same bytes on both streams.
func TestFilterGolden(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			input, err := os.ReadFile(filepath.Join("testdata", c.input))
			require.NoError(t, err)
			stdout, stderr := filterOutput(t, input, c.agg)
			golden := filepath.Join("testdata", c.name)
			if *update {
				require.NoError(t, os.WriteFile(golden+".stdout", []byte(stdout), 0o644))
				require.NoError(t, os.WriteFile(golden+".stderr", []byte(stderr), 0o644))
			}
			want, err := os.ReadFile(golden + ".stdout")
			require.NoError(t, err)
			assert.Equal(t, string(want), stdout)
			want, err = os.ReadFile(golden + ".stderr")
			require.NoError(t, err)
			assert.Equal(t, string(want), stderr)
		})
	}
}

// awkProgram is the awk converter of scripts/netflow-trace, as long as it has one.
func awkProgram(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "scripts", "netflow-trace"))
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(src), `exec awk -v status="$status" -v agg="$aggregate" '`)
	if !ok {
		t.Skip("scripts/netflow-trace has no awk converter any more")
	}
	prog, _, ok := strings.Cut(rest, "' ) <&5")
	require.True(t, ok)
	return prog
}

// TestFilterMatchesAwk runs the awk converter on the same inputs: the filter must print the
// same bytes on stdout and on stderr.
func TestFilterMatchesAwk(t *testing.T) {
	prog := awkProgram(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			input, err := os.ReadFile(filepath.Join("testdata", c.input))
			require.NoError(t, err)
			agg := "0"
			if c.agg {
				agg = "3"
			}
			cmd := exec.Command("awk", "-v", "status="+status, "-v", "agg="+agg, prog)
			cmd.Stdin = bytes.NewReader(input)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			require.NoError(t, cmd.Run())
			stdout, stderr := filterOutput(t, input, c.agg)
			assert.Equal(t, out.String(), stdout)
			assert.Equal(t, errb.String(), stderr)
			assert.NotEmpty(t, stdout)
		})
	}
}
