package tracer_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// monotonic is CLOCK_MONOTONIC in nanoseconds (the clock of proc lines' start=).
func monotonic(t *testing.T) int64 {
	var ts syscall.Timespec
	_, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 1, uintptr(unsafe.Pointer(&ts)), 0)
	require.Zero(t, e)
	return ts.Nano()
}

// clockRE is the clock line (docs/line-format.md, The clock line).
var clockRE = regexp.MustCompile(`^# clock monotonic=\d+ realtime=\d{4}-\d\d-\d\dT[\d:.]+Z$`)

// procLine is a proc line's keys, args= decoded into the arguments.
type procLine struct {
	keys map[string]string
	args []string
}

func parseProc(t *testing.T, line string) procLine {
	t.Helper()
	head, args, ok := strings.Cut(strings.TrimPrefix(line, "proc "), "args=")
	require.True(t, ok, line)
	p := procLine{keys: map[string]string{}}
	for _, kv := range strings.Fields(head) {
		k, v, _ := strings.Cut(kv, "=")
		p.keys[k] = v
	}
	for _, a := range strings.Split(args, " ") {
		s, err := unescape(a)
		require.NoError(t, err, a)
		p.args = append(p.args, s)
	}
	return p
}

// capsOf is CapEff, CapPrm and CapInh of /proc/PID/status, as proc lines write them.
func capsOf(t *testing.T, pid string) [3]string {
	f, err := os.Open("/proc/" + pid + "/status")
	require.NoError(t, err)
	defer f.Close()
	var c [3]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":\t")
		n, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		s := "0"
		if n != 0 {
			s = fmt.Sprintf("0x%x", n)
		}
		switch k {
		case "CapEff":
			c[0] = s
		case "CapPrm":
			c[1] = s
		case "CapInh":
			c[2] = s
		}
	}
	return c
}

