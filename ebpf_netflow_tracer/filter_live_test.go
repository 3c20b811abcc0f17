package tracer_test

// scripts/netflow-trace's filter, cmd/netflow-trace-filter: built on first use into a cache
// directory, or taken prebuilt from NETFLOW_TRACE_FILTER.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLiveStopDuringFilterBuild: a stop while the script builds its filter (an empty cache
// directory: a first run) ends everything as any stop during startup does: exit status 0,
// nothing on stdout, no process left, nothing left in TMPDIR nor in the cache directory but
// what was complete.
func TestLiveStopDuringFilterBuild(t *testing.T) {
	requireBPF(t)
	root := repoRoot(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		for _, group := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/group=%v", sig, group), func(t *testing.T) {
				cache := t.TempDir()
				stopDuringStartup(t, root, "1", sig, group, []string{"XDG_CACHE_HOME=" + cache, "NETFLOW_TRACE_FILTER="},
					func(t *testing.T, token string) {
						waitProc(t, token, "the go command building the filter", func(p procInfo) bool { return p.comm == "go" })
					})
				cached, _ := os.ReadDir(filepath.Join(cache, "netflow"))
				for _, e := range cached {
					assert.Regexp(t, `^netflow-trace-filter-\d+$`, e.Name(), "only a complete filter may stay in the cache")
				}
			})
		}
	}
}

// TestLivePrebuiltFilter: with NETFLOW_TRACE_FILTER the script runs that filter and builds
// nothing (a kernel-matrix guest has no Go); a NETFLOW_TRACE_FILTER that is not an
// executable file is an error before anything starts.
func TestLivePrebuiltFilter(t *testing.T) {
	requireBPF(t)
	root := repoRoot(t)
	dir, cache := t.TempDir(), t.TempDir()
	bin := filepath.Join(dir, "netflow-trace-filter")
	out, err := exec.Command("go", "build", "-o", bin, filepath.Join(root, "cmd", "netflow-trace-filter")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	// A wrapper that leaves a mark, then runs the filter.
	mark := filepath.Join(dir, "ran")
	wrapper := filepath.Join(dir, "filter")
	require.NoError(t, os.WriteFile(wrapper, []byte("#!/bin/sh\n: > '"+mark+"'\nexec '"+bin+"' \"$@\"\n"), 0o755))

	t.Run("missing", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), lineTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "netflow-trace"), "--variant", "tracepoint")
		cmd.Dir = root
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.WaitDelay = time.Second
		cmd.Env = append(os.Environ(), "NETFLOW_TRACE_FILTER="+filepath.Join(dir, "absent"), "XDG_CACHE_HOME="+cache)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "%s", out)
		assert.Equal(t, 1, ee.ExitCode())
		assert.Contains(t, string(out), "NETFLOW_TRACE_FILTER="+filepath.Join(dir, "absent")+": not an executable file")
	})

	t.Run("used", func(t *testing.T) {
		t.Setenv("NETFLOW_TRACE_FILTER", wrapper)
		t.Setenv("XDG_CACHE_HOME", cache)
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		port := ln.Addr().(*net.TCPAddr).Port
		tr := startTracer(t, root, "--variant", "tracepoint", "--port", fmt.Sprint(port))
		c, err := net.Dial("tcp4", ln.Addr().String())
		require.NoError(t, err)
		s, err := ln.Accept()
		require.NoError(t, err)
		local := c.LocalAddr().(*net.TCPAddr).Port
		c.Close()
		s.Close()
		tr.waitFor(t, "for the connect", func(e event) bool {
			return e.out && int(e.remote.Port()) == port && int(e.local.Port()) == local && e.pid == os.Getpid()
		})
		tr.stop(t)
		assert.FileExists(t, mark, "the filter named by NETFLOW_TRACE_FILTER ran")
		_, err = os.Stat(filepath.Join(cache, "netflow"))
		assert.True(t, os.IsNotExist(err), "nothing was built")
	})
}
