package render

import (
	"bufio"
	"slices"
	"strconv"
)

// dotWriter writes DOT as the graph is walked: no second copy of the graph in memory, which
// for a million edges cost more than the graph itself (an object with an attribute map per
// node and per edge). Its output is byte for byte what github.com/emicklei/dot wrote for the
// same graph before (TestDOTMatchesEmicklei checks it on random graphs): a tab per level,
// attributes sorted by name with %q-quoted values, nodes named n1, n2, ... and every
// cluster a subgraph "cluster_sK".
type dotWriter struct {
	w     *bufio.Writer
	level int
	buf   []byte
	attrs []attr
}

type attr struct{ key, value string }

// newline ends a line and indents the next one.
func (d *dotWriter) newline() {
	d.w.WriteByte('\n')
	for i := 0; i < d.level; i++ {
		d.w.WriteByte('\t')
	}
}

// open writes "HEAD {" and starts the indented body.
func (d *dotWriter) open(head string) {
	d.w.WriteString(head)
	d.w.WriteString(" {")
	d.level++
	d.newline()
}

// close ends the body with "}" on a line of its own.
func (d *dotWriter) close() {
	d.level--
	d.newline()
	d.w.WriteString("}")
	d.newline()
}

// set adds an attribute of what is written next.
func (d *dotWriter) set(key, value string) { d.attrs = append(d.attrs, attr{key, value}) }

// flushAttrs writes the attributes set since the last call, sorted by name: as
// "[k="v",...]" for a node or an edge, as `k="v";...;` for a graph.
func (d *dotWriter) flushAttrs(bracket bool) {
	if len(d.attrs) == 0 {
		return
	}
	slices.SortStableFunc(d.attrs, func(a, b attr) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	// A key set twice keeps its last value, as a map would.
	kept := d.attrs[:0]
	for i, a := range d.attrs {
		if i+1 < len(d.attrs) && d.attrs[i+1].key == a.key {
			continue
		}
		kept = append(kept, a)
	}
	if bracket {
		d.w.WriteByte('[')
	}
	for i, a := range kept {
		if i > 0 {
			if bracket {
				d.w.WriteByte(',')
			} else {
				d.w.WriteByte(';')
			}
		}
		d.w.WriteString(a.key)
		d.w.WriteByte('=')
		d.buf = strconv.AppendQuote(d.buf[:0], a.value)
		d.w.Write(d.buf)
	}
	if bracket {
		d.w.WriteByte(']')
	} else {
		d.w.WriteByte(';')
	}
	d.attrs = d.attrs[:0]
}

// node writes node nK with the attributes set.
func (d *dotWriter) node(k int) {
	d.w.WriteByte('n')
	d.buf = strconv.AppendInt(d.buf[:0], int64(k), 10)
	d.w.Write(d.buf)
	d.flushAttrs(true)
	d.w.WriteByte(';')
	d.newline()
}

// edge writes nFROM->nTO with the attributes set.
func (d *dotWriter) edge(from, to int) {
	d.buf = append(d.buf[:0], 'n')
	d.buf = strconv.AppendInt(d.buf, int64(from), 10)
	d.buf = append(d.buf, "->n"...)
	d.buf = strconv.AppendInt(d.buf, int64(to), 10)
	d.w.Write(d.buf)
	d.flushAttrs(true)
	d.w.WriteByte(';')
	d.newline()
}
