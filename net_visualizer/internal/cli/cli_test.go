package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden .dot and .json files")

// needGraphviz fails (in CI or with NETFLOW_LIVE=1) or skips when dot is missing.
func needGraphviz(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("dot"); err != nil {
		if os.Getenv("CI") != "" || os.Getenv("NETFLOW_LIVE") == "1" {
			t.Fatal("Graphviz's dot is not installed (apt-get install graphviz); CI must run this test")
		}
		t.Skip("Graphviz's dot is not installed")
	}
}

func runMain(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// goldenTraces are the traces whose DOT and JSON renderings are kept next to them.
func goldenTraces(t *testing.T) []string {
	var traces []string
	for _, pattern := range []string{"testdata/*.trace", "../../example.trace", "../../../examples/*/*.trace"} {
		m, err := filepath.Glob(pattern)
		require.NoError(t, err)
		for _, f := range m {
			// A fleet's traces are one graph together: TestFleetExampleGolden.
			if filepath.Base(filepath.Dir(f)) != "fleet" {
				traces = append(traces, f)
			}
		}
	}
	require.NotEmpty(t, traces)
	return traces
}

func TestGolden(t *testing.T) {
	for _, trace := range goldenTraces(t) {
		for _, format := range []string{"dot", "json"} {
			t.Run(trace+"."+format, func(t *testing.T) {
				code, out, stderr := runMain(t, "", "-q", "-format", format, trace)
				require.Equal(t, 0, code, stderr)
				golden := strings.TrimSuffix(trace, ".trace") + "." + format
				if *update {
					require.NoError(t, os.WriteFile(golden, []byte(out), 0o644))
				}
				want, err := os.ReadFile(golden)
				require.NoError(t, err, "run go test ./net_visualizer/... -update to create it")
				assert.Equal(t, string(want), out)
			})
		}
	}
}

func TestSameInputSameBytes(t *testing.T) {
	in, err := os.ReadFile("testdata/mixed.trace")
	require.NoError(t, err)
	_, first, _ := runMain(t, string(in))
	for i := 0; i < 5; i++ {
		_, again, _ := runMain(t, string(in))
		require.Equal(t, first, again)
	}
}

func TestMalformedLinesAreReportedAndSkipped(t *testing.T) {
	junk := strings.Repeat("z", 3<<20)
	in := "127.0.0.1:80→127.0.0.1:4000|pid=1 comm=a\n" +
		"1.2.3.4:70000→1.2.3.4:1|pid=1 comm=x\n" +
		junk + "\n" +
		"not a line at all\x00\xff\r\n" +
		"127.0.0.1:4000←127.0.0.1:80|pid=2 comm=b" // no final newline
	code, out, stderr := runMain(t, in)
	assert.Equal(t, 0, code)
	assert.Contains(t, stderr, `line 2: remote endpoint: port 70000 out of range in "1.2.3.4:70000→1.2.3.4:1|pid=1 comm=x"`+"\n")
	assert.Contains(t, stderr, `line 3: no '|' between the addresses and the metadata in "`+junk[:40]+`"... (3145728 bytes)`+"\n")
	assert.Contains(t, stderr, `line 4: no '|' between the addresses and the metadata in "not a line at all\x00\xff\r"`+"\n")
	assert.Contains(t, stderr, "net_visualizer: 5 lines, 1 connection, 2 processes, 1 edge, 3 malformed, 0 lost\n")
	assert.Less(t, len(stderr), 2000, "errors must not echo the junk")
	assert.Contains(t, out, "n1->n2")
}

func TestOnlyTheFirstHundredMalformedLinesAreShown(t *testing.T) {
	code, _, stderr := runMain(t, strings.Repeat("junk\n", 250))
	assert.Equal(t, 0, code)
	assert.Equal(t, maxReported, strings.Count(stderr, ": no '|'"))
	assert.Contains(t, stderr, "250 malformed")
}

func TestStrictStopsAtFirstMalformedLine(t *testing.T) {
	code, out, stderr := runMain(t, "127.0.0.1:80→127.0.0.1:4000|pid=1 comm=a\nbad\nworse\n", "-strict")
	assert.Equal(t, 1, code)
	assert.Equal(t, "", out)
	assert.Equal(t, "net_visualizer: line 2: no '|' between the addresses and the metadata in \"bad\"\n", stderr)
}

func TestFileNamesInErrors(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "x.trace")
	require.NoError(t, os.WriteFile(f, []byte("bad\n"), 0o644))
	_, _, stderr := runMain(t, "", f)
	assert.Contains(t, stderr, f+":1: no '|'")
	code, _, stderr := runMain(t, "", filepath.Join(dir, "missing.trace"))
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "no such file")
}

