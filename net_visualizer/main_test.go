package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netflow/internal/version"
)

// buildBinary builds this command as a single file, the way `go run main.go` does: `go build main.go`
// in this directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "net_visualizer")
	cmd := exec.Command("go", "build", "-o", bin, "main.go")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// TestSIGINTWritesTheGraph is `tracer | net_visualizer > graph.dot` and Ctrl-C: the terminal
// signals both; the visualizer must write what it read and exit 0, even if its input stays open.
func TestSIGINTWritesTheGraph(t *testing.T) {
	bin := buildBinary(t)
	cmd := exec.Command(bin)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	defer stdin.Close()
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	outFile := filepath.Join(t.TempDir(), "graph.dot")
	f, err := os.Create(outFile)
	require.NoError(t, err)
	defer f.Close()
	cmd.Stdout = f
	require.NoError(t, cmd.Start())

	_, err = io.WriteString(stdin, "127.0.0.1:8080→127.0.0.1:40000|pid=1 comm=curl\n127.0.0.1:40000←127.0.0.1:8080|pid=2 comm=srv\n")
	require.NoError(t, err)
	time.Sleep(500 * time.Millisecond) // let it read the lines; the input stays open
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))

	errText, _ := io.ReadAll(stderr)
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		require.NoError(t, err, "exit status after SIGINT; stderr: %s", errText)
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("net_visualizer did not exit after SIGINT")
	}
	got, err := os.ReadFile(outFile)
	require.NoError(t, err)
	assert.Contains(t, string(got), "n1->n2")
	assert.True(t, strings.HasSuffix(string(got), "}\n"), "the DOT is complete")
	assert.Contains(t, string(errText), "2 lines, 1 connection,")
}

// TestClosedStdoutEndsQuietly is `net_visualizer big.trace | head -1`.
func TestClosedStdoutEndsQuietly(t *testing.T) {
	bin := buildBinary(t)
	trace := filepath.Join(t.TempDir(), "big.trace")
	var b strings.Builder
	for i := 0; i < 20000; i++ {
		b.WriteString("198.51.100.7:443→10.0.0.2:")
		b.WriteString("1")
		b.WriteString("|pid=")
		b.WriteString(strconv.Itoa(i))
		b.WriteString(" comm=curl\n")
	}
	require.NoError(t, os.WriteFile(trace, []byte(b.String()), 0o644))
	cmd := exec.Command(bin, "-q", trace)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var errb strings.Builder
	cmd.Stderr = &errb
	require.NoError(t, cmd.Start())
	first, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "digraph netflow {\n", first)
	stdout.Close() // like head exiting
	err = cmd.Wait()
	if err != nil {
		// Dying of SIGPIPE is the quiet Unix way too; any other failure is not.
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "%v", err)
		ws := ee.Sys().(syscall.WaitStatus)
		assert.True(t, ws.Signaled() && ws.Signal() == syscall.SIGPIPE, "exit: %v", err)
	}
	assert.Equal(t, "", errb.String())
}

// slowTrace writes a trace whose graph Graphviz takes seconds to lay out: procs processes each
// connecting to per of 300 external endpoints, every edge crossing others.
func slowTrace(procs, per int) string {
	var b strings.Builder
	x := uint32(1)
	for p := 0; p < procs; p++ {
		for k := 0; k < per; k++ {
			x = x*1103515245 + 12345
			e := (x >> 8) % 300
			fmt.Fprintf(&b, "198.51.100.%d:%d→10.0.0.2:%d|pid=%d comm=p%d\n", e%250, 1000+e, 20000+p*per+k, p+1, p)
		}
	}
	return b.String()
}

// childDot is the pid of a Graphviz dot that pid started and that is still running, or 0.
func childDot(t *testing.T, pid int) int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	require.NoError(t, err)
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // gone meanwhile
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		rest := strings.Fields(s[end+1:]) // state ppid ...
		if len(rest) < 2 || s[open+1:end] != "dot" || rest[0] == "Z" || rest[1] != strconv.Itoa(pid) {
			continue
		}
		child, _ := strconv.Atoi(strings.Fields(s)[0])
		return child
	}
	return 0
}

// waitUntil polls cond; the timeout only detects a hang.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// running is a net_visualizer started by a test.
type running struct {
	pid   int
	stdin io.WriteCloser
	wait  chan int // its exit status, 128+N when killed by signal N
	errb  *strings.Builder
}

// start runs bin with args, its standard input a pipe. With ignoreSIGINT it is started as
// a shell script's background job is (`net_visualizer ... &` in a non-interactive shell):
// with SIGINT ignored.
func start(t *testing.T, bin string, ignoreSIGINT bool, args ...string) *running {
	t.Helper()
	var cmd *exec.Cmd
	if ignoreSIGINT {
		// bash ignores SIGINT in a background job; <&0 keeps the pipe as its input.
		cmd = exec.Command("bash", append([]string{"-c", `"$@" <&0 & echo $!; wait $!`, "bash", bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	r := &running{stdin: stdin, wait: make(chan int, 1), errb: &strings.Builder{}}
	cmd.Stderr = r.errb
	require.NoError(t, cmd.Start())
	r.pid = cmd.Process.Pid
	if ignoreSIGINT {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		require.NoError(t, err)
		r.pid, err = strconv.Atoi(strings.TrimSpace(line))
		require.NoError(t, err)
	}
	go func() {
		_ = cmd.Wait()
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			r.wait <- 128 + int(ws.Signal())
			return
		}
		r.wait <- ws.ExitStatus()
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(r.pid, syscall.SIGKILL)
		_ = cmd.Process.Kill()
		stdin.Close()
	})
	return r
}

func (r *running) exitStatus(t *testing.T) int {
	t.Helper()
	select {
	case code := <-r.wait:
		return code
	case <-time.After(90 * time.Second):
		t.Fatalf("net_visualizer did not exit; stderr: %s", r.errb)
	}
	return -1
}

// TestBackgroundJobInheritsIgnoredSIGINT checks the premise of the tests below: bash starts
// a background job with SIGINT ignored.
func TestBackgroundJobInheritsIgnoredSIGINT(t *testing.T) {
	out, err := exec.Command("bash", "-c", `grep SigIgn /proc/self/status & wait`).Output()
	require.NoError(t, err)
	mask, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(string(out), "SigIgn:")), 16, 64)
	require.NoError(t, err)
	assert.NotZero(t, mask&(1<<(syscall.SIGINT-1)), "SIGINT ignored in %s", out)
}

