package trace

import (
	"bufio"
	"errors"
	"io"
)

// MaxLine is the longest line Reader returns whole. Longer lines are consumed and
// reported as too long, never buffered: a run survives any junk in its input.
const MaxLine = 4 << 20

// LineReader yields the lines of a stream, however long, with their numbers.
type LineReader struct {
	r    *bufio.Reader
	long []byte // holds a line that did not fit in r's buffer
	n    int
}

// NewLineReader reads lines from r.
func NewLineReader(r io.Reader) *LineReader {
	return &LineReader{r: bufio.NewReaderSize(r, 256<<10)}
}

// Next returns the next line without its "\n" and its 1-based number. The slice is valid until
// the next call. For a line longer than MaxLine it returns a nil line and the line's full
// length in tooLong. At the end of the input it returns io.EOF; a last line without a newline is
// returned first.
func (lr *LineReader) Next() (line []byte, num int, tooLong int, err error) {
	frag, err := lr.r.ReadSlice('\n')
	if err == nil {
		lr.n++
		return frag[:len(frag)-1], lr.n, 0, nil
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		if len(frag) > 0 && err == io.EOF {
			lr.n++
			return frag, lr.n, 0, nil
		}
		return nil, lr.n, 0, err
	}
	// A long line: gather it, up to MaxLine, then count and drop the rest.
	lr.long = append(lr.long[:0], frag...)
	total := len(frag)
	for {
		frag, err = lr.r.ReadSlice('\n')
		total += len(frag)
		if total <= MaxLine+1 {
			lr.long = append(lr.long, frag...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && err != io.EOF {
			return nil, lr.n, 0, err
		}
		lr.n++
		if err == nil {
			total-- // the newline
		}
		if total > MaxLine {
			lr.long = lr.long[:0]
			return nil, lr.n, total, nil
		}
		line = lr.long
		if err == nil {
			line = line[:len(line)-1]
		}
		if cap(lr.long) > 1<<20 {
			lr.long = nil // keep a rare huge line from pinning memory
		}
		return line, lr.n, 0, nil
	}
}

// Buffered reports how many bytes can be read without waiting for the underlying reader.
func (lr *LineReader) Buffered() int { return lr.r.Buffered() }
