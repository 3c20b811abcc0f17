package lifecycle

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"

	"netflow/net_visualizer/internal/trace"
)

// ChunkReader cuts a CSV file into blocks of whole records, so that several goroutines
// can decode one file with DecodeChunk. A block ends where encoding/csv would start
// reading its next record: at a line end outside a quoted field (a quoted Command may hold
// a newline), so that a block decodes to exactly the rows, errors and line numbers that
// reading the whole file with Reader gives. A record is never cut, however long: as with
// Reader, one record is held whole.
type ChunkReader struct {
	r     io.Reader
	size  int
	carry []byte // bytes read past the last block
	line  int    // number of the next line
	err   error
}

// NewChunkReader reads r in blocks of about size bytes.
func NewChunkReader(r io.Reader, size int) *ChunkReader {
	return &ChunkReader{r: r, size: size, line: 1}
}

// Header reads the file's first record, the header, and returns its layout and the block
// that held it (for its line count). Its errors are NewReader's.
func (c *ChunkReader) Header() (*Layout, trace.Chunk, error) {
	ch, err := c.next(nil, true)
	if err == io.EOF {
		return nil, ch, errors.New("no header: the file is empty")
	}
	if err != nil {
		return nil, ch, fmt.Errorf("header: %w", err)
	}
	head, err := newCSV(ch.Data).Read()
	if err == io.EOF {
		return nil, ch, errors.New("no header: the file is empty")
	}
	if err != nil {
		return nil, ch, fmt.Errorf("header: %w", err)
	}
	lay, err := NewLayout(head)
	return lay, ch, err
}

// Next returns the next block of whole records, reading into buf (which it may grow) when
// it can. A block is returned as soon as a read has completed a record, so that a slow
// pipe's rows are not held back. At the end it returns io.EOF.
func (c *ChunkReader) Next(buf []byte) (trace.Chunk, error) { return c.next(buf, false) }

func (c *ChunkReader) next(buf []byte, first bool) (trace.Chunk, error) {
	buf = append(buf[:0], c.carry...)
	c.carry = c.carry[:0]
	var sp splitter
	for {
		sp.scan(buf, first)
		if sp.end > 0 && !(first && sp.endBlank) {
			c.carry = append(c.carry, buf[sp.end:]...)
			return c.chunk(buf[:sp.end], sp.endLines), nil
		}
		if c.err != nil {
			if c.err != io.EOF {
				return trace.Chunk{}, c.err
			}
			if len(buf) == 0 {
				return trace.Chunk{}, io.EOF
			}
			// The rest: a last line without its newline, or a quoted field never closed.
			n := bytes.Count(buf, []byte{'\n'})
			if buf[len(buf)-1] != '\n' {
				n++
			}
			return c.chunk(buf, n), nil
		}
		if cap(buf)-len(buf) < max(c.size/2, 1) {
			grown := make([]byte, len(buf), max(2*cap(buf), len(buf)+c.size))
			copy(grown, buf)
			buf = grown
		}
		n, err := c.r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			c.err = err
		}
	}
}

func (c *ChunkReader) chunk(data []byte, lines int) trace.Chunk {
	ch := trace.Chunk{Data: data, Line: c.line, Lines: lines}
	c.line += lines
	return ch
}

// splitter finds where whole records end in a buffer that grows between its calls.
type splitter struct {
	off      int  // buf[:off] is scanned, whole lines
	inQuote  bool // at off, inside a quoted field
	blank    bool // buf[:off] holds only empty lines (a header is looked for past them)
	end      int  // buf[:end] is whole records
	endBlank bool // buf[:end] holds only empty lines
	lines    int  // lines in buf[:off]
	endLines int  // lines in buf[:end]
}

var newline = []byte{'\n'}

