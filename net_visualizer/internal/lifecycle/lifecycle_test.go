package lifecycle

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netflow/net_visualizer/internal/graph"
	"netflow/net_visualizer/internal/trace"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// dump reads a whole file the way a caller would: events as trace lines, row
// errors noted and skipped, and a header error instead of everything.
func dump(r io.Reader) string { return dumpWith(r, NewSockets()) }

// dumpWith is dump with a socket table shared with other files.
func dumpWith(r io.Reader, socks *Sockets) string {
	var b bytes.Buffer
	rd, err := NewReader(r)
	if err != nil {
		fmt.Fprintf(&b, "header error: %v\n", err)
		return b.String()
	}
	rd.Sockets = socks
	fmt.Fprintf(&b, "format %v\n", rd.Format())
	var ev trace.Event
	for {
		err := rd.Next(&ev)
		if err == io.EOF {
			return b.String()
		}
		var re *RowError
		if errors.As(err, &re) {
			fmt.Fprintf(&b, "row error: %v\n", err)
			continue
		}
		if err != nil {
			fmt.Fprintf(&b, "error: %v\n", err)
			return b.String()
		}
		b.Write(ev.AppendLine(nil))
		b.WriteByte('\n')
	}
}

// TestGolden reads testdata/x.csv and compares with testdata/x.golden; go test
// -update rewrites them.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.csv")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		name := strings.TrimSuffix(f, ".csv")
		t.Run(filepath.Base(name), func(t *testing.T) {
			in, err := os.ReadFile(f)
			require.NoError(t, err)
			got := dump(bytes.NewReader(in))
			if *update {
				require.NoError(t, os.WriteFile(name+".golden", []byte(got), 0o644))
			}
			want, err := os.ReadFile(name + ".golden")
			require.NoError(t, err)
			assert.Equal(t, string(want), got)
		})
	}
}

// The events round-trip through the line format: what the visualizer reads
// from a CSV is what it would read from the tracer's lines.
func TestEventsParseBack(t *testing.T) {
	for _, f := range []string{"testdata/v3_demo.csv", "testdata/v3_edge.csv", "testdata/v4.csv"} {
		in, err := os.Open(f)
		require.NoError(t, err)
		rd, err := NewReader(in)
		require.NoError(t, err)
		var ev trace.Event
		var p trace.Parser
		n := 0
		for {
			err := rd.Next(&ev)
			if err == io.EOF {
				break
			}
			if errors.As(err, new(*RowError)) {
				continue
			}
			require.NoError(t, err)
			n++
			line := ev.AppendLine(nil)
			var back trace.Event
			kind, err := p.Parse(line, &back)
			require.NoError(t, err, "%s", line)
			require.Equal(t, trace.EventLine, kind)
			assert.Equal(t, ev.Dir, back.Dir, "%s", line)
			assert.Equal(t, ev.Remote, back.Remote, "%s", line)
			assert.Equal(t, ev.Local, back.Local, "%s", line)
			assert.Equal(t, ev.PID, back.PID, "%s", line)
			assert.Equal(t, ev.Ret, back.Ret, "%s", line)
		}
		in.Close()
		assert.Positive(t, n, f)
	}
}

func TestHeaders(t *testing.T) {
	for name, tc := range map[string]struct {
		header string
		format Format
		err    string
	}{
		"v3":               {header: strings.Join(V3Header, ","), format: V3},
		"v4":               {header: strings.Join(V4Header, ","), format: V4},
		"v4 with protocol": {header: strings.Join(V4Header, ",") + ",proto", format: V4},
		"v3 reordered":     {header: "Remote Port,Remote Address,Local Port,Local Address,Command,PID,Event Type,Return Value", format: V3},
		"unknown column":   {header: strings.Join(V3Header, ",") + ",Bytes", err: `unknown "Bytes"`},
		"missing":          {header: "Event Type,PID", err: "missing Command, Local Address, Remote Address, Local Port, Remote Port, Return Value"},
		"line format":      {header: "10.0.0.5:5432→10.0.0.2:40312|pid=812 comm=x", err: "want the v3 header"},
	} {
		t.Run(name, func(t *testing.T) {
			rd, err := NewReader(strings.NewReader(tc.header + "\n"))
			if tc.err != "" {
				var he *HeaderError
				require.True(t, errors.As(err, &he), "%v", err)
				assert.Contains(t, err.Error(), tc.err)
				assert.Contains(t, err.Error(), strings.Join(V3Header, ","), "the error names the columns it expected")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.format, rd.Format())
			assert.Equal(t, io.EOF, rd.Next(&trace.Event{}))
		})
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{
		"linux_trace_v3_test/m2/20261122_100000_000/nw_conn/nw_conn_0001.csv",
		"linux_trace_v3_test/m1/20261122_110000_000/nw_conn/nw_conn_0001.csv",
		"linux_trace_v3_test/m1/20261122_100000_000/nw_conn/nw_conn_10000.csv",
		"linux_trace_v3_test/m1/20261122_100000_000/nw_conn/nw_conn_9999.csv",
		"linux_trace_v3_test/m1/20261122_100000_000/nw_conn/nw_conn_0002.csv",
		"linux_trace_v3_test/m1/20261122_100000_000/nw_conn/nw_conn_0001.csv",
		"linux_trace_v3_test/m1/20261122_100000_000/nw_conn/nw_conn_0003.csv.zst",
		"linux_trace_v3_test/m1/20261122_100000_000/nw_conn/other.csv",
		"linux_trace_v3_test/m1/20261122_100000_000/fs/fs_0001.csv",
	} {
		full := filepath.Join(dir, p)
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, nil, 0o644))
	}
	got, err := Files(dir)
	require.NoError(t, err)
	for i := range got {
		got[i] = strings.TrimPrefix(got[i], dir+"/")
	}
	assert.Equal(t, []string{
		"linux_trace_v3_test/m1/20261122_100000_000/nw_conn/nw_conn_0001.csv",
		"linux_trace_v3_test/m1/20261122_100000_000/nw_conn/nw_conn_0002.csv",
		"linux_trace_v3_test/m1/20261122_100000_000/nw_conn/nw_conn_9999.csv",
		"linux_trace_v3_test/m1/20261122_100000_000/nw_conn/nw_conn_10000.csv",
		"linux_trace_v3_test/m1/20261122_110000_000/nw_conn/nw_conn_0001.csv",
		"linux_trace_v3_test/m2/20261122_100000_000/nw_conn/nw_conn_0001.csv",
	}, got)

	_, err = Files(filepath.Join(dir, "nope"))
	assert.Error(t, err)
}

