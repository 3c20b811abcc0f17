package render

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netflow/net_visualizer/internal/graph"
)

func TestHumanBytes(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1258291: "1.2 MiB",
		5 << 30: "5.0 GiB", 1<<64 - 1: "16.0 EiB"} {
		assert.Equal(t, want, HumanBytes(n), "%d", n)
	}
}

func TestHumanMicros(t *testing.T) {
	for us, want := range map[uint64]string{0: "0 µs", 85: "85 µs", 1532: "1.5 ms", 999999: "1000.0 ms", 20_000_000: "20.0 s"} {
		assert.Equal(t, want, HumanMicros(us), "%d", us)
	}
}

func lifeGraph(life *graph.Life, failed bool) *graph.Graph {
	return graph.Finish([]graph.Node{{Kind: graph.Process, PID: 1, Comm: "curl"}, {Kind: graph.Process, PID: 2, Comm: "nginx"}},
		[]graph.Edge{{From: 0, To: 1, Connections: 4, Ports: []uint16{8080}, Failed: failed, Life: life}})
}

func TestEdgeLabelOfALife(t *testing.T) {
	l := &graph.Life{BytesToServer: 12345, BytesToClient: 1258291, Retransmits: 3, Open: 1, Reconnects: 2,
		Closed: graph.Closed{Client: 1, Server: 1, Reset: 1}, ConnectUS: []uint64{85, 300}, DurUS: []uint64{1532, 20_000_000, 30}}
	g := lifeGraph(l, false)
	assert.Equal(t, ":8080 http-alt\n×4\n→ 12.1 KiB, ← 1.2 MiB\n1 closed by client, 1 by server, 1 reset, 1 open\n3 retransmits\n2 reconnects\nconnect p50 85 µs, max 300 µs\nduration p50 1.5 ms, max 20.0 s",
		EdgeLabel(&g.Edges[0], "\n"))
	// Only what is known: no bytes, one timeout.
	g = lifeGraph(&graph.Life{Closed: graph.Closed{Timeout: 4}}, false)
	assert.Equal(t, ":8080 http-alt\n×4\n4 timed out", EdgeLabel(&g.Edges[0], "\n"))
	// No Life: the label of before.
	g = lifeGraph(nil, false)
	assert.Equal(t, ":8080 http-alt\n×4", EdgeLabel(&g.Edges[0], "\n"))
}

func TestDOTOfALife(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, DOT(&out, lifeGraph(&graph.Life{BytesToServer: 100 << 20, Retransmits: 1, Closed: graph.Closed{Client: 4}}, false)))
	assert.Contains(t, out.String(), `color="#d95f02"`, "retransmits in the warning colour")
	assert.Contains(t, out.String(), `penwidth="5.0"`, "pen width from bytes")
	out.Reset()
	require.NoError(t, DOT(&out, lifeGraph(&graph.Life{Closed: graph.Closed{Client: 4}}, false)))
	assert.NotContains(t, out.String(), "#d95f02")
	assert.Contains(t, out.String(), `penwidth="1.8"`, "no bytes: the pen width of 4 connections")
}

func TestJSONOfALife(t *testing.T) {
	l := &graph.Life{BytesToServer: 12345, BytesToClient: 54321, Retransmits: 3, Open: 1, Reconnects: 2, Closes: 2,
		Closed: graph.Closed{Client: 1, Reset: 1}, ConnectUS: []uint64{85, 300}, DurUS: []uint64{30, 1532, 20_000_000}}
	var out bytes.Buffer
	require.NoError(t, JSON(&out, lifeGraph(l, false)))
	var got struct {
		Edges []map[string]any `json:"edges"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &got))
	e := got.Edges[0]
	assert.Equal(t, 12345.0, e["bytes_to_server"])
	assert.Equal(t, 54321.0, e["bytes_to_client"])
	assert.Equal(t, 3.0, e["retransmits"])
	assert.Equal(t, map[string]any{"client": 1.0, "server": 0.0, "reset": 1.0}, e["closed"], "timeout only when non-zero")
	assert.Equal(t, 1.0, e["open"])
	assert.Equal(t, 2.0, e["reconnects"])
	assert.Equal(t, map[string]any{"p50": 0.085, "max": 0.3}, e["connect_ms"])
	assert.Equal(t, map[string]any{"p50": 1.532, "max": 20000.0}, e["duration_ms"])

	l = &graph.Life{Closed: graph.Closed{Timeout: 2}, Closes: 2}
	out.Reset()
	require.NoError(t, JSON(&out, lifeGraph(l, false)))
	got.Edges = nil
	require.NoError(t, json.Unmarshal(out.Bytes(), &got))
	assert.Equal(t, map[string]any{"client": 0.0, "server": 0.0, "reset": 0.0, "timeout": 2.0}, got.Edges[0]["closed"])
	assert.NotContains(t, got.Edges[0], "connect_ms", "no latencies: absent")

	// conn= lines but no close line yet (all still open), or no close tracing at all: absent.
	for _, l := range []*graph.Life{{Open: 3}, nil} {
		out.Reset()
		require.NoError(t, JSON(&out, lifeGraph(l, false)))
		got.Edges = nil
		require.NoError(t, json.Unmarshal(out.Bytes(), &got))
		for _, k := range []string{"bytes_to_server", "bytes_to_client", "retransmits", "closed", "open", "connect_ms", "duration_ms", "reconnects"} {
			assert.NotContains(t, got.Edges[0], k, "no close line: absent")
		}
	}
}
