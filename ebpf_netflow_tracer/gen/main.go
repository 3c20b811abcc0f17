// Command gen writes the four TCP tracer scripts of ebpf_netflow_tracer from one template,
// netflow.bt.tmpl: netflow.bt (kprobes, a line per connection), netflow_tp.bt (syscall
// tracepoints, a line per connection), netflow_agg.bt and netflow_tp_agg.bt (the same probes,
// counting in the kernel). bpftrace 0.17 has no functions and no function-like macros, so the
// pieces the variants share (the name classifier, the late outcome of a connect, the printf of
// the line's metadata) are text/template blocks written once and expanded where they are used.
//
// The metadata keys of a line are one list, keys in keys.go: adding a key to it adds it to
// every variant's printf (and, for a key of the aggregate lines, to their map keys).
//
// Usage (from ebpf_netflow_tracer, through its go:generate line):
//
//	go run ./gen [-out DIR]
package main

import (
	"bytes"
	_ "embed"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

//go:embed netflow.bt.tmpl
var source string

// sourceName is the template as the generated files name it.
const sourceName = "ebpf_netflow_tracer/gen/netflow.bt.tmpl"

func main() {
	out := flag.String("out", ".", "directory to write the .bt files to")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	files, err := generate(keys)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.text, 0o644); err != nil {
			return err
		}
	}
	return nil
}

type file struct {
	name string
	text []byte
}

// variant is one script: its hook family and mode.
type variant struct {
	File   string // netflow.bt, ...
	Kprobe bool   // kprobes; else syscall tracepoints
	Agg    bool   // counts in maps; else a line per connection
	Source string // the template, as named in the generated-from line
	keys   []key
}

var variants = []variant{
	{File: "netflow.bt", Kprobe: true},
	{File: "netflow_tp.bt"},
	{File: "netflow_agg.bt", Kprobe: true, Agg: true},
	{File: "netflow_tp_agg.bt", Agg: true},
}

// generate expands the template for every variant with the given keys.
func generate(ks []key) ([]file, error) {
	var files []file
	for _, v := range variants {
		v.Source = sourceName
		v.keys = ks
		text, err := expand(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v.File, err)
		}
		files = append(files, file{v.File, text})
	}
	return files, nil
}

// procBlocks is the data of the PROC blocks of one probe.
type procBlocks struct {
	Probe string // the probe, as the blocks name it
	Guard string // the predicate of a traced connection, set by the blocks before
	Check string // the template that returns when the connection is not TCP ("": none)
}

// Step is the exe path walk's components of block b (0, 1, 2): procDepth/3 each.
func (procBlocks) Steps() []int { return []int{0, 1, 2, 3} }

// auxvPairs is how many (type, value) pairs of the auxiliary vector are scanned for
// AT_SECURE: the kernel writes it 14th to 17th (fs/binfmt_elf.c, with ARCH_DLINFO first).
const auxvPairs = 24

func expand(v variant) ([]byte, error) {
	t := template.New("netflow.bt.tmpl")
	t.Funcs(template.FuncMap{
		// tmpl NAME DATA expands the block NAME to a string, for indent.
		"tmpl": func(name string, data any) (string, error) {
			var b strings.Builder
			err := t.ExecuteTemplate(&b, name, data)
			return b.String(), err
		},
		// proc PROBE GUARD CHECK is the data of the PROC blocks for one probe (see
		// procBlocks): the probe, the predicate of a traced connection there, and the
		// name of a template that returns from a connection that is not one ("" none).
		"proc": func(probe, guard, check string) procBlocks {
			return procBlocks{Probe: probe, Guard: guard, Check: check}
		},
		// auxv is the even indices of mm->saved_auxv scanned for AT_SECURE (bpftrace
		// v0.17 indexes arrays by literals only).
		"auxv": func() []int {
			var ix []int
			for i := 0; i < auxvPairs; i++ {
				ix = append(ix, 2*i)
			}
			return ix
		},
		// add N X, mul N X: X+N, X*N (for the PROC blocks' numbers).
		"add":  func(n, x int) int { return x + n },
		"mul":  func(n, x int) int { return x * n },
		"args": func() []int { return []int{0, 1} },
		// indent N S puts N spaces before every non-empty line of S.
		"indent": func(n int, s string) string {
			pad := strings.Repeat(" ", n)
			lines := strings.SplitAfter(s, "\n")
			for i, l := range lines {
				if l != "" && l != "\n" {
					lines[i] = pad + l
				}
			}
			return strings.Join(lines, "")
		},
	})
	if _, err := t.Parse(source); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "file", v); err != nil {
		return nil, err
	}
	return []byte(splitReconnect(b.String())), nil
}