func TestNaturalLess(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		less bool
	}{
		{"a2", "a10", true},
		{"a10", "a2", false},
		{"a02", "a2", false}, // equal numbers: the one with fewer zeros first
		{"a2", "a02", true},
		{"a", "a1", true},
		{"a1b", "a1c", true},
		{"x", "x", false},
	} {
		assert.Equal(t, tc.less, naturalLess(tc.a, tc.b), "%q < %q", tc.a, tc.b)
	}
}

// FuzzNext: no input makes the reader panic or loop, and every event it
// returns has a valid remote end and prints as a line that parses.
func FuzzNext(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.csv")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		rd, err := NewReader(bytes.NewReader(in))
		if err != nil {
			return
		}
		var ev trace.Event
		var p trace.Parser
		for i := 0; ; i++ {
			if i > len(in)+1 {
				t.Fatal("more results than bytes: Next does not advance")
			}
			err := rd.Next(&ev)
			if err == io.EOF {
				return
			}
			if err != nil {
				if errors.As(err, new(*RowError)) {
					continue
				}
				return
			}
			if !ev.Remote.IsValid() || !ev.Local.IsValid() {
				t.Fatalf("invalid ends: %+v", ev)
			}
			for i := 0; i < len(ev.Comm); i++ {
				if c := ev.Comm[i]; c < 0x20 || c >= 0x7f {
					t.Fatalf("comm %q has a byte that is not printable ASCII", ev.Comm)
				}
			}
			if _, err := p.Parse(ev.AppendLine(nil), &trace.Event{}); err != nil {
				t.Fatalf("%q does not parse: %v", ev.AppendLine(nil), err)
			}
		}
	})
}

// graphOf reads CSV files, one after another as the visualizer reads the files of one
// capture, into a graph, and lists its edges as "from -> to xN [failed]".
func graphOf(t *testing.T, files ...string) ([]string, uint64) {
	t.Helper()
	b := graph.New()
	socks := NewSockets()
	for _, f := range files {
		rd, err := NewReader(strings.NewReader(f))
		require.NoError(t, err)
		rd.Sockets = socks
		for {
			var ev trace.Event
			err := rd.Next(&ev)
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			b.Add(&ev)
		}
	}
	g := b.Graph()
	name := func(i int) string {
		if n := g.Nodes[i]; n.Kind == graph.Process {
			return fmt.Sprintf("%s/%d", n.Comm, n.PID)
		}
		return "ext:" + g.Nodes[i].AddrString()
	}
	var out []string
	for _, e := range g.Edges {
		s := fmt.Sprintf("%s -> %s x%d", name(e.From), name(e.To), e.Connections)
		if e.Failed {
			s += " failed"
		}
		out = append(out, s)
	}
	return out, g.Stats.Connections
}

// TestNonBlockingConnects: testdata/v3_nonblocking.csv is a real capture (scripts/
// netflow-lifecycle) of three clients on loopback: a curl-like refused non-blocking connect
// (-115 with no local port: refused before connect() returned), a hiredis-like one that
// calls connect() again on the same socket (0, then -106 EISCONN) before the server's
// accept, and a hiredis-like refused one (-115, then -111 from the second connect). Three
// connects, one made.
func TestNonBlockingConnects(t *testing.T) {
	in, err := os.ReadFile("testdata/v3_nonblocking.csv")
	require.NoError(t, err)
	edges, conns := graphOf(t, string(in))
	assert.ElementsMatch(t, []string{
		"curl/16392 -> ext:127.0.0.1:47802 x1 failed",
		"redis-cli/16438 -> srv/16337 x1",
		"redis-cli/16479 -> ext:127.0.0.1:47802 x1 failed",
	}, edges)
	assert.Equal(t, uint64(3), conns)
}

