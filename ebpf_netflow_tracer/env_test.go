package tracer_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// repoRoot is the module root: go test runs in the package directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "go.mod"))
	return root
}

// requireBPF stops the test unless it can load BPF programs: root and
// bpftrace. Where the tests are meant to run for real (CI, or NETFLOW_LIVE=1)
// a missing requirement is a failure, never a silent skip.
func requireBPF(t *testing.T) {
	t.Helper()
	var missing string
	switch {
	case os.Geteuid() != 0:
		missing = "not running as root (bpftrace needs it)"
	default:
		if _, err := exec.LookPath("bpftrace"); err != nil {
			missing = "bpftrace not found in PATH (apt-get install bpftrace)"
		}
	}
	if missing == "" {
		return
	}
	if os.Getenv("CI") != "" || os.Getenv("NETFLOW_LIVE") == "1" {
		t.Fatalf("bpftrace test cannot run: %s; with CI or NETFLOW_LIVE=1 it must", missing)
	}
	t.Skipf("%s; set NETFLOW_LIVE=1 to make this a failure", missing)
}

// startWatching starts cmd in a process group of its own (so that a signal can go to the
// whole group, as a terminal's Ctrl-C does; killed at cleanup) and waits until a line of its
// standard error satisfies ready. It returns a channel closed when standard error ends, and
// what it has said there so far.
func startWatching(t *testing.T, cmd *exec.Cmd, what string, ready func(line string) bool) (done <-chan struct{}, stderr func() string) {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pipe, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	var mu sync.Mutex
	var log strings.Builder
	stderr = func() string {
		mu.Lock()
		defer mu.Unlock()
		return log.String()
	}
	started, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		sc := bufio.NewScanner(pipe)
		once := false
		for sc.Scan() {
			mu.Lock()
			log.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if !once && ready(sc.Text()) {
				once = true
				close(started)
			}
		}
	}()
	select {
	case <-started:
	case <-ended:
		t.Fatalf("%s ended before it was ready: %v\n%s", what, cmd.Wait(), stderr())
	case <-time.After(startTimeout):
		t.Fatalf("%s not ready within %v:\n%s", what, startTimeout, stderr())
	}
	return ended, stderr
}

// buildProgram builds the package pkg of the module (e.g. "./dev/netpeer") into the file dst.
// With NETFLOW_PREBUILT=DIR it copies DIR/<last element of pkg> there instead, built
// beforehand: scripts/test-kernels runs these tests in a guest that has no Go.
func buildProgram(t *testing.T, root, pkg, dst string) {
	t.Helper()
	if dir := os.Getenv("NETFLOW_PREBUILT"); dir != "" {
		data, err := os.ReadFile(filepath.Join(dir, filepath.Base(pkg)))
		require.NoError(t, err, "NETFLOW_PREBUILT: %s not built", pkg)
		require.NoError(t, os.WriteFile(dst, data, 0o755))
		return
	}
	cmd := exec.Command("go", "build", "-o", dst, pkg)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build %s:\n%s", pkg, out)
}
