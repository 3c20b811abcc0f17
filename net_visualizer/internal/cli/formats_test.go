package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// captures of other tools, next to lines.trace: our lines of the same connections.
var captures = []string{"netmon.jsonl", "tracee-release.jsonl", "tracee-new.jsonl"}

func TestInputFormatsGolden(t *testing.T) {
	for _, c := range captures {
		for _, format := range []string{"dot", "json"} {
			t.Run(c+"."+format, func(t *testing.T) {
				path := filepath.Join("testdata", "formats", c)
				code, out, stderr := runMain(t, "", "-q", "-strict", "-format", format, path)
				require.Equal(t, 0, code, stderr)
				golden := strings.TrimSuffix(path, ".jsonl") + "." + format
				if *update {
					require.NoError(t, os.WriteFile(golden, []byte(out), 0o644))
				}
				want, err := os.ReadFile(golden)
				require.NoError(t, err, "run go test ./net_visualizer/internal/cli -update to create it")
				assert.Equal(t, string(want), out)
			})
		}
	}
}

// A capture of NetMon or tracee draws the graph our lines of the same connections draw;
// tracee's adds the DNS name of the external node.
func TestInputFormatsDrawOurGraph(t *testing.T) {
	dot := func(path string) string {
		code, out, stderr := runMain(t, "", "-q", "-strict", "-format", "dot", filepath.Join("testdata", "formats", path))
		require.Equal(t, 0, code, stderr)
		return out
	}
	ours := dot("lines.trace")
	require.Contains(t, ours, "curl\\npid 4012")
	assert.Equal(t, ours, dot("netmon.jsonl"))
	for _, c := range []string{"tracee-release.jsonl", "tracee-new.jsonl"} {
		got := dot(c)
		assert.Contains(t, got, `label="example.com\n93.184.215.14:443"`, c)
		assert.Equal(t, ours, strings.Replace(got, `example.com\n`, "", 1), c)

		code, out, stderr := runMain(t, "", "-q", "-format", "json", filepath.Join("testdata", "formats", c))
		require.Equal(t, 0, code, stderr)
		var g struct {
			Nodes []struct{ Addr, DNS string }
		}
		require.NoError(t, json.Unmarshal([]byte(out), &g))
		dns := map[string]string{}
		for _, n := range g.Nodes {
			dns[n.Addr] = n.DNS
		}
		assert.Equal(t, "example.com", dns["93.184.215.14:443"], c)
	}
}

// Every line goes to its format's decoder, in one stream: a malformed JSON line is reported
// with its number, and reading goes on.
func TestInputFormatsMixedAndMalformed(t *testing.T) {
	read := func(name string) []string {
		b, err := os.ReadFile(filepath.Join("testdata", "formats", name))
		require.NoError(t, err)
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	netmon, tracee := read("netmon.jsonl"), read("tracee-new.jsonl")
	in := strings.Join([]string{
		"127.0.0.1:9000→127.0.0.1:40001|pid=5 conn=a comm=ours",
		`{"type": "printf", "data": "127.0.0.1:9001\uffffffe2\uffffff86\uffffff92127.0.0.1:40002|pid=6 comm=bpf\n"}`,
		netmon[1],
		`{"type":"NetworkEvent","network_event":`, // cut short
		tracee[4],
		`{"some":"other json"}`,
	}, "\n") + "\n"
	code, out, stderr := runMain(t, in, "-format", "json")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "line 4: not a trace line, nor bpftrace JSON, NetMon or tracee JSON")
	assert.Contains(t, stderr, "line 6: JSON of no known format")
	assert.Contains(t, stderr, "2 malformed")
	for _, comm := range []string{`"ours"`, `"bpf"`, `"curl"`} {
		assert.Contains(t, out, comm)
	}
	assert.Contains(t, out, `"dns": "example.com"`)
}

// A hostile DNS name from a tracee capture breaks neither the DOT nor the JSON.
func TestTraceeHostileDNSName(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "formats", "tracee-release.jsonl"))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	evil := `"evil\"];\nn9[label=<b>x</b>] \\ \u0007 é"`
	line := strings.Replace(lines[4], `"example.com"`, evil, 1)
	require.NotEqual(t, lines[4], line)

	code, out, stderr := runMain(t, line+"\n", "-q", "-strict", "-format", "dot")
	require.Equal(t, 0, code, stderr)
	assert.NotContains(t, out, "\n\tn9[", "a name must not add a node")
	assert.NotContains(t, out, "\a")
	assert.Contains(t, out, `label="evil\"];\\x0an9[label=<b>x</b>] \\ \\x07 é\n93.184.215.14:443"`)

	code, out, stderr = runMain(t, line+"\n", "-q", "-strict", "-format", "json")
	require.Equal(t, 0, code, stderr)
	var g struct{ Nodes []struct{ DNS string } }
	require.NoError(t, json.Unmarshal([]byte(out), &g))
	found := false
	for _, n := range g.Nodes {
		found = found || strings.HasPrefix(n.DNS, `evil"];`)
	}
	assert.True(t, found, out)
}

// NetMon's documentation prints its events pretty-printed: such an input is read too.
func TestPrettyPrintedNetMon(t *testing.T) {
	dot := func(path string) string {
		code, out, stderr := runMain(t, "", "-q", "-strict", "-format", "dot", filepath.Join("testdata", "formats", path))
		require.Equal(t, 0, code, stderr)
		return out
	}
	assert.Equal(t, dot("lines.trace"), dot("netmon-pretty.json"))
}

// A process's record (graph.Node.Proc) is in the JSON, hostile bytes escaped.
func TestNetMonProcInJSON(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "formats", "netmon.jsonl"))
	require.NoError(t, err)
	line := strings.Split(string(b), "\n")[1]
	line = strings.Replace(line, `"args":"-s http://127.0.0.1:8080/"`, `"args":"x\"\n\u202e\u0000"`, 1)
	line = strings.Replace(line, `"binary_path":"/usr/bin/curl"`, `"binary_path":"/tmp/a b\tc"`, 1)
	code, out, stderr := runMain(t, line+"\n", "-q", "-strict", "-format", "json")
	require.Equal(t, 0, code, stderr)
	var g struct {
		Nodes []struct {
			PID  uint32
			Proc *struct {
				PPID    uint32   `json:"ppid"`
				ExePath string   `json:"exe_path"`
				Args    []string `json:"args"`
			}
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &g), out)
	require.NotEmpty(t, g.Nodes)
	require.NotNil(t, g.Nodes[0].Proc, out)
	assert.Equal(t, uint32(3990), g.Nodes[0].Proc.PPID)
	assert.Equal(t, `/tmp/a b\x09c`, g.Nodes[0].Proc.ExePath)
	assert.Equal(t, []string{"curl", `x"`, `\xe2\x80\xae\x00`}, g.Nodes[0].Proc.Args)
}

// A filter sees the uid of a capture that carries its process.
func TestFilterOnNetMonUID(t *testing.T) {
	path := filepath.Join("testdata", "formats", "netmon.jsonl")
	code, out, stderr := runMain(t, "", "-q", "-filter", "uid == 1000", "-format", "dot", path)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "curl")
	code, out, stderr = runMain(t, "", "-q", "-filter", "uid == 4242", "-format", "dot", path)
	require.Equal(t, 0, code, stderr)
	assert.NotContains(t, out, "curl")
}
