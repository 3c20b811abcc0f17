package trace

import (
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type readResult struct {
	line    string
	num     int
	tooLong int
}

func readLines(t *testing.T, r io.Reader) []readResult {
	t.Helper()
	lr := NewLineReader(r)
	var out []readResult
	for {
		line, n, tooLong, err := lr.Next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		out = append(out, readResult{string(line), n, tooLong})
	}
}

func TestLineReader(t *testing.T) {
	big := strings.Repeat("x", 3<<20)        // 3 MiB: over bufio's default limits, under MaxLine
	huge := strings.Repeat("y", MaxLine+100) // over MaxLine: skipped, not buffered
	tests := []struct {
		name string
		in   string
		want []readResult
	}{
		{"empty input", "", nil},
		{"last line without newline", "a\nb", []readResult{{"a", 1, 0}, {"b", 2, 0}}},
		{"CRLF kept for the parser", "a\r\nb\r\n", []readResult{{"a\r", 1, 0}, {"b\r", 2, 0}}},
		{"3 MiB line read whole", "a\n" + big + "\nb\n", []readResult{{"a", 1, 0}, {big, 2, 0}, {"b", 3, 0}}},
		{"3 MiB last line without newline", big, []readResult{{big, 1, 0}}},
		{"line over the limit skipped", "a\n" + huge + "\nb\n", []readResult{{"a", 1, 0}, {"", 2, len(huge)}, {"b", 3, 0}}},
		{"NUL bytes pass through", "a\x00b\n", []readResult{{"a\x00b", 1, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readLines(t, strings.NewReader(tt.in))
			require.Equal(t, len(tt.want), len(got))
			for i := range got {
				assert.Equal(t, tt.want[i].num, got[i].num)
				assert.Equal(t, tt.want[i].tooLong, got[i].tooLong)
				assert.True(t, tt.want[i].line == got[i].line, "line %d: got %d bytes, want %d", i, len(got[i].line), len(tt.want[i].line))
			}
		})
	}
}
