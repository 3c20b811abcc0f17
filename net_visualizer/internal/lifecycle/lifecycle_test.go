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

	"netflow/net_visualizer/internal/trace"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// dump reads a whole file the way a caller would: events as trace lines, row
// errors noted and skipped, and a header error instead of everything.
func dump(r io.Reader) string {
	var b bytes.Buffer
	rd, err := NewReader(r)
	if err != nil {
		fmt.Fprintf(&b, "header error: %v\n", err)
		return b.String()
	}
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
