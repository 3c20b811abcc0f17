package main

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestAccepted(t *testing.T) {
	listeners := []netip.AddrPort{ap("127.0.0.1:8080"), ap("0.0.0.0:5432"), ap("[::]:9090"), ap("[::1]:7000")}
	for _, c := range []struct {
		local string
		want  bool
	}{
		{"127.0.0.1:8080", true},         // the listener's address and port
		{"10.0.0.2:8080", false},         // the port, on another address: a connecting end
		{"10.0.0.2:5432", true},          // 0.0.0.0 takes every IPv4 address
		{"[::ffff:10.0.0.2]:9090", true}, // [::] takes IPv4 too (mapped or not)
		{"10.0.0.2:9090", true},
		{"[::1]:7000", true},
		{"[::1]:40312", false}, // an ephemeral port: the client
		{"127.0.0.1:7000", false},
	} {
		assert.Equal(t, c.want, accepted(ap(c.local), listeners), c.local)
	}
	assert.False(t, accepted(ap("127.0.0.1:8080"), nil), "no listener: the connecting end")
}

// procs is a fake process table for openLines.
func procs(ps ...proc) func(int) (proc, bool) {
	return func(pid int) (proc, bool) {
		for _, p := range ps {
			if p.pid == pid {
				return p, true
			}
		}
		return proc{}, false
	}
}

// Two namespaces with the same loopback connection; a socket shared by two processes; one
// not yet accepted (no owner); a listener; a connection in another state.
func testSocks() ([]sock, map[uint32]int, func(int) (proc, bool)) {
	socks := []sock{
		{netns: 1, state: tcpListen, local: ap("127.0.0.1:8080"), inode: 10},
		{netns: 1, state: tcpEstablished, local: ap("127.0.0.1:8080"), remote: ap("127.0.0.1:40000"), inode: 11, cookie: 0xa1},
		{netns: 1, state: tcpEstablished, local: ap("127.0.0.1:40000"), remote: ap("127.0.0.1:8080"), inode: 12, cookie: 0xa2},
		{netns: 1, state: tcpEstablished, local: ap("127.0.0.1:8080"), remote: ap("127.0.0.1:40001"), inode: 13}, // in the accept queue
		{netns: 1, state: 8 /* CLOSE_WAIT */, local: ap("127.0.0.1:40002"), remote: ap("127.0.0.1:8080"), inode: 14},
		{netns: 2, state: tcpEstablished, local: ap("127.0.0.1:8080"), remote: ap("127.0.0.1:40000"), inode: 21, cookie: 0xb1},
		// No listener in namespace 2: its 8080 end reads as a connecting end.
	}
	owners := map[uint32]int{10: 100, 11: 100, 12: 200, 14: 200, 21: 300}
	info := procs(
		proc{pid: 100, uid: "33", comm: []byte("nginx"), exe: "nginx", cgroup: "7"},
		proc{pid: 200, uid: "1000", comm: []byte("curl"), exe: "curl", cgroup: "8"},
		proc{pid: 300, uid: "0", comm: []byte("my\nworker"), exe: `\x61\x20b`, cgroup: "9"},
	)
	return socks, owners, info
}

func TestOpenLines(t *testing.T) {
	socks, owners, info := testSocks()
	got := openLines(socks, owners, info, filters{})
	var lines []string
	for _, l := range got {
		lines = append(lines, l.line)
	}
	assert.Equal(t, []string{
		"127.0.0.1:40000←127.0.0.1:8080|pid=100 uid=33 exe=nginx cgroup=7 conn=a1-0 netns=1 preexisting=1 comm=nginx",
		"127.0.0.1:8080→127.0.0.1:40000|pid=200 uid=1000 exe=curl cgroup=8 conn=a2-0 netns=1 preexisting=1 comm=curl",
		`127.0.0.1:40000→127.0.0.1:8080|pid=300 uid=0 exe=\x61\x20b cgroup=9 conn=b1-0 netns=2 preexisting=1 comm=my\x0aworker\x00\x00\x00\x00\x00\x00\x00`,
	}, lines)
	assert.Equal(t, "127.0.0.1:40000←127.0.0.1:8080", got[0].key)
	for _, l := range lines {
		assert.NotContains(t, l, "\n")
	}
}

