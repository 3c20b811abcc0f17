package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
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
	// netflow_tp.bt of line format 2 (--port 18991, secret 12345): a process that
	// connected twice and was refused twice (reconnect=1), a client that reset its
	// connection before the server's accept(); their close lines.
	{"tp2", "tp2.raw", false},
	// netflow_tp.bt of line format 3 (--port 18992, secret 12345): a python3 that
	// connected to itself with a hostile argv (a space, a newline and a CR, a backslash,
	// UTF-8, an empty argument, "x=y|z comm=evil"): its process records and proc line.
	{"tp3", "tp3.raw", false},
	{"tp_agg", "tp_agg.raw", true},
	// netflow_tp_agg.bt with aggregated closes (--port 47112): a connection that moved
	// 12345 bytes, refused connects (IPv4, IPv6, a hostile name); their close maps.
	{"tp2_agg", "tp2_agg.raw", true},
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

// TestFilterGolden checks the filter's stdout and stderr against the golden files. They hold
// what the awk program that scripts/netflow-trace ran before this filter printed for the same
// inputs (compared byte for byte by TestFilterMatchesAwk while the awk existed, in the commit
// that added the filter); rewrite them with -update only for an intended change.
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

// TestFilterKeyLayout: the aggregate scripts name the keys of their maps after the endpoints
// ("# keys out:", "# keys in:"), so that a key added to the tracers reaches the lines without
// a change here; ret= is left out when 0, comm= comes last.
func TestFilterKeyLayout(t *testing.T) {
	input := strings.Join([]string{
		"# tracing TCP connect/accept (netflow_tp_agg.bt); Ctrl-C to stop",
		"# keys out: pid uid ret fake",
		"# keys in: pid uid fake",
		"@out0[10.0.0.1, 5432, 10.0.0.2, 77, 1000, 0, 42]: 3",
		"@out0[10.0.0.1, 5432, 10.0.0.2, 77, 1000, -111, 42]: 1",
		"@in0[10.0.0.2, 10.0.0.1, 5432, 79, 33, 7]: 3",
		`@name0[77]: psql\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00`,
		`@name0[79]: postgres\x00\x00\x00\x00\x00\x00\x00\x00`,
		"# interval",
		"@sent: 7",
		"# end",
	}, "\n") + "\n"
	stdout, stderr := filterOutput(t, []byte(input), true)
	assert.Equal(t, clockLine+"10.0.0.1:5432→10.0.0.2:0|pid=77 uid=1000 fake=42 count=3 comm=psql\n"+
		"10.0.0.1:5432→10.0.0.2:0|pid=77 uid=1000 ret=-111 fake=42 count=1 comm=psql\n"+
		"10.0.0.2:0←10.0.0.1:5432|pid=79 uid=33 fake=7 count=3 comm=postgres\n", stdout)
	assert.Equal(t, status+"\n", stderr, "all 7 counted were printed: nothing lost")
}

// TestFilterLineFormat2: the line scripts' version line and close lines (docs/line-format.md,
// version 2) reach stdout as they are, in order; a connection whose close the scripts cannot
// track ("# lost-close N", their map of open connections full) is counted as lost, on both
// streams, once per flush.
func TestFilterLineFormat2(t *testing.T) {
	open := "127.0.0.1:80→127.0.0.1:4000|pid=1 tid=1 uid=0 ret=0 exe=a cgroup=1 conn=ffff8881-2a comm=a b"
	closed := "close 127.0.0.1:80→127.0.0.1:4000|pid=1 uid=0 conn=ffff8881-2a end=local dur_us=5 sent=1 recv=2 retrans=0 connect_us=3 comm=a b"
	closedIn := `close [::1]:4000←[::1]:80|pid=2 uid=0 conn=ffff8882-2b end=reset-recv dur_us=9 sent=0 recv=0 retrans=1 comm=x\x0ay\x00\x00`
	input := strings.Join([]string{
		"# line format 2",
		"# tracing TCP connect/accept (netflow_tp.bt); Ctrl-C to stop",
		open,
		"# lost-close 1",
		closed,
		"# lost-close 1",
		closedIn,
		"#" + strings.Repeat(" ", 4094),
		"closer than it looks",
	}, "\n") + "\n"
	stdout, stderr := filterOutput(t, []byte(input), false)
	assert.Equal(t, "# line format 2\n"+clockLine+open+"\n"+closed+"\n"+closedIn+"\n# lost 2 events\n", stdout)
	assert.Equal(t, status+"\n"+
		"netflow-trace: lost 2 events (map of open connections full: raise BPFTRACE_MAP_KEYS_MAX)\n"+
		"netflow-trace: bpftrace: closer than it looks\n", stderr)
}

