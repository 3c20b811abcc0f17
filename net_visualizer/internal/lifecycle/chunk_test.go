package lifecycle

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dumpChunked reads files the way the visualizer's pipeline does: cut into blocks of
// about size bytes, each block decoded on its own, the rows joined in order through one
// socket table; the result is written as dump writes Reader's. It also checks that the
// blocks' line counts add up to the file's lines.
func dumpChunked(t *testing.T, size int, slow bool, files ...[]byte) string {
	t.Helper()
	var b bytes.Buffer
	socks := NewSockets()
	var rows []Row
	for _, in := range files {
		var r io.Reader = bytes.NewReader(in)
		if slow {
			r = iotest.HalfReader(r) // reads that end anywhere, a record's middle included
		}
		cr := NewChunkReader(r, size)
		lay, head, err := cr.Header()
		if err != nil {
			fmt.Fprintf(&b, "header error: %v\n", err)
			continue
		}
		fmt.Fprintf(&b, "format %v\n", lay.Format())
		lines := head.Lines
		for {
			ch, err := cr.Next(nil)
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			require.Equal(t, lines+1, ch.Line, "blocks are numbered on from the last one")
			lines += ch.Lines
			rows = lay.DecodeChunk(ch, rows)
			for i := range rows {
				row := &rows[i]
				ok := socks.Join(row)
				if row.Err != nil {
					fmt.Fprintf(&b, "row error: %v\n", &RowError{Line: row.Line, Err: row.Err})
				}
				if ok {
					b.Write(row.Event.AppendLine(nil))
					b.WriteByte('\n')
				}
			}
		}
		n := bytes.Count(in, []byte{'\n'})
		if len(in) > 0 && in[len(in)-1] != '\n' {
			n++
		}
		assert.Equal(t, n, lines, "lines counted")
	}
	return b.String()
}

// dumpAll is dump over several files sharing one socket table.
func dumpAll(files ...[]byte) string {
	var b bytes.Buffer
	socks := NewSockets()
	for _, in := range files {
		b.WriteString(dumpWith(bytes.NewReader(in), socks))
	}
	return b.String()
}

// tricky holds rows that test where a record ends: quoted commas, quotes and newlines in
// Command, CRLF, empty lines, bad quotes (an error that ends the record with its line), a
// field count that is wrong, and a socket whose rows are far apart.
var tricky = csvHead +
	row("SOCKET_CREATE", 1, "a", "", "", "", "", 3, 0) +
	row("CONNECT", 1, `"multi`+"\n"+`line, ""quoted"""`, lo, lo, "40000", "80", 3, -115) +
	"\n" + // an empty line: skipped, counted
	row("ACCEPT", 2, `"srv"`, lo, lo, "80", "40000", 5, 0) +
	strings.TrimSuffix(row("CONNECT", 1, "a", lo, lo, "40000", "80", 3, 0), "\n") + "\r\n" +
	row("CONNECT", 3, `bare"quote`, lo, lo, "40002", "81", 3, 0) +
	row("CONNECT", 3, `"bad"quote`, lo, lo, "40002", "81", 3, 0) +
	row("CONNECT", 3, `"ok"`, lo, lo, "40002", "81", 3, 0) +
	"1,CONNECT,2\n" +
	row("CONNECT", 4, "\"\"\"\n\n\"\"\n,\"", lo, lo, "40004", "82", 3, -115) +
	row("CLOSE", 4, "x", lo, lo, "40004", "82", 3, 0) +
	row("CONNECT", 4, "x", lo, lo, "", "82", 3, -111) +
	row("CONNECT", 5, "x", "zz", lo, "1", "82", 3, 0)

const (
	csvHead = "Timestamp,Event Type,PID,TID,Command,Domain,Socket Type,Protocol,IP Version,Local Address,Remote Address,Local Port,Remote Port,File Descriptor,Backlog,Latency,Return Value\n"
	lo      = "127.0.0.1"
)

func row(ev string, pid int, comm, laddr, raddr, lport, rport string, fd int, ret int) string {
	return fmt.Sprintf("2026-12-01 21:36:10.346610,%s,%d,%d,%s,AF_INET,SOCK_STREAM,TCP,4,%s,%s,%s,%s,%d,,1000,%d\n",
		ev, pid, pid, comm, laddr, raddr, lport, rport, fd, ret)
}

