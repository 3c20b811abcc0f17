package trace

import (
	"bytes"
	"io"
)

// Chunk is a block of whole lines from a ChunkReader, or one line too long to keep.
type Chunk struct {
	Data    []byte // whole lines; the last one may lack its "\n" at the end of the input
	Line    int    // the number of the first line in Data (or of the long line)
	Lines   int    // how many lines Data holds
	TooLong int    // > 0: Data is empty and line Line was this many bytes, over MaxLine
	Head    []byte // with TooLong: the line's first bytes, at most 40, for its message
}

// headOf copies the first bytes of a line too long to keep.
func headOf(b []byte) []byte { return append([]byte(nil), b[:min(len(b), 40)]...) }

// ChunkReader cuts a stream into blocks of whole lines, so that several goroutines can parse
// one stream. Like LineReader it never buffers more than MaxLine of a single line.
type ChunkReader struct {
	r     io.Reader
	size  int
	carry []byte // the start of a line whose end has not been read yet
	line  int    // number of the next line
	err   error
}

// NewChunkReader reads r in blocks of about size bytes.
func NewChunkReader(r io.Reader, size int) *ChunkReader {
	return &ChunkReader{r: r, size: size, line: 1}
}

// Next returns the next chunk, reading into buf (which it may grow) when it can. A chunk is
// returned as soon as a read has completed a line, so a slow pipe's lines are not held back.
// At the end it returns io.EOF.
func (c *ChunkReader) Next(buf []byte) (Chunk, error) {
	buf = append(buf[:0], c.carry...)
	c.carry = c.carry[:0]
	from := 0 // buf[:from] is known to hold no newline: never scan it twice
	for {
		if c.err != nil {
			if len(buf) == 0 {
				return Chunk{}, c.err
			}
			if c.err != io.EOF {
				return Chunk{}, c.err
			}
			// The last line, without a newline.
			ch := Chunk{Data: buf, Line: c.line, Lines: 1}
			c.line++
			return ch, nil
		}
		if last := bytes.LastIndexByte(buf[from:], '\n'); last >= 0 {
			last += from
			// Only the first line can be over the limit: buf grew only while it had no newline.
			if first := from + bytes.IndexByte(buf[from:], '\n'); first > MaxLine {
				c.carry = append(c.carry, buf[first+1:]...)
				ch := Chunk{Line: c.line, Lines: 1, TooLong: first, Head: headOf(buf)}
				c.line++
				return ch, nil
			}
			c.carry = append(c.carry, buf[last+1:]...)
			data := buf[:last+1]
			n := bytes.Count(data, []byte{'\n'})
			ch := Chunk{Data: data, Line: c.line, Lines: n}
			c.line += n
			return ch, nil
		}
		if len(buf) > MaxLine {
			return c.skipLong(len(buf), headOf(buf))
		}
		if cap(buf)-len(buf) < max(c.size/2, 1) {
			grown := make([]byte, len(buf), max(2*cap(buf), len(buf)+c.size))
			copy(grown, buf)
			buf = grown
		}
		from = len(buf)
		n, err := c.r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			c.err = err
		}
	}
}

// skipLong reads and drops the rest of a line that is over MaxLine, keeping what follows it.
func (c *ChunkReader) skipLong(seen int, head []byte) (Chunk, error) {
	total := seen
	scratch := make([]byte, 64<<10)
	for {
		n, err := c.r.Read(scratch)
		if i := bytes.IndexByte(scratch[:n], '\n'); i >= 0 {
			total += i
			c.carry = append(c.carry[:0], scratch[i+1:n]...)
			if err != nil {
				c.err = err
			}
			break
		}
		total += n
		if err != nil {
			c.err = err
			break
		}
	}
	ch := Chunk{Line: c.line, Lines: 1, TooLong: total, Head: head}
	c.line++
	return ch, nil
}
