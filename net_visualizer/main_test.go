package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// buildBinary builds this command the way seed 002 runs it: `go build main.go` in this directory.
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
	assert.Contains(t, string(errText), "2 lines, 1 connections")
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
