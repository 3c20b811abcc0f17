package tracer_test

import (
	"bytes"
	"encoding/json"
	"image/png"
	"net"
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

// readmeLivePipelines returns the live pipelines of README.md, as written: the lines of its
// code blocks that start with "sudo scripts/netflow-trace |".
func readmeLivePipelines(t *testing.T, root string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	seen := map[string]bool{}
	var lines []string
	fenced := false
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "```") {
			fenced = !fenced
			continue
		}
		code, ok := strings.CutPrefix(l, "    ")
		if fenced {
			code, ok = l, true
		}
		code = strings.TrimSpace(code)
		key := code // the same command, with or without a comment
		if i := strings.Index(code, " #"); i >= 0 {
			key = strings.TrimSpace(code[:i])
		}
		if ok && strings.HasPrefix(code, "sudo scripts/netflow-trace |") && !seen[key] {
			seen[key] = true
			lines = append(lines, code)
		}
	}
	return lines
}

// TestLiveReadmePipelines runs each live pipeline of README.md as written, in bash, with
// net_visualizer the binary `go install ./net_visualizer` makes and the real sudo; makes
// loopback connections; then stops it as a terminal's Ctrl-C does, with SIGINT to the whole
// process group. Every command of the pipeline must exit 0 and graph.png must be a picture
// of a graph, larger than the picture of an empty one; a -format netmon pipeline instead
// writes one TcpConnectionEstablish event per connect.
func TestLiveReadmePipelines(t *testing.T) {
	requireBPF(t)
	if _, err := exec.LookPath("sudo"); err != nil {
		if os.Getenv("CI") != "" || os.Getenv("NETFLOW_LIVE") == "1" {
			t.Fatal("sudo not found (apt-get install sudo): the README's pipelines start with it")
		}
		t.Skip("sudo not found")
	}
	root := repoRoot(t)
	pipelines := readmeLivePipelines(t, root)
	require.NotEmpty(t, pipelines, "README.md shows no live pipeline")

	bin := t.TempDir()
	buildProgram(t, root, "./net_visualizer", filepath.Join(bin, "net_visualizer"))
	env := append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	// The picture of an empty graph, to compare with.
	empty := filepath.Join(t.TempDir(), "empty.png")
	render := exec.Command(filepath.Join(bin, "net_visualizer"), "-q", "-format", "png", "-o", empty)
	render.Stdin = strings.NewReader("")
	out, err := render.CombinedOutput()
	require.NoError(t, err, "%s", out)
	emptyConfig := pngConfig(t, empty)

	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	for _, line := range pipelines {
		t.Run(line, func(t *testing.T) {
			t.Logf("$ %s", line)
			// The README's commands run from the root of a clone: here a directory that
			// links to everything at the repository's root, so that graph.png is written
			// under the test's own directory.
			dir := t.TempDir()
			entries, err := os.ReadDir(root)
			require.NoError(t, err)
			for _, e := range entries {
				if e.Name() != "graph.png" {
					require.NoError(t, os.Symlink(filepath.Join(root, e.Name()), filepath.Join(dir, e.Name())))
				}
			}
			cmd := exec.Command("bash", "-o", "pipefail", "-c", line)
			cmd.Dir = dir
			cmd.Env = env
			var stdout strings.Builder
			cmd.Stdout = &stdout
			done, log := startWatching(t, cmd, "the pipeline", func(l string) bool { return strings.HasPrefix(l, "tracing TCP") })
			for i := 0; i < 5; i++ {
				c, err := net.Dial("tcp4", ln.Addr().String())
				require.NoError(t, err)
				c.Close()
			}
			// A line reaches the visualizer within about a second (scripts/netflow-trace
			// --help); what it has not read at Ctrl-C is not drawn.
			time.Sleep(3 * time.Second)
			require.NoError(t, syscall.Kill(-cmd.Process.Pid, syscall.SIGINT))
			select {
			case <-done:
			case <-time.After(stopTimeout):
				t.Fatalf("the pipeline still runs %v after Ctrl-C:\n%s", stopTimeout, log())
			}
			require.NoError(t, cmd.Wait(), "every command of the pipeline exits 0 after Ctrl-C:\n%s", log())
			t.Logf("stderr:\n%s", log())

			if strings.Contains(line, "-format netmon") {
				// NetMon events on stdout, no picture: the five connects to the listener.
				port := ln.Addr().(*net.TCPAddr).Port
				established := 0
				for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
					var e netmonEvent
					require.NoError(t, json.Unmarshal([]byte(l), &e), "a NetMon event: %s", l)
					if e.Net.Type == "TcpConnectionEstablish" && int(e.Net.Dport) == port {
						established++
					}
				}
				assert.Equal(t, 5, established, "one TcpConnectionEstablish per connect:\n%s", stdout.String())
				return
			}
			graph := filepath.Join(dir, "graph.png")
			data, err := os.ReadFile(graph)
			require.NoError(t, err, "Ctrl-C must leave graph.png")
			assert.True(t, bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")), "graph.png is a PNG")
			c := pngConfig(t, graph)
			assert.Greater(t, c.Width*c.Height, emptyConfig.Width*emptyConfig.Height,
				"graph.png draws more than an empty graph (%dx%d)", emptyConfig.Width, emptyConfig.Height)
		})
	}
}

type imageSize struct{ Width, Height int }

func pngConfig(t *testing.T, path string) imageSize {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	c, err := png.DecodeConfig(f)
	require.NoError(t, err, "%s is a valid PNG", path)
	return imageSize{c.Width, c.Height}
}