// TestSecondSIGINTWhileRenderingLeavesNoTempFile: Ctrl-C stops reading and Graphviz renders
// the -o file; a second Ctrl-C ends it at once (exit 130), with its temporary file removed and
// dot stopped; also when it was started with SIGINT ignored, and with -every.
func TestSecondSIGINTWhileRenderingLeavesNoTempFile(t *testing.T) {
	bin := buildBinary(t)
	trace := slowTrace(300, 15)
	for _, tt := range []struct {
		name   string
		ignore bool
		every  bool
	}{
		{"plain", false, false},
		{"started with SIGINT ignored", true, false},
		{"-every", false, true},
		{"-every, started with SIGINT ignored", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"-q", "-format", "svg", "-o", filepath.Join(dir, "g.svg")}
			if tt.every {
				args = append(args, "-every", "20ms")
			}
			r := start(t, bin, tt.ignore, args...)
			_, err := io.WriteString(r.stdin, trace) // returns once it has read nearly all; its input stays open
			require.NoError(t, err)
			snapshot := 0
			if tt.every {
				waitUntil(t, "a snapshot rendered by dot", func() bool { snapshot = childDot(t, r.pid); return snapshot != 0 })
			}
			require.NoError(t, syscall.Kill(r.pid, syscall.SIGINT))
			var dot int
			waitUntil(t, "dot rendering the final graph", func() bool { dot = childDot(t, r.pid); return dot != 0 && dot != snapshot })
			require.NoError(t, syscall.Kill(r.pid, syscall.SIGINT))

			assert.Equal(t, 130, r.exitStatus(t), "stderr: %s", r.errb)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			for _, e := range entries {
				assert.NotContains(t, e.Name(), ".tmp", "a temporary file is left behind")
			}
			waitUntil(t, "dot to be stopped", func() bool {
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", dot))
				return err != nil || strings.Contains(string(b), ") Z ")
			})
		})
	}
}

// TestTerminalSIGINTDuringASnapshot is Ctrl-C at a terminal (SIGINT to the whole process
// group) while -every has Graphviz rendering a snapshot: the graph of what was read is still
// written, and the run exits 0.
func TestTerminalSIGINTDuringASnapshot(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "g.svg")
	cmd := exec.Command(bin, "-q", "-format", "svg", "-every", "20ms", "-o", out)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a group of its own, as a shell's job
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	defer stdin.Close()
	var errb strings.Builder
	cmd.Stderr = &errb
	require.NoError(t, cmd.Start())
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }()
	_, err = io.WriteString(stdin, slowTrace(150, 10))
	require.NoError(t, err)
	waitUntil(t, "a snapshot rendered by dot", func() bool { return childDot(t, cmd.Process.Pid) != 0 })
	require.NoError(t, syscall.Kill(-cmd.Process.Pid, syscall.SIGINT))

	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		require.NoError(t, err, "stderr: %s", errb.String())
	case <-time.After(120 * time.Second):
		t.Fatal("net_visualizer did not exit after SIGINT")
	}
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Contains(t, string(b), "p149")
	assert.True(t, strings.HasSuffix(strings.TrimSpace(string(b)), "</svg>"))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file is left behind")
}

// TestVersionFlag: -version names the release and the commit; a binary that carries no
// commit (go build main.go, go run) says "unknown".
func TestVersionFlag(t *testing.T) {
	want := "net_visualizer " + version.Version + " (commit unknown, " + runtime.Version() + ")\n"
	out, err := exec.Command(buildBinary(t), "-version").Output()
	require.NoError(t, err)
	assert.Equal(t, want, string(out))
	out, err = exec.Command("go", "run", "main.go", "-version").Output()
	require.NoError(t, err)
	assert.Equal(t, want, string(out))
}

// TestVersionNamesTheCommit: go build inside a git checkout stamps the commit, which
// -version shows (this needs the commit stamp: skipped in a git worktree, where go does not
// stamp, or when there is no git).
func TestVersionNamesTheCommit(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skip("not in a git checkout")
	}
	bin := filepath.Join(t.TempDir(), "net_visualizer")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOFLAGS=-buildvcs=true")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	info, err := exec.Command("go", "version", "-m", bin).Output()
	require.NoError(t, err)
	if !strings.Contains(string(info), "vcs.revision=") {
		t.Skip("go build stamped no commit here (a git worktree?)")
	}
	out, err = exec.Command(bin, "-version").Output()
	require.NoError(t, err)
	assert.Regexp(t, "^net_visualizer "+regexp.QuoteMeta(version.Version)+" \\(commit "+string(head[:7])+"(-dirty)?, go", string(out))
}