func TestOpenLinesFilters(t *testing.T) {
	socks, owners, info := testSocks()
	pids := func(fl filters) []string {
		var out []string
		for _, l := range openLines(socks, owners, info, fl) {
			pid, _, _ := strings.Cut(strings.SplitN(l.line, "pid=", 2)[1], " ")
			out = append(out, pid)
		}
		return out
	}
	assert.Equal(t, []string{"200"}, pids(filters{pid: 200}))
	assert.Equal(t, []string{"100"}, pids(filters{comm: "nginx"}))
	assert.Equal(t, []string{"300"}, pids(filters{comm: "my\nworker"}), "the name's bytes, as the kernel's --comm")
	assert.Empty(t, pids(filters{comm: "ngin"}))
	assert.Equal(t, []string{"100", "200", "300"}, pids(filters{port: 8080}), "either end")
	assert.Equal(t, []string{"100", "200", "300"}, pids(filters{port: 40000}))
	assert.Empty(t, pids(filters{port: 40002}), "not established")
	assert.Equal(t, []string{"100"}, pids(filters{pid: 100, port: 8080}))
}

func TestEscapeComm(t *testing.T) {
	assert.Equal(t, "php-fpm: pool www", escapeComm([]byte("php-fpm: pool www")))
	assert.Equal(t, `a\b=c|d`, escapeComm([]byte(`a\b=c|d`)), "printable ASCII as it is, as the tracers print it")
	assert.Equal(t, `my\x0aworker\x00\x00\x00\x00\x00\x00\x00`, escapeComm([]byte("my\nworker")))
	assert.Equal(t, `\xc3\xa9t\xc3\xa9\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00`, escapeComm([]byte("été")))
	assert.Equal(t, "curl", escapeExe("curl"))
	assert.Equal(t, `\x61\x20\x62`, escapeExe("a b"))
	assert.Equal(t, `\x61\x5c\x62`, escapeExe(`a\b`))
	assert.Equal(t, `x\x0ay`, escapeExe("x\ny"))
	assert.Len(t, escapeExe(strings.Repeat("a", 100)), 63)
}

