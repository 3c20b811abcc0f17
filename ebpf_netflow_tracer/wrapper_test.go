package tracer_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWrapperUsage checks what scripts/netflow-trace does before it needs
// root or bpftrace: --help on stdout with status 0, usage errors with 2.
func TestWrapperUsage(t *testing.T) {
	root := repoRoot(t)
	script := filepath.Join(root, "scripts", "netflow-trace")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // in stdout
		wantErr  string // in stderr
	}{
		{name: "help", args: []string{"--help"}, wantOut: "usage: sudo scripts/netflow-trace"},
		{name: "help documents the buffer", args: []string{"-h"}, wantOut: "BPFTRACE_PERF_RB_PAGES"},
		{name: "unknown flag", args: []string{"--bogus"}, wantCode: 2, wantErr: "usage:"},
		{name: "bad variant", args: []string{"--variant", "fentry"}, wantCode: 2, wantErr: "kprobe or tracepoint"},
		{name: "variant without value", args: []string{"--variant"}, wantCode: 2, wantErr: "usage:"},
		{name: "port out of range", args: []string{"--port", "70000"}, wantCode: 2, wantErr: "1..65535"},
		{name: "pid not a number", args: []string{"--pid", "x1"}, wantCode: 2, wantErr: "positive number"},
		{name: "help documents aggregation", args: []string{"--help"}, wantOut: "--aggregate SECONDS"},
		{name: "help documents the prebuilt filter", args: []string{"--help"}, wantOut: "NETFLOW_TRACE_FILTER"},
		{name: "help documents --no-preexisting", args: []string{"--help"}, wantOut: "--no-preexisting"},
		{name: "help points to the line format", args: []string{"--help"}, wantOut: "docs/line-format.md"},
		{name: "aggregate without seconds", args: []string{"--aggregate"}, wantCode: 2, wantErr: "usage:"},
		{name: "aggregate zero", args: []string{"--aggregate", "0"}, wantCode: 2, wantErr: "positive number of seconds"},
		{name: "aggregate not a number", args: []string{"--aggregate", "5s"}, wantCode: 2, wantErr: "positive number of seconds"},
		// The kernel keeps 15 bytes of a name: a longer --comm would match nothing.
		{name: "comm of 16 bytes", args: []string{"--comm", "0123456789abcdef"}, wantCode: 2, wantErr: "at most 15 bytes"},
		{name: "comm of 16 bytes in 10 characters", args: []string{"--comm", "ééééééxxxx"}, wantCode: 2, wantErr: "16 bytes"},
		{name: "help says the tracer's filters drop the peer", args: []string{"--help"}, wantOut: "not their peers'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(script, tc.args...)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			// A usage error must not start tracing; if it does (as root), stop it.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			require.NoError(t, cmd.Start())
			guard := time.AfterFunc(lineTimeout, func() {
				t.Errorf("still running after %v: it started tracing", lineTimeout)
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			})
			err := cmd.Wait()
			guard.Stop()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.wantCode, code, "stderr: %s", stderr.String())
			assert.Contains(t, stdout.String(), tc.wantOut)
			assert.Contains(t, stderr.String(), tc.wantErr)
			if tc.wantCode != 0 {
				assert.Empty(t, stdout.String(), "errors never go to stdout")
			}
		})
	}
}

// TestLauncherVersion: --version prints "NAME VERSION (commit HASH)", VERSION from the file
// VERSION at the repository root (which the Go commands read too), HASH the checkout's short
// commit, or "unknown" outside a git checkout. It needs neither root nor bpftrace.
func TestLauncherVersion(t *testing.T) {
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "VERSION"))
	require.NoError(t, err)
	version := strings.TrimSpace(string(data))
	require.Regexp(t, `^[0-9]+\.[0-9]+\.[0-9]+$`, version)
	git := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD")
	head, err := git.Output()
	require.NoError(t, err, "the repository is a git checkout")
	commit := strings.TrimSpace(string(head))

	// The same scripts outside any git checkout.
	copyRoot := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(copyRoot, "scripts"), 0o755))
	for _, f := range []string{"VERSION", "scripts/lib.sh", "scripts/netflow-trace", "scripts/netflow-lifecycle"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(copyRoot, f), b, 0o755))
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()} // no GIT_DIR and the like

	for _, name := range []string{"netflow-trace", "netflow-lifecycle"} {
		for _, c := range []struct{ where, root, commit string }{
			{"checkout", root, commit},
			{"copy", copyRoot, "unknown"},
		} {
			t.Run(name+"/"+c.where, func(t *testing.T) {
				cmd := exec.Command(filepath.Join(c.root, "scripts", name), "--version")
				cmd.Dir = t.TempDir()
				cmd.Env = env
				var stderr strings.Builder
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				require.NoError(t, err, "stderr: %s", stderr.String())
				assert.Equal(t, name+" "+version+" (commit "+c.commit+")\n", string(out))
				assert.Empty(t, stderr.String())
			})
		}
	}
}
