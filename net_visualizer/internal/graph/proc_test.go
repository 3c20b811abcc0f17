package graph

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netflow/net_visualizer/internal/trace"
)

// The newest proc line of a process is its node's Proc; grouped nodes have none.
func TestNodeProcIsTheNewest(t *testing.T) {
	var p trace.Parser
	b := New()
	for _, line := range []string{
		"proc pid=7 ppid=1 exe_path=/old args=old",
		"proc pid=7 ppid=2 exe_path=/usr/bin/curl args=curl -s",
		"proc pid=7 host=other ppid=3 args=elsewhere",
		"127.0.0.1:80→127.0.0.1:4000|pid=7 comm=curl",
		"127.0.0.1:4000←127.0.0.1:80|pid=8 comm=srv",
	} {
		var ev trace.Event
		kind, err := p.Parse([]byte(line), &ev)
		require.NoError(t, err, line)
		if kind == trace.ProcLine {
			b.AddProc(&ev)
		} else {
			b.Add(&ev)
		}
	}
	g := b.Graph()
	procs := map[uint32]*trace.Proc{}
	for _, n := range g.Nodes {
		if n.Kind == Process {
			procs[n.PID] = n.Proc
		}
	}
	require.Contains(t, procs, uint32(7))
	require.NotNil(t, procs[7])
	assert.Equal(t, uint32(2), procs[7].PPID)
	assert.Equal(t, []string{"curl", "-s"}, procs[7].Args)
	assert.Nil(t, procs[8])
}