func TestEmptyInputIsAnEmptyGraph(t *testing.T) {
	needGraphviz(t)
	code, out, stderr := runMain(t, "")
	require.Equal(t, 0, code)
	assert.Contains(t, stderr, "0 lines, 0 connections, 0 processes, 0 edges")
	assert.Equal(t, 0, len(plainNodes(t, out)))
	code, out, _ = runMain(t, "", "-format", "json")
	require.Equal(t, 0, code)
	var g struct {
		Nodes []any `json:"nodes"`
		Edges []any `json:"edges"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &g))
	assert.NotNil(t, g.Nodes)
	assert.NotNil(t, g.Edges)
}

// plainNodes runs Graphviz on dot source and returns the node labels it sees.
func plainNodes(t *testing.T, src string) []string {
	t.Helper()
	cmd := exec.Command("dot", "-Tjson")
	cmd.Stdin = strings.NewReader(src)
	out, err := cmd.Output()
	require.NoError(t, err, "Graphviz rejected the DOT:\n%s", src)
	var g struct {
		Objects []struct {
			Label string `json:"label"`
		} `json:"objects"`
	}
	require.NoError(t, json.Unmarshal(out, &g))
	var labels []string
	for _, o := range g.Objects {
		labels = append(labels, o.Label)
	}
	return labels
}

func TestHostileNamesStayLiteral(t *testing.T) {
	needGraphviz(t)
	names := []string{
		`"];x[label="`,
		`a\Nb\lc\G`,
		"tab\there",
		"nul\x00byte",
		"bad\xffutf8",
		`<script>alert(1)</script>`,
		`\x0anewline escaped by the tracer`,
		"}; digraph { evil",
	}
	var in strings.Builder
	for i, n := range names {
		fmt.Fprintf(&in, "203.0.113.1:%d→10.0.0.2:%d|pid=%d comm=%s\n", 1000+i, 40000+i, i+1, n)
	}
	code, out, stderr := runMain(t, in.String())
	require.Equal(t, 0, code, stderr)
	labels := plainNodes(t, out)
	assert.Len(t, labels, 2*len(names), "each line is one process and one external node, nothing more")
	want := []string{
		`"];x[label="` + "\npid 1",
		`a\Nb\lc\G` + "\npid 2",
		`tab\x09here` + "\npid 3",
		`nul\x00byte` + "\npid 4",
		`bad\xffutf8` + "\npid 5",
		`<script>alert(1)</script>` + "\npid 6",
		`\x0anewline escaped by the tracer` + "\npid 7",
		"}; digraph { evil\npid 8",
	}
	for _, w := range want {
		// Graphviz's JSON gives the label as written in DOT, with its escapes: undo %q's.
		found := false
		for _, l := range labels {
			if unescapeDOT(l) == w {
				found = true
			}
		}
		assert.True(t, found, "label %q not found in %q", w, labels)
	}

	code, out, _ = runMain(t, in.String(), "-format", "json")
	require.Equal(t, 0, code)
	assert.NotContains(t, out, "<script>", "JSON must be safe to embed in a web page")
	var g struct {
		Nodes []struct {
			Comm string `json:"comm"`
		} `json:"nodes"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &g))
	var comms []string
	for _, n := range g.Nodes {
		comms = append(comms, n.Comm)
	}
	assert.Contains(t, comms, `"];x[label="`)
	assert.Contains(t, comms, `bad\xffutf8`)
}

// TestNamesAreDrawnAsText: Graphviz draws a name's UTF-8 as text, a whole exe= name
// (-group-by exe), and an "&amp;" in a name or a -names label as "&amp;", not "&".
func TestNamesAreDrawnAsText(t *testing.T) {
	needGraphviz(t)
	svgText := func(args ...string) []string {
		t.Helper()
		code, out, stderr := runMain(t, "", append([]string{"-q", "-hosts", "", "-format", "svg"}, args...)...)
		require.Equal(t, 0, code, stderr)
		var texts []string
		for _, m := range regexp.MustCompile(`<text[^>]*>([^<]*)</text>`).FindAllStringSubmatch(out, -1) {
			texts = append(texts, m[1]) // as SVG writes it: &amp; is "&"
		}
		return texts
	}
	texts := svgText("-names", "testdata/unicode-names.txt", "testdata/unicode.trace")
	assert.Contains(t, texts, "café→☃")
	assert.Contains(t, texts, "日本語")
	assert.Contains(t, texts, `txt\xe2\x80\xaeexe.sh`, "U+202E, which would reverse the text, stays escaped")
	assert.Contains(t, texts, `bad\xff\x0a`, "invalid UTF-8 and control bytes stay escaped")
	assert.Contains(t, texts, "&amp;amp; &amp;lt;b&amp;gt;", "shown as the text &amp; &lt;b&gt;")
	assert.Contains(t, texts, "R&amp;amp;D &amp;lt;lab&amp;gt;", "a -names label too")
	assert.Contains(t, texts, "café API")
	texts = svgText("-group-by", "exe", "testdata/unicode.trace")
	assert.Contains(t, texts, "the café→☃ reverse proxy daemon, long name", "an exe= is shown whole")
	assert.Contains(t, texts, "café server")
}

