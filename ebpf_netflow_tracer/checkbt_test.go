package tracer_test

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestScriptsCompile runs scripts/check-bt: every .bt in the repository must
// compile to BPF (bpftrace --emit-elf), kprobe scripts included, even on a
// kernel without kprobes.
func TestScriptsCompile(t *testing.T) {
	requireBPF(t)
	root := repoRoot(t)
	bts, err := filepath.Glob(filepath.Join(root, "ebpf_netflow_tracer", "*.bt"))
	require.NoError(t, err)
	require.NotEmpty(t, bts, "no .bt scripts found")

	cmd := exec.Command(filepath.Join(root, "scripts", "check-bt"))
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	t.Logf("scripts/check-bt:\n%s", out)
	require.NoError(t, err, "scripts/check-bt failed")
	for _, bt := range bts {
		rel, err := filepath.Rel(root, bt)
		require.NoError(t, err)
		assert.Contains(t, string(out), "ok    "+rel)
	}
}
