package render

import (
	"bytes"
	"context"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netflow/net_visualizer/internal/graph"
)

// TestText: the tracers write every byte of a name that is not printable ASCII as \xNN;
// Text shows the escapes that spell printable UTF-8 as text and keeps every other byte
// escaped, so that nothing can break a label, a line or the reading order.
func TestText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"ascii", "nginx: worker process", "nginx: worker process"},
		{"escaped utf-8", `caf\xc3\xa9\xe2\x86\x92\xe2\x98\x83`, "café→☃"},
		{"upper-case hex", `caf\xC3\xA9`, "café"},
		{"raw utf-8", "café→☃", "café→☃"},
		{"every byte escaped (exe with a space)", `\x6d\x79\x20\x61\x70\x70`, "my app"},
		{"escaped backslash", `\x61\x5c\x62`, `a\b`},
		{"invalid byte stays escaped", `bad\xffutf8`, `bad\xffutf8`},
		{"raw invalid byte is escaped", "bad\xffutf8", `bad\xffutf8`},
		{"truncated sequence stays escaped", `caf\xc3`, `caf\xc3`},
		{"valid then invalid", `\xc3\xa9\xc3`, `é\xc3`},
		{"escaped newline stays escaped", `a\x0ab`, `a\x0ab`},
		{"raw newline and tab are escaped", "a\nb\tc", `a\x0ab\x09c`},
		{"nul stays escaped", `a\x00b`, `a\x00b`},
		{"escaped bidi override stays escaped", `abc\xe2\x80\xaetxt.exe`, `abc\xe2\x80\xaetxt.exe`},
		{"raw bidi override is escaped", "abc\u202etxt", `abc\xe2\x80\xaetxt`},
		{"isolates and zero-width stay escaped", `\xe2\x81\xa6\xe2\x80\x8b`, `\xe2\x81\xa6\xe2\x80\x8b`},
		{"line separator stays escaped", `a\xe2\x80\xa8b`, `a\xe2\x80\xa8b`},
		{"not an escape", `\x4`, `\x4`},
		{"not hex", `\xzz\x`, `\xzz\x`},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Text(tt.in)
			assert.Equal(t, tt.want, got)
			assert.True(t, utf8.ValidString(got))
			assert.NotContains(t, got, "\n")
		})
	}
}

// FuzzText: whatever the name, what Text shows is valid UTF-8 of printable characters only.
// (Text is not idempotent, and need not be: `\x5cx41` shows as `\x41`, which read again as a
// name would show as "A"; the tracers' escapes cannot be told from literal text.)
func FuzzText(f *testing.F) {
	for _, s := range []string{`caf\xc3\xa9`, "a\nb", `\xe2\x80\xae`, "\xff", `\x`, `\\x41`, `\x5cx41`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Text(s)
		require.True(t, utf8.ValidString(got))
		for _, r := range got {
			require.True(t, r >= ' ' && r != 0x7f && r != 0x202e && r != 0x2028, "%q shows %U", s, r)
		}
	})
}

// TestLabelsFitAnExecutableName: an exe= is at most 63 bytes and must not be cut; a longer
// label is cut, never inside a \xNN escape.
func TestLabelsFitAnExecutableName(t *testing.T) {
	exe := strings.Repeat("x", 50) + "-café-server" // 63 bytes, 62 characters
	assert.Equal(t, exe, labelText(exe))
	var escaped strings.Builder
	for i := 0; i < 63; i++ {
		escaped.WriteString(`\x01`)
	}
	got := labelText("ab" + escaped.String())
	assert.True(t, strings.HasSuffix(got, "…"))
	assert.Regexp(t, `^ab(\\x01)+…$`, got, "cut between escapes, not inside one")
}

func processGraph(comm string) *graph.Graph {
	return graph.Finish([]graph.Node{
		{Kind: graph.Process, PID: 7, Comm: comm},
		{Kind: graph.External, Addr: netip.MustParseAddrPort("203.0.113.1:443"), Port: true, Label: comm + " ext"},
	}, []graph.Edge{{From: 0, To: 1, Connections: 1, Ports: []uint16{443}}})
}

// TestDOTShowsNamesAsText: the DOT labels show a name's UTF-8 as text.
func TestDOTShowsNamesAsText(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, DOT(&b, processGraph(`caf\xc3\xa9\xe2\x86\x92\xe2\x98\x83`)))
	assert.Contains(t, b.String(), `label="café→☃\npid 7"`)
	b.Reset()
	require.NoError(t, JSON(&b, processGraph(`caf\xc3\xa9`)))
	assert.Contains(t, b.String(), `"comm": "café"`)
	b.Reset()
	require.NoError(t, Mermaid(&b, processGraph(`caf\xc3\xa9`)))
	assert.Contains(t, b.String(), `café · pid 7`)
}

// TestGraphvizDrawsAmpersandsLiterally: Graphviz reads HTML entities in every label, so a
// process named "&amp;" would be drawn as "&". Its SVG must show the text "&amp;", which SVG
// writes &amp;amp;.
func TestGraphvizDrawsAmpersandsLiterally(t *testing.T) {
	if _, err := exec.LookPath("dot"); err != nil {
		t.Skip("Graphviz's dot is not installed")
	}
	var svg bytes.Buffer
	require.NoError(t, Image(context.Background(), &svg, processGraph("&amp;&lt;&#38;"), "svg"))
	assert.Contains(t, svg.String(), ">&amp;amp;&amp;lt;&amp;#38;</text>")
	assert.Contains(t, svg.String(), ">&amp;amp;&amp;lt;&amp;#38; ext</text>", "labels of externals (-names) too")

	var js bytes.Buffer
	require.NoError(t, JSON(&js, processGraph("&amp;")))
	assert.Contains(t, js.String(), `"comm": "\u0026amp;"`, "JSON keeps the raw text")
}

// TestImageStopsWithItsContext: cancelling the context kills Graphviz.
func TestImageStopsWithItsContext(t *testing.T) {
	if _, err := exec.LookPath("dot"); err != nil {
		t.Skip("Graphviz's dot is not installed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Image(ctx, &bytes.Buffer{}, processGraph("a"), "svg")
	assert.ErrorIs(t, err, context.Canceled)
}