func unescapeDOT(s string) string {
	return strings.NewReplacer(`\\`, `\`, `\"`, `"`, `\n`, "\n").Replace(s)
}

func TestImageFormats(t *testing.T) {
	needGraphviz(t)
	in, err := os.ReadFile("testdata/mixed.trace")
	require.NoError(t, err)
	code, out, stderr := runMain(t, string(in), "-format", "svg")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "<svg")
	assert.Contains(t, out, "nginx: worker")

	png := filepath.Join(t.TempDir(), "g.png")
	code, _, stderr = runMain(t, string(in), "-format", "png", "-o", png)
	require.Equal(t, 0, code, stderr)
	b, err := os.ReadFile(png)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")), "not a PNG")
}

func TestNoGraphvizSaysHowToInstall(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	code, out, stderr := runMain(t, "", "-format", "png", "-o", filepath.Join(t.TempDir(), "x.png"))
	assert.Equal(t, 1, code)
	assert.Equal(t, "", out)
	assert.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
	assert.Contains(t, stderr, "apt-get install graphviz")
	assert.Contains(t, stderr, "-format dot")
}

func TestUsage(t *testing.T) {
	code, out, _ := runMain(t, "", "-h")
	assert.Equal(t, 0, code)
	assert.Equal(t, Doc, out)
	code, _, stderr := runMain(t, "", "-nope")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "flag provided but not defined: -nope")
	code, _, stderr = runMain(t, "", "-format", "gif")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `-format "gif": want one of dot, json, svg, png`)
}

// TestManualNamesEveryFlag keeps -h honest: every defined flag is in the manual.
func TestManualNamesEveryFlag(t *testing.T) {
	var o options
	n := 0
	newFlagSet(&o).VisitAll(func(f *flag.Flag) {
		n++
		assert.Regexp(t, `(?m)^\t.*-`+regexp.QuoteMeta(f.Name)+`([ ,]|$)`, Doc, "the manual lacks -%s", f.Name)
	})
	assert.Greater(t, n, 15)
}

func TestOutputFileIsReplacedAtomically(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "g.dot")
	require.NoError(t, os.WriteFile(out, []byte("old"), 0o644))
	code, _, _ := runMain(t, "127.0.0.1:80→127.0.0.1:4000|pid=1 comm=a\n", "-o", out)
	require.Equal(t, 0, code)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(b), "digraph netflow {"))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file is left behind")
}

// TestInterruptWritesWhatWasRead: cancelling (SIGINT in main) while the input is still open
// draws everything read so far and exits 0.
func TestInterruptWritesWhatWasRead(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	done := make(chan int)
	go func() { done <- Main(ctx, nil, pr, &out, &errb) }()
	_, err := io.WriteString(pw, "127.0.0.1:8080→127.0.0.1:40000|pid=1 comm=curl\n127.0.0.1:40000←127.0.0.1:8080|pid=2 comm=srv\n")
	require.NoError(t, err)
	// The write returns once the reader has the lines; give it a moment to hand them over
	// (a cancelled run takes every batch already handed over, never waits for more input).
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case code := <-done:
		assert.Equal(t, 0, code)
	case <-time.After(10 * time.Second):
		t.Fatal("Main did not return after cancel while its input was still open")
	}
	assert.Contains(t, out.String(), "n1->n2")
	assert.Contains(t, errb.String(), "2 lines, 1 connection, 2 processes, 1 edge")
}

const csvHeader = "Timestamp,Event Type,PID,TID,Command,Domain,Socket Type,Protocol,IP Version,Local Address,Remote Address,Local Port,Remote Port,File Descriptor,Backlog,Latency,Return Value\n"

// TestLifecycleCSVDirectory: the socket-lifecycle tracer's output directory is read whole, its
// files in order, and a CONNECT in one file joins its ACCEPT in the next.
func TestLifecycleCSVDirectory(t *testing.T) {
	dir := t.TempDir()
	nw := filepath.Join(dir, "linux_trace_v3_test", "abc", "20261122_120000_000", "nw_conn")
	require.NoError(t, os.MkdirAll(nw, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(nw, "nw_conn_0001.csv"), []byte(csvHeader+
		"2026-11-22 12:00:00.000001,SOCKET_CREATE,10,10,client,AF_INET,SOCK_STREAM,TCP,4,,,,,3,,,0\n"+
		"2026-11-22 12:00:00.000002,CONNECT,10,10,\"cli,ent\",AF_INET,SOCK_STREAM,TCP,4,127.0.0.1,127.0.0.1,44528,5432,3,,1000,0\n"+
		"2026-11-22 12:00:00.000003,CONNECT,10,10,\"cli,ent\",AF_INET,SOCK_STREAM,TCP,4,,127.0.0.1,,5433,4,,900,-111\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(nw, "nw_conn_0002.csv"), []byte(csvHeader+
		"2026-11-22 12:00:00.000004,ACCEPT,20,21,postgres,AF_INET,SOCK_STREAM,TCP,4,127.0.0.1,127.0.0.1,5432,44528,7,,500,0\n"+
		"2026-11-22 12:00:00.000005,CLOSE,20,21,postgres,AF_INET,SOCK_STREAM,TCP,4,127.0.0.1,127.0.0.1,5432,44528,7,,,0\n"), 0o644))
	code, out, stderr := runMain(t, "", "-format", "json", dir)
	require.Equal(t, 0, code, stderr)
	var g struct {
		Nodes []struct {
			ID, Comm, Addr string
			PID            int
		}
		Edges []struct {
			From, To    string
			Connections int
			Failed      bool
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &g))
	names := map[string]string{}
	for _, n := range g.Nodes {
		names[n.ID] = fmt.Sprintf("%s/%d%s", n.Comm, n.PID, n.Addr)
	}
	var edges []string
	for _, e := range g.Edges {
		edges = append(edges, fmt.Sprintf("%s -> %s x%d failed=%v", names[e.From], names[e.To], e.Connections, e.Failed))
	}
	assert.Contains(t, edges, "cli,ent/10 -> postgres/20 x1 failed=false")
	assert.Contains(t, edges, "cli,ent/10 -> /0127.0.0.1:5433 x1 failed=true")
	assert.Len(t, edges, 2)
}

func TestLifecycleCSVUnknownHeader(t *testing.T) {
	f := filepath.Join(t.TempDir(), "x.csv")
	require.NoError(t, os.WriteFile(f, []byte("Timestamp,Foo,Bar\n1,2,3\n"), 0o644))
	code, _, stderr := runMain(t, "", f)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "unknown \"Foo\"")
	assert.Contains(t, stderr, "Event Type")
}

func TestEmptyDirectoryIsAnError(t *testing.T) {
	code, _, stderr := runMain(t, "", t.TempDir())
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "no nw_conn_*.csv files")
}

// TestEveryRewritesTheOutputWhileReading: with -every, the output file follows the stream and
// is always a whole graph.
func TestEveryRewritesTheOutputWhileReading(t *testing.T) {
	out := filepath.Join(t.TempDir(), "live.json")
	pr, pw := io.Pipe()
	done := make(chan int)
	var errb bytes.Buffer
	go func() {
		done <- Main(context.Background(), []string{"-every", "20ms", "-o", out, "-format", "json"}, pr, io.Discard, &errb)
	}()
	waitFor := func(what string, ok func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if b, err := os.ReadFile(out); err == nil && ok(string(b)) {
				var g map[string]any
				require.NoError(t, json.Unmarshal(b, &g), "a snapshot is always whole JSON")
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("the output never showed %s", what)
	}
	_, err := io.WriteString(pw, "127.0.0.1:8080→127.0.0.1:40000|pid=1 comm=curl\n127.0.0.1:40000←127.0.0.1:8080|pid=2 comm=srv\n")
	require.NoError(t, err)
	waitFor("the first connection", func(s string) bool { return strings.Contains(s, `"comm": "srv"`) })
	_, err = io.WriteString(pw, "198.51.100.1:443→10.0.0.2:40001|pid=3 comm=wget\n")
	require.NoError(t, err)
	waitFor("the second connection", func(s string) bool { return strings.Contains(s, `"comm": "wget"`) })
	require.NoError(t, pw.Close())
	assert.Equal(t, 0, <-done, errb.String())
	entries, err := os.ReadDir(filepath.Dir(out))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary files left behind")
}

func TestEveryNeedsAnOutputFile(t *testing.T) {
	code, _, stderr := runMain(t, "", "-every", "1s")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "-every needs -o FILE")
}

// TestOptionGolden runs each option of the "questions" flags on the same captures and keeps
// the outputs as golden files in testdata/options (rewritten by -update).
func TestOptionGolden(t *testing.T) {
	users := map[string]string{"0": "root", "33": "www-data"}
	lookupUser = func(uid string) string { return users[uid] }
	defer func() { lookupUser = userName }()
	tests := []struct {
		name string
		args []string
	}{
		{"group-by-comm.dot", []string{"-group-by", "comm", "testdata/busy.trace"}},
		{"group-by-user.json", []string{"-format", "json", "-group-by", "user", "testdata/busy.trace"}},
		{"group-by-exe.dot", []string{"-group-by", "exe", "testdata/busy.trace"}},
		{"group-by-cgroup.dot", []string{"-group-by", "cgroup", "testdata/busy.trace"}},
		{"filter-service.dot", []string{"-filter", `service == "postgresql"`, "testdata/busy.trace"}},
		{"comm-curl.dot", []string{"-comm", "curl", "testdata/busy.trace"}},
		{"exclude-loopback.dot", []string{"-exclude-loopback", "testdata/busy.trace"}},
		{"focus-postgres.dot", []string{"-focus", "postgres", "testdata/busy.trace"}},
		{"names.json", []string{"-format", "json", "-names", "testdata/names.txt", "testdata/busy.trace"}},
		{"collapse-24.dot", []string{"-collapse", "/24", "testdata/busy.trace"}},
		{"collapse-internet.dot", []string{"-collapse", "internet", "testdata/busy.trace"}},
		{"diff.dot", []string{"-group-by", "comm", "-diff", "testdata/busy-old.trace", "testdata/busy.trace"}},
		{"diff.json", []string{"-format", "json", "-group-by", "comm", "-diff", "testdata/busy-old.trace", "testdata/busy.trace"}},
		{"mermaid.mmd", []string{"-format", "mermaid", "-group-by", "comm", "testdata/busy.trace"}},
		{"fleet.dot", []string{"web=testdata/fleet-web.trace", "db=testdata/fleet-db.trace"}},
		{"fleet.json", []string{"-format", "json", "web=testdata/fleet-web.trace", "db=testdata/fleet-db.trace"}},
		{"unicode-group-by-exe.dot", []string{"-group-by", "exe", "testdata/unicode.trace"}},
		{"unicode-group-by-exe.json", []string{"-format", "json", "-group-by", "exe", "testdata/unicode.trace"}},
		{"unicode-names.dot", []string{"-names", "testdata/unicode-names.txt", "testdata/unicode.trace"}},
		{"unicode.mmd", []string{"-format", "mermaid", "testdata/unicode.trace"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := runMain(t, "", append([]string{"-q", "-hosts", ""}, tt.args...)...)
			require.Equal(t, 0, code, stderr)
			golden := filepath.Join("testdata", "options", tt.name)
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(out), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./net_visualizer/internal/cli -update to create it")
			assert.Equal(t, string(want), out)
		})
	}
}

// jsonEdges runs net_visualizer -format json and returns its edges as readable strings.
func jsonEdges(t *testing.T, args ...string) []string {
	t.Helper()
	code, out, stderr := runMain(t, "", append([]string{"-q", "-hosts", "", "-format", "json"}, args...)...)
	require.Equal(t, 0, code, stderr)
	var g struct {
		Nodes []struct {
			ID, Comm, Addr, Label, Host string
			PID, PIDCount               int
		}
		Edges []struct {
			From, To    string
			Connections int
			Failed      bool
			Diff        string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &g))
	name := map[string]string{}
	for _, n := range g.Nodes {
		s := n.Comm
		if n.PID != 0 {
			s += fmt.Sprintf("/%d", n.PID)
		}
		if n.Addr != "" || n.Label != "" {
			s = "ext:" + n.Label + n.Addr
		}
		if n.Host != "" {
			s = n.Host + ":" + s
		}
		name[n.ID] = s
	}
	var edges []string
	for _, e := range g.Edges {
		s := fmt.Sprintf("%s -> %s x%d", name[e.From], name[e.To], e.Connections)
		if e.Failed {
			s += " failed"
		}
		if e.Diff != "" {
			s += " " + e.Diff
		}
		edges = append(edges, s)
	}
	return edges
}

func TestGroupByCommCollapsesShortLivedClients(t *testing.T) {
	edges := jsonEdges(t, "-group-by", "comm", "testdata/busy.trace")
	assert.Contains(t, edges, "curl -> nginx x3", "three curl pids are one node")
	assert.Contains(t, edges, "nginx -> php-fpm8.2 x2")
}

func TestFilterKeepsBothEndsOfAConnection(t *testing.T) {
	assert.ElementsMatch(t, []string{"curl/501 -> nginx/301 x1", "curl/502 -> nginx/302 x1", "curl/503 -> nginx/301 x1"},
		jsonEdges(t, "-comm", "curl", "testdata/busy.trace"))
	assert.ElementsMatch(t, []string{"php-fpm8.2/401 -> postgres/601 x1", "php-fpm8.2/402 -> postgres/601 x1"},
		jsonEdges(t, "-filter", `service == "postgresql"`, "testdata/busy.trace"))
	for _, e := range jsonEdges(t, "-exclude-loopback", "testdata/busy.trace") {
		assert.NotContains(t, e, "nginx", "nginx only talks over loopback")
	}
	assert.ElementsMatch(t, []string{"php-fpm8.2/402 -> ext:192.0.2.99:6379 x1 failed"},
		jsonEdges(t, "-filter", "failed", "testdata/busy.trace"))
}

func TestBadFilterIsAUsageError(t *testing.T) {
	code, _, stderr := runMain(t, "", "-filter", "nosuchfield == 3")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "filter: unknown name nosuchfield")
	code, _, stderr = runMain(t, "", "-filter", "pid ==")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "filter:")
	code, _, stderr = runMain(t, "", "-group-by", "colour")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `-group-by "colour": want one of process, comm, exe, user, cgroup, host`)
	code, _, stderr = runMain(t, "", "-collapse", "/40")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "-collapse")
}

func TestNamesAndCollapse(t *testing.T) {
	edges := jsonEdges(t, "-names", "testdata/names.txt", "testdata/busy.trace")
	assert.Contains(t, edges, "php-fpm8.2/402 -> ext:payments API x1")
	assert.Contains(t, edges, "php-fpm8.2/401 -> ext:payments API x1")
	assert.Contains(t, edges, "php-fpm8.2/402 -> ext:status page x1")
	edges = jsonEdges(t, "-collapse", "internet", "-group-by", "comm", "testdata/busy.trace")
	assert.Contains(t, edges, "php-fpm8.2 -> ext:internet x3", "all three public endpoints are one node")
	edges = jsonEdges(t, "-collapse", "/24", "-group-by", "comm", "testdata/busy.trace")
	assert.Contains(t, edges, "php-fpm8.2 -> ext:203.0.113.0/24 x2")
	code, _, stderr := runMain(t, "", "-names", "testdata/nope.txt")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "-names: open testdata/nope.txt")
}

func TestFleetJoinsAcrossHostsButNotOverLoopback(t *testing.T) {
	edges := jsonEdges(t, "web=testdata/fleet-web.trace", "db=testdata/fleet-db.trace")
	assert.Contains(t, edges, "web:app/11 -> db:postgres/21 x2", "the 4-tuple joins the two hosts' lines")
	assert.Contains(t, edges, "web:app/11 -> web:redis-server/12 x1")
	assert.Contains(t, edges, "db:ext:127.0.0.1 -> db:redis-server/22 x1", "loopback never joins across hosts")
	assert.Len(t, edges, 3)
}

func TestDiff(t *testing.T) {
	edges := jsonEdges(t, "-group-by", "comm", "-diff", "testdata/busy-old.trace", "testdata/busy.trace")
	assert.Contains(t, edges, "curl -> nginx x3")
	assert.Contains(t, edges, "php-fpm8.2 -> redis-server x1 removed")
	assert.Contains(t, edges, "php-fpm8.2 -> ext:198.51.100.7:443 x1 added")
	assert.Contains(t, edges, "ext:198.51.100.200 -> sshd x1 added")
}

// TestFocusMatchingNothingSaysSo: an empty graph because -focus names no node is said on
// standard error (even with -q); the run still exits 0, as for any empty graph.
func TestFocusMatchingNothingSaysSo(t *testing.T) {
	for _, q := range [][]string{nil, {"-q"}} {
		code, out, stderr := runMain(t, "", append(q, "-focus", "ngnix", "testdata/busy.trace")...)
		assert.Equal(t, 0, code)
		assert.Contains(t, stderr, "net_visualizer: -focus \"ngnix\" matches no node\n")
		assert.NotContains(t, out, "->")
	}
	code, _, stderr := runMain(t, "", "-focus", "nginx", "testdata/busy.trace")
	assert.Equal(t, 0, code)
	assert.NotContains(t, stderr, "matches no node")
}

// TestSummaryLineSaysOneInTheSingular: "1 line, 1 connection", not "1 lines, 1 connections".
func TestSummaryLineSaysOneInTheSingular(t *testing.T) {
	_, _, stderr := runMain(t, "198.51.100.1:443→10.0.0.2:40000|pid=1 comm=curl\n")
	assert.Equal(t, "net_visualizer: 1 line, 1 connection, 1 process, 1 edge, 0 malformed, 0 lost\n", stderr)
	_, _, stderr = runMain(t, "198.51.100.1:443→10.0.0.2:40000|pid=1 comm=curl\n198.51.100.1:443→10.0.0.2:40001|pid=2 comm=curl\n")
	assert.Equal(t, "net_visualizer: 2 lines, 2 connections, 2 processes, 2 edges, 0 malformed, 0 lost\n", stderr)
}

// TestDiffCountsEachCapture: with -diff the counts are each capture's own, said to be so:
// the new capture's as its alone, the old one's apart, never the two mixed.
func TestDiffCountsEachCapture(t *testing.T) {
	type stats struct {
		Lines, Malformed, Events, Connections, Processes, Edges, Lost int
		Old                                                           *stats
	}
	statsOf := func(args ...string) (stats, string) {
		t.Helper()
		code, out, stderr := runMain(t, "", append([]string{"-hosts", "", "-group-by", "comm", "-format", "json"}, args...)...)
		require.Equal(t, 0, code, stderr)
		var g struct{ Stats stats }
		require.NoError(t, json.Unmarshal([]byte(out), &g))
		return g.Stats, stderr
	}
	summary := func(s stats) string {
		return fmt.Sprintf("%d lines, %d connections, %d processes, %d edges, %d malformed, %d lost",
			s.Lines, s.Connections, s.Processes, s.Edges, s.Malformed, s.Lost)
	}
	newer, _ := statsOf("testdata/busy.trace")
	older, _ := statsOf("testdata/busy-old.trace")
	diff, stderr := statsOf("-diff", "testdata/busy-old.trace", "testdata/busy.trace")
	require.NotNil(t, diff.Old, "stats.old: the old capture's counts")
	assert.Equal(t, older, *diff.Old)
	diff.Old = nil
	assert.Equal(t, newer, diff)
	assert.Equal(t, "net_visualizer: new capture: "+summary(newer)+"; old capture (-diff): "+summary(older)+"\n", stderr)

	code, out, _ := runMain(t, "", "-q", "-hosts", "", "-group-by", "comm", "-diff", "testdata/busy-old.trace", "testdata/busy.trace")
	require.Equal(t, 0, code)
	title := fmt.Sprintf(`label="netflow, new capture: %d processes, %d connections; old capture: %d processes, %d connections\n`,
		newer.Processes, newer.Connections, older.Processes, older.Connections)
	assert.Contains(t, out, title)
}