// TestChunksMatchReader: cut into blocks of any size, down to one byte, and read in
// reads that stop anywhere, a file decodes to what Reader reads from it: the same events in
// the same order, the same row errors with the same line numbers, the same header errors;
// and the files of one capture share the socket table across their blocks.
func TestChunksMatchReader(t *testing.T) {
	inputs := map[string][][]byte{"tricky": {[]byte(tricky)}}
	files, err := filepath.Glob("testdata/*.csv")
	require.NoError(t, err)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		inputs[filepath.Base(f)] = [][]byte{b}
	}
	// A socket whose connect is under way in one file and done in the next.
	inputs["two files"] = [][]byte{
		[]byte(csvHead + row("CONNECT", 1, "c", lo, lo, "40000", "80", 3, -115) + row("ACCEPT", 2, "s", lo, lo, "80", "40000", 5, 0)),
		[]byte(csvHead + row("CONNECT", 1, "c", lo, lo, "40000", "80", 3, 0) + row("CONNECT", 1, "c", lo, lo, "40000", "80", 3, -106)),
	}
	inputs["no newline at the end"] = [][]byte{[]byte(strings.TrimSuffix(tricky, "\n"))}
	inputs["quote never closed"] = [][]byte{[]byte(tricky + `1,CONNECT,1,1,"open` + "\n" + row("CONNECT", 6, "y", lo, lo, "1", "2", 3, 0))}
	inputs["blank lines before the header"] = [][]byte{[]byte("\n\r\n" + tricky)}
	inputs["only blank lines"] = [][]byte{[]byte("\n\n")}
	inputs["quoted header over two lines"] = [][]byte{[]byte(strings.Replace(tricky, "Command", "\"Com\nmand\"", 1))}
	for name, files := range inputs {
		want := dumpAll(files...)
		require.NotEmpty(t, want)
		for _, size := range []int{1, 2, 7, 64, 300, 1 << 20} {
			for _, slow := range []bool{false, true} {
				assert.Equal(t, want, dumpChunked(t, size, slow, files...), "%s, blocks of %d bytes, slow reads %v", name, size, slow)
			}
		}
	}
	// The test means something: tricky has events, row errors and a joined socket.
	want := dumpAll([]byte(tricky))
	assert.Contains(t, want, "row error: line 8: bare")
	assert.Contains(t, want, "row error: line 9: extraneous")
	assert.Contains(t, want, "row error: line 11: 3 fields")
	assert.Contains(t, want, "row error: line 18: Local Address")
	assert.Equal(t, 1, strings.Count(want, "→127.0.0.1:40000|pid=1 "), "the second CONNECT of socket (1, 3) is no connection:\n%s", want)
}

// TestQuoteOpenAfter: where encoding/csv's records end, line by line.
func TestQuoteOpenAfter(t *testing.T) {
	for _, tc := range []struct {
		line    string
		inQuote bool
		open    bool
	}{
		{`a,b,c`, false, false},
		{`a,"b`, false, true},
		{`a,"b,c""`, false, true},
		{`a,"b""",c`, false, false},
		{`a,"b"x,c`, false, false}, // a quote out of place: an error that ends the record
		{`a,b"c,"d`, false, false}, // a bare quote: the same
		{`a,"b`, true, false},      // the line begins in a field: `a,` closes at the quote
		{`rest of it`, true, true},
		{`""`, true, true}, // an escaped quote, still inside
		{`",x`, true, false},
		{`",x,"`, true, true},
		{``, false, false},
		{``, true, true},
	} {
		assert.Equal(t, tc.open, quoteOpenAfter([]byte(tc.line), tc.inQuote), "%q, in a quote %v", tc.line, tc.inQuote)
	}
}

// FuzzChunks: for any file, blocks decode to what Reader reads.
func FuzzChunks(f *testing.F) {
	f.Add([]byte(tricky), 7)
	files, _ := filepath.Glob("testdata/*.csv")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b, 13)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, size int) {
		size = 1 + abs(size)%512
		if got, want := dumpChunked(t, size, true, in), dumpAll(in); got != want {
			t.Fatalf("blocks of %d bytes:\n%s\nReader:\n%s", size, got, want)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
