// Baseline is the straightforward implementation of net_visualizer, kept as the reference
// point for benchmarks and as an oracle for differential tests.
//
// Usage:
//
//	baseline [-edges] < trace.txt > graph.dot
//
// It reads trace lines (docs/line-format.md) from stdin and writes the process graph in
// Graphviz DOT to stdout. It is written the way a first version would be: a regular
// expression per line, fmt.Sprintf string keys, every connection kept in memory, and the
// graph built with github.com/emicklei/dot. Do not optimise it: scripts/bench-visualizer
// measures net_visualizer against it.
//
// The graph: a node per process (pid and comm, trailing \x00 padding dropped), a node per
// external endpoint. A → line and a ← line with the same 4-tuple (IPv4-mapped IPv6 read as
// IPv4) are one connection: an edge client → server. A → line left unmatched at the end is
// an edge to the external node "ip:port"; a ← line left unmatched, an edge from the
// external node "ip". A failed connect (ret= negative, other than -115 EINPROGRESS) never
// matches: it is an edge to "ip:port" of its own, drawn dashed. Edges are deduplicated and
// carry the number of connections. Lines "Lost N events" and "# lost N events" are
// counted and shown in the graph's label. Key host= is ignored: one host per trace.
//
// With -edges it prints, instead of DOT, one edge a line, sorted:
//
//	from<TAB>to<TAB>count
//
// where from and to are "pid/comm" for processes, "ext:ip:port" and "ext:ip" for external
// nodes ("ext:[v6]:port", "ext:v6"), and "failed:ip:port" for the target of failed connects.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "baseline: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "baseline: %v\n", err)
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	edges := fs.Bool("edges", false, "print the edge list (from<TAB>to<TAB>count, sorted) instead of DOT")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: baseline [-edges] < trace.txt > graph.dot")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	g, err := ReadTrace(stdin)
	if err != nil {
		return err
	}
	if *edges {
		return g.WriteEdges(stdout)
	}
	return g.WriteDOT(stdout)
}
