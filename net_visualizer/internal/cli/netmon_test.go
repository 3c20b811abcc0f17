package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const netmonTrace = `# line format 2
127.0.0.1:8080→127.0.0.1:51044|pid=4012 tid=4013 uid=1000 exe=curl conn=a1-16fe9d54b7 comm=curl
127.0.0.1:51044←127.0.0.1:8080|pid=3977 tid=3977 uid=0 exe=nginx conn=b2-16fea061f7 comm=nginx
127.0.0.1:8080→127.0.0.1:51044|pid=4012 tid=4013 uid=1000 exe=curl conn=a1-16fe9d54b7 comm=curl
close 127.0.0.1:8080→127.0.0.1:51044|pid=4012 uid=1000 conn=a1-16fe9d54b7 end=local dur_us=1532 sent=78 recv=615 comm=curl
10.0.0.5:5432→10.0.0.2:40312|pid=812 tid=815 uid=33 conn=c3-16feda5db7 comm=php-fpm: pool www
`

// netmonTypes decodes NetMon events: each one's network_event type and pid.
func netmonTypes(t *testing.T, out string) []string {
	t.Helper()
	var got []string
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var ev struct {
			Process struct {
				PID int `json:"pid"`
			} `json:"process"`
			Net struct {
				Type string `json:"type"`
			} `json:"network_event"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &ev), line)
		got = append(got, ev.Net.Type+" "+strconv.Itoa(ev.Process.PID))
	}
	return got
}

func TestNetMonFormat(t *testing.T) {
	code, out, stderr := runMain(t, netmonTrace, "-format", "netmon")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, []string{"TcpConnectionEstablish 4012", "TcpConnectionAccept 3977", "TcpConnectionClose 4012",
		"TcpConnectionEstablish 812"}, netmonTypes(t, out), "the repeated connect line is written once")
	assert.Contains(t, stderr, "6 lines, 4 events, 1 repeats, 0 skipped, 0 malformed, 0 lost")
}

func TestNetMonFilter(t *testing.T) {
	code, out, stderr := runMain(t, netmonTrace, "-format", "netmon", "-pid", "4012")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, []string{"TcpConnectionEstablish 4012", "TcpConnectionClose 4012"}, netmonTypes(t, out))
	code, out, _ = runMain(t, netmonTrace, "-format", "netmon", "-filter", `closed_by == "client"`)
	require.Equal(t, 0, code)
	assert.Equal(t, []string{"TcpConnectionClose 4012"}, netmonTypes(t, out), "each line is judged by itself")
}

func TestNetMonRejectsGraphFlags(t *testing.T) {
	for _, args := range [][]string{{"-focus", "curl"}, {"-group-by", "comm"}, {"-diff", "x.trace"}, {"-every", "1s", "-o", "x"},
		{"-collapse", "/24"}} {
		code, _, stderr := runMain(t, "", append([]string{"-format", "netmon"}, args...)...)
		assert.Equal(t, 2, code, "%v", args)
		assert.Contains(t, stderr, args[0]+" shapes a graph", "%v", args)
	}
}

func TestNetMonOutputFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.json")
	code, out, stderr := runMain(t, netmonTrace, "-format", "netmon", "-o", path, "-q")
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, out)
	assert.Empty(t, stderr)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Len(t, netmonTypes(t, string(data)), 4)
}

// TestNetMonStreams: an event is written as soon as its line is read, while the input is
// still open (a live pipe from the tracer).
func TestNetMonStreams(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- Main(context.Background(), []string{"-format", "netmon", "-q"}, inR, outW, io.Discard)
		outW.Close()
	}()
	events := bufio.NewReader(outR)
	lines := strings.SplitAfter(netmonTrace, "\n")
	for i, want := range []string{"TcpConnectionEstablish 4012", "TcpConnectionAccept 3977"} {
		_, err := io.WriteString(inW, lines[i+1])
		require.NoError(t, err)
		got, err := events.ReadString('\n') // blocks until the event is written
		require.NoError(t, err)
		assert.Equal(t, []string{want}, netmonTypes(t, got))
	}
	inW.Close()
	rest, err := io.ReadAll(events)
	require.NoError(t, err)
	assert.Empty(t, rest)
	assert.Equal(t, 0, <-done)
}

// TestNetMonHostileComm: a name the tracer escaped, and one that reached the reader raw,
// stay inside one JSON line.
func TestNetMonHostileComm(t *testing.T) {
	in := "127.0.0.1:1→127.0.0.1:2|pid=1 conn=x-1 comm=\"}\\x0a{\"type\":\"x\" </script>\n" +
		"127.0.0.1:1→127.0.0.1:3|pid=2 conn=y-1 comm=a\rb\x1bc\xff\n"
	code, out, stderr := runMain(t, in, "-format", "netmon")
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 2, out)
	var ev struct {
		Process struct {
			Filename string `json:"filename"`
		} `json:"process"`
	}
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &ev))
	assert.Equal(t, "\"}\n{\"type\":\"x\" </script>", ev.Process.Filename)
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &ev))
	assert.Equal(t, "a\rb\x1bc\ufffd", ev.Process.Filename)
}

// TestNetMonInterrupt: Ctrl-C (ctx cancelled) while the input is still open ends the run
// with exit status 0, every event read until then written.
func TestNetMonInterrupt(t *testing.T) {
	inR, inW := io.Pipe()
	defer inW.Close()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"-format", "netmon", "-q"}, inR, outW, io.Discard)
		outW.Close()
	}()
	line := strings.SplitAfter(netmonTrace, "\n")[1]
	_, err := io.WriteString(inW, line)
	require.NoError(t, err)
	events := bufio.NewReader(outR)
	got, err := events.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, []string{"TcpConnectionEstablish 4012"}, netmonTypes(t, got))
	cancel()
	rest, err := io.ReadAll(events)
	require.NoError(t, err)
	assert.Empty(t, rest)
	assert.Equal(t, 0, <-done)
}