// TestFilterRecursionMisses: a probe run that the kernel skipped (BPF recursion protection:
// a softirq's sock:inet_sock_set_state while another BPF program ran on that CPU) loses its
// event without a trace in bpftrace's output; the kernel counts it per program
// (recursion_misses in the program's fdinfo). The filter reads the counts of the process it
// is given at every "#" line and reports what they grew by, the largest over the programs,
// as lost events.
func TestFilterRecursionMisses(t *testing.T) {
	proc := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(proc, "fdinfo"), 0o755))
	prog := func(fd string, misses int) {
		info := fmt.Sprintf("pos:\t0\nflags:\t02000002\nprog_type:\t5\nprog_jited:\t1\nrun_time_ns:\t0\nrun_cnt:\t0\nrecursion_misses:\t%d\n", misses)
		require.NoError(t, os.WriteFile(filepath.Join(proc, "fdinfo", fd), []byte(info), 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(proc, "fdinfo", "3"), []byte("pos:\t0\nflags:\t02\n"), 0o644))
	prog("7", 0)
	prog("8", 0)
	var out, errb bytes.Buffer
	f := newFilter(&out, &errb, status, false)
	f.bpfProc = proc
	line := func(s string) { require.NoError(t, f.line([]byte(s))) }
	line("# line format 2")
	line("# tracing TCP connect/accept (netflow_tp.bt); Ctrl-C to stop")
	prog("7", 5)
	prog("8", 3)
	line("#")
	line("#")
	prog("8", 9)
	line("#")
	require.NoError(t, f.out.Flush())
	assert.Equal(t, "# line format 2\n"+clockLine+"# lost 5 events\n# lost 4 events\n", out.String())
	assert.Contains(t, errb.String(), "netflow-trace: lost 5 events (the kernel skipped 5 probe runs")
}

// TestFilterMissesCheapLook: the look at the programs' recursion_misses runs at every "#"
// line, six times a second in a storm; after the first it allocates nothing (the fdinfo files
// stay open and are read again into one buffer): opening and reading every fdinfo file of
// bpftrace at each look was over a third of the filter's CPU.
func TestFilterMissesCheapLook(t *testing.T) {
	proc := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(proc, "fdinfo"), 0o755))
	for _, fd := range []string{"7", "8", "9"} {
		info := "pos:\t0\nflags:\t02000002\nprog_type:\t5\nprog_jited:\t1\nrun_time_ns:\t0\nrun_cnt:\t0\nrecursion_misses:\t0\n"
		require.NoError(t, os.WriteFile(filepath.Join(proc, "fdinfo", fd), []byte(info), 0o644))
	}
	f := newFilter(io.Discard, io.Discard, status, false)
	f.bpfProc = proc
	f.reportMisses()
	assert.Zero(t, testing.AllocsPerRun(100, f.reportMisses))
}