// TestLostEventsMarkTheGraphIncomplete: the tracer's reports of lost events reach the
// picture's title, the JSON and the summary line.
func TestLostEventsMarkTheGraphIncomplete(t *testing.T) {
	in := "Attaching 4 probes...\n127.0.0.1:80→127.0.0.1:4000|pid=1 comm=a\nLost 12 events\n# lost 3 events\n" +
		`{"type": "lost_events", "data": {"events": 5}}` + "\n"
	code, out, stderr := runMain(t, in)
	require.Equal(t, 0, code)
	assert.Contains(t, out, `INCOMPLETE: the tracer lost 20 events`)
	assert.Contains(t, stderr, "0 malformed, 20 lost\n")
	code, out, _ = runMain(t, in, "-format", "json")
	require.Equal(t, 0, code)
	var g struct {
		Incomplete bool
		Stats      struct{ Lost int }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &g))
	assert.True(t, g.Incomplete)
	assert.Equal(t, 20, g.Stats.Lost)
	_, out, _ = runMain(t, "127.0.0.1:80→127.0.0.1:4000|pid=1 comm=a\n", "-format", "json")
	assert.Contains(t, out, `"incomplete": false`)
}

func TestResolveNamesExternalsButNotLoopback(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	reverseLookup = func(_ context.Context, addr string) ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, addr) // Prefetch asks from several goroutines
		if addr == "198.51.100.7" {
			return []string{"status.example.org."}, nil
		}
		return nil, fmt.Errorf("no PTR for %s", addr)
	}
	defer func() { reverseLookup = nil }()
	edges := jsonEdges(t, "-resolve", "-group-by", "comm", "testdata/busy.trace")
	assert.Contains(t, edges, "php-fpm8.2 -> ext:status.example.org x1")
	assert.Contains(t, edges, "php-fpm8.2 -> ext:203.0.113.10:443 x1", "an address without PTR keeps its address")
	for _, a := range asked {
		assert.NotEqual(t, "127.0.0.1", a, "loopback is never looked up")
		assert.NotEqual(t, "10.0.0.2", a, "only external endpoints are looked up")
	}
	assert.Contains(t, asked, "198.51.100.7")
}

