package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLifecycleSecondConnectInNextFile: hiredis's second connect() on a socket that is
// connecting (-115, then 0) is one connection also when the writer started a new file
// between the two rows; the files of another session (directory) are other sockets.
func TestLifecycleSecondConnectInNextFile(t *testing.T) {
	dir := t.TempDir()
	session := func(name string, files ...string) {
		nw := filepath.Join(dir, "linux_trace_v3_test", "abc", name, "nw_conn")
		require.NoError(t, os.MkdirAll(nw, 0o755))
		for i, f := range files {
			require.NoError(t, os.WriteFile(filepath.Join(nw, fmt.Sprintf("nw_conn_%04d.csv", i+1)), []byte(csvHeader+f), 0o644))
		}
	}
	connect := func(fd int, lport string, ret int) string {
		return fmt.Sprintf("2026-12-01 21:36:10.346610,CONNECT,16438,16438,redis-cli,AF_INET,SOCK_STREAM,TCP,4,127.0.0.1,127.0.0.1,%s,6379,%d,,96812,%d\n", lport, fd, ret)
	}
	accept := func(cport string) string {
		return "2026-12-01 21:36:10.346902,ACCEPT,900,900,redis-server,AF_INET,SOCK_STREAM,TCP,4,127.0.0.1,127.0.0.1,6379," + cport + ",8,,629617,0\n"
	}
	session("20261201_213600_000",
		connect(3, "59952", -115)+accept("59952"),
		connect(3, "59952", 0)+ // the second connect, in the next file
			connect(4, "59954", -115)) // under way at the end of the session, never accepted
	// The next session: the same pid and fd (a pid used again after a reboot) is another socket.
	session("20261201_223600_000", connect(4, "59970", 0)+accept("59970"))
	code, out, stderr := runMain(t, "", "-format", "dot", dir)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "3 connections", stderr)
	assert.Equal(t, 2, strings.Count(out, "->"), out)
	assert.Regexp(t, `n1->n2\[.*×2`, out, "redis-cli to redis-server, twice")
}

// TestExcludeLoopbackDropsFailedConnects: a refused connect to 127.0.0.x has 0.0.0.0:0 as
// its local end, and is loopback all the same.
func TestExcludeLoopbackDropsFailedConnects(t *testing.T) {
	in := "127.0.0.1:81→0.0.0.0:0|pid=1 ret=-111 comm=curl\n" +
		"[::1]:81→[::]:0|pid=1 ret=-111 comm=curl\n" +
		"[::ffff:127.0.0.9]:81→[::]:0|pid=1 ret=-111 comm=curl\n" +
		"192.0.2.9:443→0.0.0.0:0|pid=1 ret=-110 comm=curl\n"
	code, out, stderr := runMain(t, in, "-format", "dot", "-exclude-loopback")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, 1, strings.Count(out, "->"), out)
	assert.Contains(t, out, "192.0.2.9:443")
	assert.NotContains(t, out, "127.0.0")
	assert.NotContains(t, out, "::1")
}

// TestTooLongLineIsQuoted: a line over the limit is reported like any malformed line, with
// its first 40 bytes quoted (escaped), though it is never buffered whole.
func TestTooLongLineIsQuoted(t *testing.T) {
	head := "\x1b[31m1.2.3.4:80→5.6.7.8:1|pid=1 comm=xxxxxxxxxxxxxxxxxx"
	long := head + strings.Repeat("y", 5<<20)
	for name, in := range map[string]string{
		"first line": long + "\n127.0.0.1:80→127.0.0.1:4000|pid=1 comm=a\n",
		"later line": "127.0.0.1:80→127.0.0.1:4000|pid=1 comm=a\n" + long + "\n",
		"last line":  "127.0.0.1:80→127.0.0.1:4000|pid=1 comm=a\n" + long,
	} {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := runMain(t, in)
			require.Equal(t, 0, code, stderr)
			assert.Contains(t, stderr, "longer than the")
			assert.Contains(t, stderr, strconv.Quote(head[:40]), stderr)
			assert.Less(t, len(stderr), 1000)
		})
	}
}
