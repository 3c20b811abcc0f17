package version

import (
	"os"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVersionFile: the launchers read VERSION, the Go programs Version; they must agree.
func TestVersionFile(t *testing.T) {
	b, err := os.ReadFile("../../VERSION")
	require.NoError(t, err)
	assert.Equal(t, Version, strings.TrimSpace(string(b)), "VERSION and version.Version differ: change both")
	assert.Regexp(t, `^\d+\.\d+\.\d+$`, Version)
}

func TestFormat(t *testing.T) {
	vcs := func(kv ...string) *debug.BuildInfo {
		info := &debug.BuildInfo{GoVersion: "go1.26.8"}
		for i := 0; i < len(kv); i += 2 {
			info.Settings = append(info.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return info
	}
	tests := []struct {
		name string
		info *debug.BuildInfo
		want string
	}{
		{"go build in a checkout", vcs("vcs", "git", "vcs.revision", "abc1234def5678", "vcs.modified", "false"),
			"net_visualizer " + Version + " (commit abc1234, go1.26.8)"},
		{"uncommitted changes", vcs("vcs.revision", "abc1234def5678", "vcs.modified", "true"),
			"net_visualizer " + Version + " (commit abc1234-dirty, go1.26.8)"},
		{"go run: no vcs stamp", vcs("-buildmode", "exe"), "net_visualizer " + Version + " (commit unknown, go1.26.8)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, format("net_visualizer", tt.info))
		})
	}
	assert.Regexp(t, `^x `+Version+` \(commit unknown, go\S+\)$`, format("x", nil))
}