// TestFleetExampleGolden draws examples/fleet's two captures as one fleet graph.
func TestFleetExampleGolden(t *testing.T) {
	dir := "../../../examples/fleet"
	for _, format := range []string{"dot", "json"} {
		code, out, stderr := runMain(t, "", "-q", "-hosts", "", "-format", format,
			"web="+filepath.Join(dir, "web.trace"), "db="+filepath.Join(dir, "db.trace"))
		require.Equal(t, 0, code, stderr)
		golden := filepath.Join(dir, "fleet."+format)
		if *update {
			require.NoError(t, os.WriteFile(golden, []byte(out), 0o644))
		}
		want, err := os.ReadFile(golden)
		require.NoError(t, err, "run go test ./net_visualizer/internal/cli -update to create it")
		assert.Equal(t, string(want), out)
	}
}

func TestFlagsMayFollowInputs(t *testing.T) {
	assert.Equal(t, jsonEdges(t, "web=testdata/fleet-web.trace", "db=testdata/fleet-db.trace"),
		jsonEdges(t, "web=testdata/fleet-web.trace", "-format", "json", "db=testdata/fleet-db.trace", "-q"))
	f := filepath.Join(t.TempDir(), "-weird.trace")
	require.NoError(t, os.WriteFile(f, []byte("127.0.0.1:80→127.0.0.1:4000|pid=1 comm=a\n"), 0o644))
	code, _, stderr := runMain(t, "", "-q", "--", f)
	assert.Equal(t, 0, code, stderr)
}