// readProc on a fake /proc: a name with a newline stays one line.
func TestReadProcHostileName(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "42")
	require.NoError(t, os.MkdirAll(filepath.Join(p, "fd"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(p, "comm"), []byte("evil\n127.0.0.1:1→1.2.3.4:5|pid=1 comm=x\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(p, "status"), []byte("Name:\tevil\nUid:\t1000\t1000\t1000\t1000\n"), 0o644))
	require.NoError(t, os.Symlink("/usr/bin/my prog", filepath.Join(p, "exe")))
	require.NoError(t, os.Symlink("socket:[777]", filepath.Join(p, "fd", "3")))
	require.NoError(t, os.Symlink("/dev/null", filepath.Join(p, "fd", "4")))

	owners, err := socketOwners(dir)
	require.NoError(t, err)
	assert.Equal(t, map[uint32]int{777: 42}, owners)

	pr, ok := readProc(dir, 42)
	require.True(t, ok)
	assert.Equal(t, "1000", pr.uid)
	assert.Equal(t, `\x6d\x79\x20\x70\x72\x6f\x67`, pr.exe)
	s := sock{netns: 5, state: tcpEstablished, local: ap("10.0.0.2:40312"), remote: ap("10.0.0.5:5432"), inode: 777, cookie: 1}
	lines := openLines([]sock{s}, owners, func(pid int) (proc, bool) { return readProc(dir, pid) }, filters{})
	require.Len(t, lines, 1)
	l := lines[0].line
	assert.NotContains(t, l, "\n")
	assert.True(t, strings.HasSuffix(l, ` comm=evil\x0a127.0.0.1:1\xe2\x86\x921.2.3.4:5|pid=1 comm=x`), l)
	assert.True(t, strings.HasPrefix(l, "10.0.0.5:5432→10.0.0.2:40312|pid=42 uid=1000 "), l)
}

func TestTraceKey(t *testing.T) {
	assert.Equal(t, "127.0.0.1:8080→127.0.0.1:51044", traceKey([]byte("127.0.0.1:8080→127.0.0.1:51044|pid=1 comm=x")))
	assert.Equal(t, "127.0.0.1:8080→127.0.0.1:51044", traceKey([]byte("[::ffff:127.0.0.1]:8080→[::ffff:127.0.0.1]:51044|pid=1 comm=x")),
		"a dual-stack socket's mapped addresses key as IPv4")
	assert.Equal(t, "[::1]:51044←[::1]:8080", traceKey([]byte("[::1]:51044←[::1]:8080|pid=1 comm=x")))
	assert.Equal(t, "", traceKey([]byte("garbage|pid=1")))
}

// The filter lists at the marker, holds the traced lines until the padding, and drops a
// listed end that a held traced line reported.
func TestFilterListsBeforeTraced(t *testing.T) {
	listed := []openLine{
		{key: "127.0.0.1:8080→127.0.0.1:40000", line: "127.0.0.1:8080→127.0.0.1:40000|pid=200 uid=0 conn=a2-0 preexisting=1 comm=curl"},
		{key: "127.0.0.1:40000←127.0.0.1:8080", line: "127.0.0.1:40000←127.0.0.1:8080|pid=100 uid=0 conn=a1-0 preexisting=1 comm=nginx"},
		{key: "127.0.0.1:8080→127.0.0.1:40007", line: "127.0.0.1:8080→127.0.0.1:40007|pid=201 uid=0 conn=a3-0 preexisting=1 comm=curl"},
	}
	calls := 0
	run := func(input string) (string, string) {
		var out, errb bytes.Buffer
		f := newFilter(&out, &errb, "tracing", false)
		f.lister = func() ([]openLine, []error) { calls++; return listed, nil }
		require.NoError(t, f.copy(strings.NewReader(input)))
		return out.String(), errb.String()
	}
	// Traced before the padding: the connection made between attaching and listing
	// (40007, in both) and a new one; after it, one more.
	in := "# line format 2\n# tracing x\n" +
		"127.0.0.1:8080→127.0.0.1:40007|pid=201 tid=201 uid=0 ret=0 conn=ff-1 comm=curl\n" +
		"#\n#\n#\n" +
		"127.0.0.1:8080→127.0.0.1:40008|pid=202 tid=202 uid=0 ret=0 conn=fe-2 comm=curl\n" +
		"#\n#\n#\n" +
		"127.0.0.1:8080→127.0.0.1:40009|pid=203 tid=203 uid=0 ret=0 conn=fd-3 comm=curl\n" +
		"# tracing again\n#\n#\n#\n#\n#\n#\n"
	out, _ := run(in)
	// The clock line (the tests' fixed clock) first, as before any event.
	const clock = "# clock monotonic=98760004215 realtime=2026-12-02T05:30:11.123456789Z\n"
	assert.Equal(t, "# line format 2\n"+clock+listed[0].line+"\n"+listed[1].line+"\n"+
		"127.0.0.1:8080→127.0.0.1:40007|pid=201 tid=201 uid=0 ret=0 conn=ff-1 comm=curl\n"+
		"127.0.0.1:8080→127.0.0.1:40008|pid=202 tid=202 uid=0 ret=0 conn=fe-2 comm=curl\n"+
		"127.0.0.1:8080→127.0.0.1:40009|pid=203 tid=203 uid=0 ret=0 conn=fd-3 comm=curl\n", out)
	assert.Equal(t, 1, calls, "listed once")

	// The input ends before the padding: the listed lines come all the same, first.
	out, _ = run("# tracing x\n127.0.0.1:8080→127.0.0.1:40008|pid=202 uid=0 conn=fe-2 comm=curl\n")
	assert.Equal(t, clock+listed[0].line+"\n"+listed[1].line+"\n"+listed[2].line+"\n"+
		"127.0.0.1:8080→127.0.0.1:40008|pid=202 uid=0 conn=fe-2 comm=curl\n", out)
}

// Without -list-open, and with -aggregate, nothing is listed.
func TestFilterListOpenFlag(t *testing.T) {
	dir := t.TempDir() // no processes: listing would fail loudly
	var out, errb bytes.Buffer
	require.NoError(t, run([]string{"-proc", dir}, strings.NewReader("# tracing x\n#\n"), &out, &errb))
	assert.NotContains(t, errb.String(), "listing")
	errb.Reset()
	require.NoError(t, run([]string{"-list-open", "-proc", dir}, strings.NewReader("# tracing x\n#\n"), &out, &errb))
	assert.Contains(t, errb.String(), "netflow-trace: listing the open connections: ")
	errb.Reset()
	require.NoError(t, run([]string{"-list-open", "-aggregate", "-proc", dir}, strings.NewReader("# tracing x\n# end\n"), &out, &errb))
	assert.NotContains(t, errb.String(), "listing")
	assert.Error(t, run([]string{"-list-open", "-port", "70000"}, strings.NewReader(""), &out, &errb))
}
