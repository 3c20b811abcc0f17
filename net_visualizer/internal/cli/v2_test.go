package cli

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// edgesByName decodes the edges of -format json output, by "from comm -> to comm/addr".
func edgesByName(t *testing.T, out string) map[string]map[string]any {
	t.Helper()
	var g struct {
		Nodes []map[string]any `json:"nodes"`
		Edges []map[string]any `json:"edges"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &g))
	name := map[string]string{}
	for _, n := range g.Nodes {
		if c, ok := n["comm"].(string); ok {
			name[n["id"].(string)] = c
		} else {
			name[n["id"].(string)] = n["addr"].(string)
		}
	}
	edges := map[string]map[string]any{}
	for _, e := range g.Edges {
		edges[name[e["from"].(string)]+" -> "+name[e["to"].(string)]] = e
	}
	return edges
}

// TestCloseFieldsInJSON reads the hand-written version 2 trace (testdata/v2.trace, from
// the examples of docs/line-format.md) and checks each edge's fields.
func TestCloseFieldsInJSON(t *testing.T) {
	in, err := os.ReadFile("testdata/v2.trace")
	require.NoError(t, err)
	code, out, stderr := runMain(t, string(in), "-format", "json", "-hosts", "")
	require.Equal(t, 0, code, stderr)
	edges := edgesByName(t, out)

	e := edges["curl -> nginx"]
	require.NotNil(t, e, "%v", edges)
	assert.Equal(t, 1.0, e["connections"], "the repeated connect line is no new connection")
	assert.Equal(t, 12345.0, e["bytes_to_server"])
	assert.Equal(t, 54321.0, e["bytes_to_client"])
	assert.Equal(t, 0.0, e["retransmits"])
	assert.Equal(t, map[string]any{"client": 1.0, "server": 0.0, "reset": 0.0}, e["closed"])
	assert.Equal(t, 0.0, e["open"])
	assert.Equal(t, map[string]any{"p50": 0.085, "max": 0.085}, e["connect_ms"])
	assert.Equal(t, map[string]any{"p50": 1.532, "max": 1.532}, e["duration_ms"])
	assert.Equal(t, 0.0, e["reconnects"])

	e = edges["nginx -> python3"]
	require.NotNil(t, e)
	assert.Equal(t, 2.0, e["connections"], "the repeated close line is no new connection")
	assert.Equal(t, 510.0, e["bytes_to_server"])
	assert.Equal(t, 3145728.0, e["bytes_to_client"])
	assert.Equal(t, 2.0, e["retransmits"], "counted once, though its close line came twice")
	assert.Equal(t, map[string]any{"client": 1.0, "server": 1.0, "reset": 0.0}, e["closed"])
	assert.Equal(t, 1.0, e["reconnects"])
	assert.Equal(t, map[string]any{"p50": 0.04, "max": 0.061}, e["connect_ms"])
	assert.Equal(t, map[string]any{"p50": 0.9, "max": 2.3}, e["duration_ms"])

	e = edges["python3 -> redis-server"]
	require.NotNil(t, e)
	assert.Equal(t, 1.0, e["connections"], "close lines before their open lines join")
	assert.Equal(t, map[string]any{"client": 0.0, "server": 0.0, "reset": 1.0}, e["closed"])

	e = edges["curl -> 127.0.0.1:18081"]
	require.NotNil(t, e)
	assert.Equal(t, true, e["failed"])
	assert.Equal(t, map[string]any{"client": 0.0, "server": 0.0, "reset": 0.0}, e["closed"], "a failed connect is not closed")
	assert.Equal(t, 0.0, e["open"])

	e = edges["python3 -> postgres"]
	require.NotNil(t, e)
	for _, f := range []string{"bytes_to_server", "bytes_to_client", "retransmits", "closed", "open",
		"connect_ms", "duration_ms", "reconnects"} {
		assert.NotContains(t, e, f, "no close line for the edge: no close fields")
	}

	e = edges["curl -> 198.51.100.7:443"]
	require.NotNil(t, e, "an external server: the one traced end")
	assert.Equal(t, 3145728.0, e["bytes_to_client"])
	assert.Equal(t, 7.0, e["retransmits"])
	assert.Equal(t, map[string]any{"client": 0.0, "server": 1.0, "reset": 0.0}, e["closed"])

	e = edges[`x"];n9[label="&amp;<b>\x1b[31m -> 127.0.0.1:9000`]
	require.NotNil(t, e, "a hostile name on a close line stays one name: %v", edges)
	assert.Equal(t, map[string]any{"client": 0.0, "server": 0.0, "reset": 0.0, "timeout": 1.0}, e["closed"])
	assert.NotContains(t, out, "<b>", "JSON stays safe to embed in a web page")
}

// TestRepeatsDrawTheSameGraph: every line of a version 2 trace delivered twice, in any
// order, gives the same DOT, byte for byte, and the same JSON but for the counts of lines
// read (stats.lines, stats.events, stats.repeats).
func TestRepeatsDrawTheSameGraph(t *testing.T) {
	in, err := os.ReadFile("testdata/v2.trace")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(in)), "\n")
	norm := func(js string) string {
		var g map[string]any
		require.NoError(t, json.Unmarshal([]byte(js), &g))
		stats := g["stats"].(map[string]any)
		delete(stats, "lines")
		delete(stats, "events")
		delete(stats, "repeats")
		b, err := json.Marshal(g)
		require.NoError(t, err)
		return string(b)
	}
	_, wantDOT, _ := runMain(t, string(in), "-hosts", "")
	_, wantJSON, _ := runMain(t, string(in), "-hosts", "", "-format", "json")
	for seed := int64(1); seed <= 10; seed++ {
		r := rand.New(rand.NewSource(seed))
		twice := append(append([]string(nil), lines...), lines...)
		r.Shuffle(len(twice), func(a, b int) { twice[a], twice[b] = twice[b], twice[a] })
		trace := strings.Join(twice, "\n") + "\n"
		code, dot, stderr := runMain(t, trace, "-hosts", "")
		require.Equal(t, 0, code, stderr)
		require.Equal(t, wantDOT, dot, "seed %d", seed)
		_, js, _ := runMain(t, trace, "-hosts", "", "-format", "json")
		require.Equal(t, norm(wantJSON), norm(js), "seed %d", seed)
	}
}

// TestFilterOnCloseFields: an end is judged by its close line when it has one, so the
// close fields select whole connections.
func TestFilterOnCloseFields(t *testing.T) {
	in, err := os.ReadFile("testdata/v2.trace")
	require.NoError(t, err)
	keys := func(expr string) []string {
		t.Helper()
		code, out, stderr := runMain(t, string(in), "-format", "json", "-hosts", "", "-filter", expr)
		require.Equal(t, 0, code, stderr)
		var ks []string
		for k := range edgesByName(t, out) {
			ks = append(ks, k)
		}
		return ks
	}
	assert.ElementsMatch(t, []string{"python3 -> redis-server"}, keys(`closed_by == "reset"`))
	assert.ElementsMatch(t, []string{"nginx -> python3", "curl -> 198.51.100.7:443"}, keys(`bytes > 1024*1024`))
	assert.ElementsMatch(t, []string{"nginx -> python3"}, keys(`bytes_to_client >= 2*1024*1024 && bytes_to_client < 3*1024*1024`))
	assert.ElementsMatch(t, []string{"python3 -> postgres"}, keys(`closed_by == "open"`))
	assert.ElementsMatch(t, []string{"curl -> 198.51.100.7:443", `x"];n9[label="&amp;<b>\x1b[31m -> 127.0.0.1:9000`}, keys(`retransmits > 3`))
	assert.ElementsMatch(t, []string{`x"];n9[label="&amp;<b>\x1b[31m -> 127.0.0.1:9000`}, keys(`duration > 1000 && closed_by == "timeout"`))
	// Their open lines say bytes 0, but the close lines decide: the big connections are out.
	assert.NotContains(t, keys(`bytes < 1000`), "nginx -> python3")
	assert.NotContains(t, keys(`bytes < 1000`), "curl -> 198.51.100.7:443")
	assert.Contains(t, keys(`bytes < 1000`), "python3 -> redis-server")
}

func TestNewerLineFormatWarnsOnce(t *testing.T) {
	in := "# line format 4\n127.0.0.1:80→127.0.0.1:4000|pid=1 comm=a\n# line format 4\n# line format 2\n"
	code, out, stderr := runMain(t, in, "-q")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, 1, strings.Count(stderr, "line format 4 is newer than this reader's 3"), stderr)
	assert.Contains(t, stderr, "line 1:")
	assert.Contains(t, out, "pid 1", "reading went on")
	for _, v := range []string{"# line format 1\n", "# line format 2\n", "# line format 3\n"} {
		_, _, stderr = runMain(t, v+"127.0.0.1:80→127.0.0.1:4000|pid=1 comm=a\n", "-q")
		assert.Empty(t, stderr)
	}
}

func TestMalformedCloseLinesAreReported(t *testing.T) {
	in := "close 127.0.0.1:80→127.0.0.1:4000|pid=1 conn=a end=local sent=1x comm=a\n"
	code, _, stderr := runMain(t, in)
	require.Equal(t, 0, code)
	assert.Contains(t, stderr, `line 1: sent="1x" is not a number`)
	assert.Contains(t, stderr, "1 malformed")
}

// TestHostileNamesOnCloseLines: a name on a close line, alone or after its open line, is
// one node's name in DOT (Graphviz reads it back as written) and JSON, nothing more.
func TestHostileNamesOnCloseLines(t *testing.T) {
	needGraphviz(t)
	names := []string{`"];x[label="`, `}; digraph { evil`, `<script>alert(1)</script>`, `a\Nb end=peer sent=999`, "bad\xffutf8"}
	var in strings.Builder
	for i, n := range names {
		fmt.Fprintf(&in, "203.0.113.1:443→10.0.0.2:%d|pid=%d conn=o%d comm=%s\n", 40000+i, i+1, i, n)
		fmt.Fprintf(&in, "close 203.0.113.1:443→10.0.0.2:%d|pid=%d conn=o%d end=reset-recv sent=7 recv=9 retrans=1 comm=%s\n", 40000+i, i+1, i, n)
		fmt.Fprintf(&in, "close 203.0.113.2:443→10.0.0.2:%d|pid=%d conn=c%d end=local sent=7 recv=9 comm=%s\n", 41000+i, i+1, i, n)
	}
	code, out, stderr := runMain(t, in.String(), "-hosts", "")
	require.Equal(t, 0, code, stderr)
	labels := plainNodes(t, out)
	assert.Len(t, labels, len(names)+2, "one process per name, two external nodes")
	code, out, stderr = runMain(t, in.String(), "-hosts", "", "-format", "json")
	require.Equal(t, 0, code, stderr)
	assert.NotContains(t, out, "<script>")
	edges := edgesByName(t, out)
	e := edges[`a\Nb end=peer sent=999 -> 203.0.113.1:443`]
	require.NotNil(t, e, "%v", edges)
	assert.Equal(t, 7.0, e["bytes_to_server"], "keys inside a name are the name's")
	assert.Equal(t, map[string]any{"client": 0.0, "server": 0.0, "reset": 1.0}, e["closed"])
}