// TestFleetStreamWithHostKeys: one stream of several hosts' lines, told apart by host=, joins
// across hosts even when a host's first line comes after the other's.
func TestFleetStreamWithHostKeys(t *testing.T) {
	var in strings.Builder
	for _, f := range []struct{ host, file string }{{"web", "testdata/fleet-web.trace"}, {"db", "testdata/fleet-db.trace"}} {
		b, err := os.ReadFile(f.file)
		require.NoError(t, err)
		for _, l := range strings.Split(string(b), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				in.WriteString(strings.Replace(l, "|", "|host="+f.host+" ", 1) + "\n")
			}
		}
	}
	f := filepath.Join(t.TempDir(), "fleet.trace")
	require.NoError(t, os.WriteFile(f, []byte(in.String()), 0o644))
	assert.ElementsMatch(t, jsonEdges(t, "web=testdata/fleet-web.trace", "db=testdata/fleet-db.trace"), jsonEdges(t, f))
}

// TestNamesMatchAsShown: -comm and -focus take a name as it is drawn (café), though the
// tracers print its non-ASCII bytes as \xNN.
func TestNamesMatchAsShown(t *testing.T) {
	in := "127.0.0.1:80→127.0.0.1:40000|pid=7 comm=caf\\xc3\\xa9\n" +
		"127.0.0.1:40000←127.0.0.1:80|pid=8 comm=srv\n" +
		"127.0.0.1:81→127.0.0.1:40001|pid=9 comm=other\n" +
		"127.0.0.1:40001←127.0.0.1:81|pid=10 comm=srv2\n"
	for _, args := range [][]string{{"-comm", "café"}, {"-focus", "café"}, {"-comm", `caf\xc3\xa9`}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, stderr := runMain(t, in, append([]string{"-format", "json"}, args...)...)
			require.Equal(t, 0, code, stderr)
			assert.NotContains(t, stderr, "matches no node")
			assert.Contains(t, out, `"café"`)
			assert.Contains(t, out, `"srv"`)
			assert.NotContains(t, out, `"other"`)
		})
	}
}

