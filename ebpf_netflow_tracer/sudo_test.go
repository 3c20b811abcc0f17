package tracer_test

import (
	"bytes"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sudoPath is the PATH that sudo gives a command on Debian and Ubuntu (secure_path): no
// /usr/local/go/bin, where the official Go release installs.
const sudoPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// launcher runs a script of scripts/ one way: as sudo would (env -i with sudo's variables),
// or through the real sudo.
type launcher struct {
	name string
	cmd  func(root string, args ...string) *exec.Cmd
	// uid and gid that sudo names as the invoking user (SUDO_UID, SUDO_GID)
	sudoUID int
}

// TestScriptsUnderSudo: the set-up commands of the README work when sudo has dropped
// /usr/local/go/bin from PATH (and every Go variable from the environment): scripts/demo
// draws the example (as a picture owned by the user who ran sudo), scripts/test gets past
// its set-up and runs a test, scripts/netflow-lifecycle builds its writer and traces.
// Each runs both with sudo's environment made by hand (env -i) and through the real sudo.
func TestScriptsUnderSudo(t *testing.T) {
	requireBPF(t)
	root := repoRoot(t)
	for _, dir := range filepath.SplitList(sudoPath) {
		if _, err := os.Stat(filepath.Join(dir, "go")); err == nil {
			t.Logf("%s/go is on sudo's PATH: the search for Go is not exercised here", dir)
		}
	}
	me, err := user.Current()
	require.NoError(t, err)
	launchers := []launcher{{
		// What sudo leaves (env_reset), for a user "nobody" who ran sudo.
		name: "env-i",
		cmd: func(root string, args ...string) *exec.Cmd {
			env := []string{"env", "-i", "PATH=" + sudoPath, "HOME=" + me.HomeDir, "USER=" + me.Username,
				"LOGNAME=" + me.Username, "SHELL=/bin/bash", "TERM=dumb",
				"SUDO_USER=nobody", "SUDO_UID=65534", "SUDO_GID=65534", "SUDO_COMMAND=" + args[0]}
			return exec.Command(env[0], append(env[1:], args...)...)
		},
		sudoUID: 65534,
	}}
	if _, err := exec.LookPath("sudo"); err == nil {
		launchers = append(launchers, launcher{
			name: "sudo",
			cmd: func(root string, args ...string) *exec.Cmd {
				return exec.Command("sudo", append([]string{"-n"}, args...)...)
			},
			sudoUID: os.Getuid(),
		})
	} else if os.Getenv("CI") != "" || os.Getenv("NETFLOW_LIVE") == "1" {
		t.Errorf("sudo not found (apt-get install sudo): the scripts are not checked under the real sudo")
	} else {
		t.Log("sudo not found: only sudo's environment is checked, not sudo itself")
	}

	for _, l := range launchers {
		t.Run(l.name+"/demo", func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "graph.png")
			cmd := l.cmd(root, "scripts/demo", out)
			cmd.Dir = root
			b, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", b)
			png, err := os.ReadFile(out)
			require.NoError(t, err)
			assert.True(t, bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")), "a PNG")
			fi, err := os.Stat(out)
			require.NoError(t, err)
			assert.Equal(t, uint32(l.sudoUID), fi.Sys().(*syscall.Stat_t).Uid, "owned by the user who ran sudo")
		})
		t.Run(l.name+"/test", func(t *testing.T) {
			// The whole set-up (deps, Go, go vet ./...), then one quick test.
			cmd := l.cmd(root, "scripts/test", "-run", "^TestWrapperUsage$")
			cmd.Dir = root
			b, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", b)
			assert.Regexp(t, `(?m)^ok\s+netflow/ebpf_netflow_tracer\s`, string(b))
		})
		t.Run(l.name+"/netflow-lifecycle", func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cmd := l.cmd(root, "scripts/netflow-lifecycle", "-d", dir)
			cmd.Dir = root
			done, log := startWatching(t, cmd, "netflow-lifecycle", func(l string) bool { return strings.Contains(l, "probes attached") })
			// Ctrl-C, as a terminal sends it: to the whole process group.
			require.NoError(t, syscall.Kill(-cmd.Process.Pid, syscall.SIGINT))
			select {
			case <-done:
			case <-time.After(stopTimeout):
				t.Fatalf("netflow-lifecycle still running %v after SIGINT", stopTimeout)
			}
			assert.NoError(t, cmd.Wait(), "%s", log())
		})
	}
}