// TestLiveProcLines: a client with a hostile argv, started by a shell this test starts,
// from a path holding a space, gets one proc line before its first line, with its pid,
// parent, credentials, path, arguments, start time and cgroup; one started with no
// capabilities (setpriv) shows none; a set-uid-root one run by nobody shows uid 65534,
// euid 0 and secureexec=1.
func TestLiveProcLines(t *testing.T) {
	requireBPF(t)
	root := repoRoot(t)
	netpeer := buildNetpeer(t, root)
	dir := filepath.Join(t.TempDir(), "dir with space")
	require.NoError(t, os.Mkdir(dir, 0o755))
	exe := filepath.Join(dir, "netpeer")
	data, err := os.ReadFile(netpeer)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(exe, data, 0o755))
	_, err = exec.LookPath("setpriv")
	require.NoError(t, err, "setpriv (util-linux) is needed")

	srv := startServer(t, netpeer, "127.0.0.1:0", 3)
	port := strconv.Itoa(int(srv.addr.Port()))
	tr := startTracer(t, root, "--variant", "tracepoint", "--port", port)

	argv0 := "net peer\nwith\\back"
	run := func(exe string, prefix ...string) (shPid, pid int, before, after int64) {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		// sh stays the client's parent (the ": " after it keeps sh from exec'ing it); exec -a
		// gives the client its argv[0].
		script := `"$@"; :`
		args := append([]string{"-c", script, "sh"}, prefix...)
		args = append(args, "bash", "-c", `exec -a "$0" "$@"`, argv0, exe, "client", "-connect", srv.addr.String(), "-n", "1")
		cmd := exec.CommandContext(ctx, "/bin/sh", args...)
		before = monotonic(t)
		out, err := cmd.Output()
		after = monotonic(t)
		require.NoError(t, err, "%s", out)
		_, err = fmt.Sscanf(string(out), "pid=%d", &pid)
		require.NoError(t, err, "%s", out)
		return cmd.Process.Pid, pid, before, after
	}
	// The full-capabilities client first: as root, what this test has.
	sh1, pid1, b1, a1 := run(exe)
	sh2, pid2, _, _ := run(exe, "setpriv", "--inh-caps=-all", "--bounding-set=-all", "--")
	// A set-uid-root copy run by nobody: euid 0 but uid 65534, and AT_SECURE.
	suid := filepath.Join(t.TempDir(), "suid", "netpeer")
	require.NoError(t, os.MkdirAll(filepath.Dir(suid), 0o755))
	require.NoError(t, os.WriteFile(suid, data, 0o755))
	require.NoError(t, os.Chmod(suid, 0o755|os.ModeSetuid))
	for d := filepath.Dir(suid); d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		require.NoError(t, os.Chmod(d, 0o755))
	}
	sh3, pid3, _, _ := run(suid, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--")
	wantCaps := capsOf(t, "self")

	for _, c := range []struct {
		sh, pid int
		b, a    int64
		caps    [3]string
		exe     string
		ids     [4]string // uid euid gid egid
		sec     string
	}{
		{sh1, pid1, b1, a1, wantCaps, exe, [4]string{"0", "0", "0", "0"}, "0"},
		{sh2, pid2, 0, 0, [3]string{"0", "0", "0"}, exe, [4]string{"0", "0", "0", "0"}, "0"},
		{sh3, pid3, 0, 0, [3]string{}, suid, [4]string{"65534", "0", "65534", "65534"}, "1"},
	} {
		pid := strconv.Itoa(c.pid)
		_, ok := waitV2(t, tr, "the client's line", time.Now().Add(startTimeout), func(l v2line) bool { return l.pid() == c.pid })
		require.True(t, ok, "no line of client %d:\n%s", c.pid, tr.text(&tr.stdout))
		var procs []string
		first := -1
		tr.mu.Lock()
		lines := append([]string(nil), tr.stdout...)
		tr.mu.Unlock()
		for i, l := range lines {
			if strings.HasPrefix(l, "proc pid="+pid+" ") {
				procs = append(procs, l)
				assert.Equal(t, -1, first, "a line of %s before its proc line", pid)
			} else if strings.Contains(l, "|pid="+pid+" ") && first < 0 {
				first = i
				require.NotEmpty(t, procs, "the proc line of %s comes after its first line:\n%s", pid, strings.Join(lines, "\n"))
			}
		}
		require.Len(t, procs, 1, "proc lines of %s", pid)
		p := parseProc(t, procs[0])
		assert.Equal(t, strconv.Itoa(c.sh), p.keys["ppid"])
		for i, k := range []string{"uid", "euid", "gid", "egid"} {
			assert.Equal(t, c.ids[i], p.keys[k], k)
		}
		if c.caps[0] != "" {
			assert.Equal(t, c.caps, [3]string{p.keys["cap_effective"], p.keys["cap_permitted"], p.keys["cap_inheritable"]})
		}
		assert.Equal(t, c.sec, p.keys["secureexec"])
		exePath, err := unescape(p.keys["exe_path"])
		require.NoError(t, err)
		assert.Equal(t, c.exe, exePath)
		assert.Equal(t, []string{argv0, "client", "-connect", srv.addr.String(), "-n", "1"}, p.args)
		start, err := strconv.ParseInt(p.keys["start"], 10, 64)
		require.NoError(t, err)
		if c.b != 0 {
			assert.True(t, start > c.b && start < c.a, "start=%d not within [%d, %d]", start, c.b, c.a)
		}
		var line v2line
		for _, l := range v2Lines(tr) {
			if l.pid() == c.pid {
				line = l
				break
			}
		}
		assert.Equal(t, line.kv["cgroup"], p.keys["cgroup"])
	}
	// The server, started before the tracer, gets its proc line at its first accept.
	tr.mu.Lock()
	lines := append([]string(nil), tr.stdout...)
	tr.mu.Unlock()
	spid := strconv.Itoa(srv.pid)
	var sprocs []string
	for _, l := range lines {
		if strings.HasPrefix(l, "proc pid="+spid+" ") {
			sprocs = append(sprocs, l)
		} else if strings.Contains(l, "←") && strings.Contains(l, "|pid="+spid+" ") {
			require.Len(t, sprocs, 1, "the server's proc line, once, before its first accept")
		}
	}
	require.Len(t, sprocs, 1, "the server's proc line")
	sp := parseProc(t, sprocs[0])
	exePath, err := unescape(sp.keys["exe_path"])
	require.NoError(t, err)
	assert.Equal(t, netpeer, exePath)
	assert.Equal(t, []string{netpeer, "server", "-listen", "127.0.0.1:0", "-n", "3"}, sp.args)
	assert.Equal(t, strconv.Itoa(os.Getpid()), sp.keys["ppid"])
	tr.stop(t)
}