// TestSecondConnect covers the ways a second connect() on one socket can come, in rows
// shaped as scripts/netflow-lifecycle writes them.
func TestSecondConnect(t *testing.T) {
	const head = "Timestamp,Event Type,PID,TID,Command,Domain,Socket Type,Protocol,IP Version,Local Address,Remote Address,Local Port,Remote Port,File Descriptor,Backlog,Latency,Return Value\n"
	row := func(ev string, pid int, comm, laddr, raddr, lport, rport string, fd int, ret int) string {
		return fmt.Sprintf("2026-12-01 21:36:10.346610,%s,%d,%d,%s,AF_INET,SOCK_STREAM,TCP,4,%s,%s,%s,%s,%d,,1000,%d\n",
			ev, pid, pid, comm, laddr, raddr, lport, rport, fd, ret)
	}
	const lo = "127.0.0.1"
	connect := func(pid, fd int, lport string, ret int) string {
		return row("CONNECT", pid, "redis-cli", lo, lo, lport, "6379", fd, ret)
	}
	accept := func(cport string) string { return row("ACCEPT", 900, "redis-server", lo, lo, "6379", cport, 8, 0) }
	closeRow := func(pid, fd int, lport string) string {
		return row("CLOSE", pid, "redis-cli", lo, lo, lport, "6379", fd, 0)
	}
	create := func(pid, fd int) string { return row("SOCKET_CREATE", pid, "redis-cli", "", "", "", "", fd, 0) }
	tests := []struct {
		name  string
		files []string
		want  []string
		conns uint64
	}{
		{"EINPROGRESS, then EISCONN, accept after",
			[]string{head + connect(1, 3, "50000", -115) + connect(1, 3, "50000", -106) + accept("50000")},
			[]string{"redis-cli/1 -> redis-server/900 x1"}, 1},
		{"EINPROGRESS, accept, then 0 and EISCONN",
			[]string{head + connect(1, 3, "50000", -115) + accept("50000") + connect(1, 3, "50000", 0) + connect(1, 3, "50000", -106)},
			[]string{"redis-cli/1 -> redis-server/900 x1"}, 1},
		{"EINPROGRESS, EALREADY, accept, 0",
			[]string{head + connect(1, 3, "50000", -115) + connect(1, 3, "50000", -114) + accept("50000") + connect(1, 3, "50000", 0)},
			[]string{"redis-cli/1 -> redis-server/900 x1"}, 1},
		{"the second connect in the next file of the capture",
			[]string{head + connect(1, 3, "50000", -115) + accept("50000"), head + connect(1, 3, "50000", 0)},
			[]string{"redis-cli/1 -> redis-server/900 x1"}, 1},
		{"EINPROGRESS with a local port, then refused by the second connect",
			[]string{head + connect(1, 3, "50000", -115) + connect(1, 3, "", -111)},
			[]string{"redis-cli/1 -> ext:127.0.0.1:6379 x1 failed"}, 1},
		{"a blocking connect checked again",
			[]string{head + connect(1, 3, "50000", 0) + accept("50000") + connect(1, 3, "50000", -106)},
			[]string{"redis-cli/1 -> redis-server/900 x1"}, 1},
		{"a new socket on the same fd is a new connection",
			[]string{head + connect(1, 3, "50000", -115) + accept("50000") + closeRow(1, 3, "50000") +
				create(1, 3) + connect(1, 3, "50002", -115) + accept("50002") + connect(1, 3, "50002", 0)},
			[]string{"redis-cli/1 -> redis-server/900 x2"}, 2},
		{"the same fd in two processes is two sockets",
			[]string{head + connect(1, 3, "50000", -115) + connect(2, 3, "50001", -115) + accept("50000") + accept("50001") +
				connect(1, 3, "50000", 0) + connect(2, 3, "50001", 0)},
			[]string{"redis-cli/1 -> redis-server/900 x1", "redis-cli/2 -> redis-server/900 x1"}, 2},
		{"refused before connect() returned, without a second connect",
			[]string{head + connect(1, 3, "", -115) + closeRow(1, 3, "")},
			[]string{"redis-cli/1 -> ext:127.0.0.1:6379 x1 failed"}, 1},
		{"refused, then connect() again: a new attempt after the error was reported",
			[]string{head + connect(1, 3, "", -115) + connect(1, 3, "", -111) + connect(1, 3, "50004", -115) + accept("50004")},
			[]string{"redis-cli/1 -> ext:127.0.0.1:6379 x1 failed", "redis-cli/1 -> redis-server/900 x1"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			edges, conns := graphOf(t, tt.files...)
			assert.ElementsMatch(t, tt.want, edges)
			assert.Equal(t, tt.conns, conns)
		})
	}
}
