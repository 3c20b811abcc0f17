package trace

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chunkLines reads everything through a ChunkReader and returns what LineReader would.
func chunkLines(t *testing.T, r io.Reader, size int) []readResult {
	t.Helper()
	cr := NewChunkReader(r, size)
	var out []readResult
	var buf []byte
	for {
		ch, err := cr.Next(buf)
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		if ch.TooLong > 0 {
			out = append(out, readResult{"", ch.Line, ch.TooLong})
			continue
		}
		data := ch.Data
		n := ch.Line
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				out = append(out, readResult{string(data), n, 0})
				n++
				break
			}
			out = append(out, readResult{string(data[:i]), n, 0})
			n++
			data = data[i+1:]
		}
		assert.Equal(t, ch.Line+ch.Lines, n, "Lines counts the lines in Data")
	}
}

// TestChunkReaderAgreesWithLineReader: same lines, same numbers, same long-line verdicts, for
// any block size and reads of any length.
func TestChunkReaderAgreesWithLineReader(t *testing.T) {
	big := strings.Repeat("x", 3<<20)
	huge := strings.Repeat("y", MaxLine+100)
	inputs := []string{
		"", "a", "a\n", "a\nb", "a\r\nb\r\n", "\n\n\n",
		"a\n" + big + "\nb\n", big,
		"a\n" + huge + "\nb\n", huge, huge + "\n",
		strings.Repeat("127.0.0.1:80→127.0.0.1:4000|pid=1 comm=a\n", 1000),
	}
	for i, in := range inputs {
		want := readLines(t, strings.NewReader(in))
		for _, size := range []int{1, 7, 4096, 256 << 10} {
			for _, r := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in)), iotest.HalfReader(strings.NewReader(in))} {
				if len(in) > 1<<20 && size < 4096 {
					continue // byte-at-a-time over megabytes is only slow, not different
				}
				got := chunkLines(t, r, size)
				require.Equal(t, len(want), len(got), "input %d size %d", i, size)
				for j := range got {
					assert.Equal(t, want[j].num, got[j].num)
					assert.Equal(t, want[j].tooLong, got[j].tooLong)
					assert.True(t, want[j].line == got[j].line, "input %d size %d line %d", i, size, j)
				}
			}
		}
	}
}