// TestFilterCloseRecords: the line scripts print a close as a short record, "c CONN END DUR
// SENT RECV RETRANS [CONNECT]" (bpftrace's cost is per printf argument); the filter prints
// the documented close line, with the ends, pid=, uid= and comm= of the open line with that
// conn=, escaped names as they are there. A record before its open line (bpftrace reads its
// CPUs' buffers in turn) is printed after it; one whose open line never came is a lost event.
func TestFilterCloseRecords(t *testing.T) {
	in := strings.Join([]string{
		"# line format 2",
		"127.0.0.1:8080→127.0.0.1:51044|pid=4012 tid=4013 uid=1000 ret=0 exe=curl cgroup=7342 conn=f51f-e741 comm=curl",
		"c 77-88 reset-recv 9 0 0 0",
		"c f51f-e741 local 1449 615 78 2 31",
		"[::1]:51044←[::1]:8080|pid=3977 tid=3977 uid=0 exe=nginx cgroup=6120 conn=aa-bb comm=a|b=c\\x0ad\\x00\\x00",
		"[::1]:9090→[::1]:0|pid=4100 tid=4100 uid=1000 ret=-111 exe=py cgroup=1 conn=cc-dd reconnect=1 comm=my worker",
		"c cc-dd never 244 0 0 1",
		"c aa-bb peer 1500 78 615 0",
		"close 127.0.0.1:1←127.0.0.1:2|pid=1 uid=0 conn=ee-ff end=peer dur_us=1 sent=0 recv=0 retrans=0 comm=x",
		"10.0.0.1:80→10.0.0.2:4000|pid=9 tid=9 uid=9 ret=0 exe=x cgroup=1 conn=77-88 comm=late",
		"c 99-99 local 1 1 1 0",
		"",
	}, "\n")
	stdout, stderr := filterOutput(t, []byte(in), false)
	assert.Equal(t, strings.Join([]string{
		"# line format 2",
		strings.TrimSuffix(clockLine, "\n"),
		"127.0.0.1:8080→127.0.0.1:51044|pid=4012 tid=4013 uid=1000 ret=0 exe=curl cgroup=7342 conn=f51f-e741 comm=curl",
		"close 127.0.0.1:8080→127.0.0.1:51044|pid=4012 uid=1000 conn=f51f-e741 end=local dur_us=1449 sent=615 recv=78 retrans=2 connect_us=31 comm=curl",
		"[::1]:51044←[::1]:8080|pid=3977 tid=3977 uid=0 exe=nginx cgroup=6120 conn=aa-bb comm=a|b=c\\x0ad\\x00\\x00",
		"[::1]:9090→[::1]:0|pid=4100 tid=4100 uid=1000 ret=-111 exe=py cgroup=1 conn=cc-dd reconnect=1 comm=my worker",
		"close [::1]:9090→[::1]:0|pid=4100 uid=1000 conn=cc-dd end=never dur_us=244 sent=0 recv=0 retrans=1 comm=my worker",
		"close [::1]:51044←[::1]:8080|pid=3977 uid=0 conn=aa-bb end=peer dur_us=1500 sent=78 recv=615 retrans=0 comm=a|b=c\\x0ad\\x00\\x00",
		"close 127.0.0.1:1←127.0.0.1:2|pid=1 uid=0 conn=ee-ff end=peer dur_us=1 sent=0 recv=0 retrans=0 comm=x",
		"10.0.0.1:80→10.0.0.2:4000|pid=9 tid=9 uid=9 ret=0 exe=x cgroup=1 conn=77-88 comm=late",
		"close 10.0.0.1:80→10.0.0.2:4000|pid=9 uid=9 conn=77-88 end=reset-recv dur_us=9 sent=0 recv=0 retrans=0 comm=late",
		"# lost 1 events",
		"",
	}, "\n"), stdout)
	assert.Contains(t, stderr, "netflow-trace: lost 1 events (close records whose open line never came)")
}

// TestFilterCloseRecordsCheap: a connection's open line and close record cost the filter two
// allocations (what it keeps of the open line, and its conn= as the map key), nothing per
// field: the filter's CPU per line is part of the tracer's cost per connection.
func TestFilterCloseRecordsCheap(t *testing.T) {
	f := newFilter(io.Discard, io.Discard, status, false)
	open := []byte("127.0.0.1:8080→127.0.0.1:51044|pid=4012 tid=4013 uid=1000 ret=0 exe=curl cgroup=7342 conn=f51feb8430206bd4-e7410e3b6ae comm=curl")
	rec := []byte("c f51feb8430206bd4-e7410e3b6ae local 1449 615 78 0 31")
	assert.LessOrEqual(t, testing.AllocsPerRun(100, func() {
		require.NoError(t, f.line(open))
		require.NoError(t, f.line(rec))
	}), 2.0)
}

// TestFilterCloseRecordsBounded: the open lines whose close never comes (the kernel skipped
// it) must not fill the filter's memory for good, nor stop it expanding later closes: a full
// map forgets an entry; a record that then finds no open line is a lost event.
func TestFilterCloseRecordsBounded(t *testing.T) {
	var out, errb bytes.Buffer
	f := newFilter(&out, &errb, status, false)
	f.max = 2
	line := func(s string) { require.NoError(t, f.line([]byte(s))) }
	for i := range 5 {
		line(fmt.Sprintf("127.0.0.1:80→127.0.0.1:%d|pid=1 tid=1 uid=0 ret=0 exe=x cgroup=1 conn=%x-1 comm=x", 4000+i, i))
	}
	assert.Len(t, f.open, 2)
	line("127.0.0.1:80→127.0.0.1:5000|pid=1 tid=1 uid=0 ret=0 exe=x cgroup=1 conn=ff-1 comm=x")
	line("c ff-1 local 1 2 3 0 4")
	for i := range 3 {
		line(fmt.Sprintf("c %x-2 local 1 2 3 0", i))
	}
	assert.Len(t, f.early, 2)
	require.NoError(t, f.copy(strings.NewReader("")))
	assert.Contains(t, out.String(), "close 127.0.0.1:80→127.0.0.1:5000|pid=1 uid=0 conn=ff-1 end=local dur_us=1 sent=2 recv=3 retrans=0 connect_us=4 comm=x\n")
	assert.Contains(t, out.String(), "# lost 1 events\n# lost 2 events\n")
}