// scan goes on from where it stopped. With first it stops at the first record that is not
// an empty line (encoding/csv skips those).
func (s *splitter) scan(buf []byte, first bool) {
	if s.off == 0 {
		s.blank = true
	}
	for s.off < len(buf) {
		if !s.inQuote && !first {
			// The fast path: lines without a quote are whole records.
			rest := buf[s.off:]
			if q := bytes.IndexByte(rest, '"'); q >= 0 {
				rest = rest[:q]
			}
			if last := bytes.LastIndexByte(rest, '\n'); last >= 0 {
				s.lines += bytes.Count(rest[:last+1], newline)
				s.off += last + 1
				s.end, s.endLines = s.off, s.lines
				continue
			}
		}
		nl := bytes.IndexByte(buf[s.off:], '\n')
		if nl < 0 {
			return
		}
		line := buf[s.off : s.off+nl]
		line = bytes.TrimSuffix(line, []byte{'\r'}) // encoding/csv reads "\r\n" as "\n"
		wasBlank := !s.inQuote && len(line) == 0
		if s.inQuote || bytes.IndexByte(line, '"') >= 0 {
			s.inQuote = quoteOpenAfter(line, s.inQuote)
		}
		s.off += nl + 1
		s.lines++
		s.blank = s.blank && wasBlank
		if !s.inQuote {
			s.end, s.endLines, s.endBlank = s.off, s.lines, s.blank
			if first && !s.blank {
				return
			}
		}
	}
}

// quoteOpenAfter says whether a line (without its newline) leaves a record open inside a
// quoted field, following encoding/csv's reading of a record (Comma ',', no LazyQuotes):
// a quote opens a field only at its start; in a quoted field "" is a quote, and a quote
// followed by anything but a comma or the line's end is an error that ends the record with
// its line, as does a quote in a field that does not start with one. inQuote: the line
// begins inside a quoted field.
func quoteOpenAfter(line []byte, inQuote bool) bool {
	i := 0
	for {
		if !inQuote {
			// At the start of a field.
			if i == len(line) {
				return false
			}
			if line[i] != '"' {
				field := line[i:]
				comma := bytes.IndexByte(field, ',')
				if comma >= 0 {
					field = field[:comma]
				}
				if comma < 0 || bytes.IndexByte(field, '"') >= 0 {
					return false // the last field, or a bare quote: the record ends here
				}
				i += comma + 1
				continue
			}
			i++
			inQuote = true
		}
		q := bytes.IndexByte(line[i:], '"')
		if q < 0 {
			return true // the field goes on in the next line
		}
		i += q + 1
		switch {
		case i < len(line) && line[i] == '"':
			i++ // an escaped quote
		case i < len(line) && line[i] == ',':
			i++
			inQuote = false
		default:
			return false // the record's end, or a quote out of place that ends it
		}
	}
}

func newCSV(data []byte) *csv.Reader {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	return cr
}

// DecodeChunk decodes a block of whole records from a ChunkReader (ch.Line its first
// line's number) into rows, reusing rows' storage, and returns them: the rows that are a
// connection, an error, or something the socket table must know, in file order, for
// Sockets.Join. Rows of no interest (BIND, LISTEN, ...) are left out.
func (l *Layout) DecodeChunk(ch trace.Chunk, rows []Row) []Row {
	rows = rows[:0]
	cr := newCSV(ch.Data)
	off := ch.Line - 1
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return rows
		}
		rows = grow(rows)
		row := &rows[len(rows)-1]
		if err != nil {
			// Only a *csv.ParseError: the block is in memory.
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line, err = pe.StartLine, pe.Err
			}
			*row = Row{Line: line + off, Err: err, Event: trace.Event{Attrs: row.Event.Attrs[:0]}}
			continue
		}
		line, _ := cr.FieldPos(0)
		l.Decode(rec, line+off, row)
		if row.Err == nil && !row.ok && !row.forget {
			rows = rows[:len(rows)-1]
		}
	}
}

// grow adds a row to rows, keeping the Attrs storage of one used before.
func grow(rows []Row) []Row {
	if len(rows) < cap(rows) {
		return rows[:len(rows)+1]
	}
	return append(rows, Row{})
}
