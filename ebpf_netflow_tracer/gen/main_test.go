package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGeneratedScriptsUpToDate regenerates the four scripts and compares them with the
// committed ones: a script edited by hand, or a template edited without regenerating, fails.
func TestGeneratedScriptsUpToDate(t *testing.T) {
	files, err := generate(keys)
	require.NoError(t, err)
	require.Len(t, files, 4)
	for _, f := range files {
		committed, err := os.ReadFile(filepath.Join("..", f.name))
		require.NoError(t, err)
		assert.True(t, string(committed) == string(f.text),
			"ebpf_netflow_tracer/%s differs from what %s generates: edit the template, not the script, and run: go generate ./ebpf_netflow_tracer",
			f.name, sourceName)
	}
}