// TestEverySnapshotsBesideTheReading: snapshots written on their own goroutine while the
// reading goes on (scripts/test runs this under the race detector) leave the last output the
// same as one run without -every, on every golden trace at once: closes, proc lines, groups.
func TestEverySnapshotsBesideTheReading(t *testing.T) {
	var input bytes.Buffer
	for _, tr := range goldenTraces(t) {
		b, err := os.ReadFile(tr)
		require.NoError(t, err)
		input.Write(b)
		input.WriteByte('\n')
	}
	for _, args := range [][]string{{"-format", "json"}, {"-group-by", "comm"}} {
		code, want, stderr := runMain(t, input.String(), args...)
		require.Equal(t, 0, code, stderr)

		out := filepath.Join(t.TempDir(), "live.out")
		pr, pw := io.Pipe()
		done := make(chan int)
		var errb bytes.Buffer
		go func() {
			done <- Main(context.Background(), append([]string{"-every", "1ms", "-o", out}, args...), pr, io.Discard, &errb)
		}()
		lines := strings.SplitAfter(input.String(), "\n")
		for i, l := range lines {
			_, err := io.WriteString(pw, l)
			require.NoError(t, err)
			if i == len(lines)/2 {
				// A snapshot is written while the reader waits for the second half.
				deadline := time.Now().Add(20 * time.Second)
				for _, err := os.Stat(out); err != nil && time.Now().Before(deadline); _, err = os.Stat(out) {
					time.Sleep(time.Millisecond)
				}
				require.FileExists(t, out, "a snapshot halfway")
			}
		}
		require.NoError(t, pw.Close())
		require.Equal(t, 0, <-done, errb.String())
		got, err := os.ReadFile(out)
		require.NoError(t, err)
		assert.Equal(t, want, string(got), "%v: the last output is the whole graph", args)
	}
}
