package tracer_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

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
