// Netflow-gen writes a synthetic TCP connection trace; see doc.go or run netflow-gen -h.
package main

import (
	"bufio"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

//go:embed doc.go
var doc string

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "netflow-gen: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "netflow-gen: %v\n", err)
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// usage is the doc comment of doc.go, without the comment markers and the package clause.
func usage() string {
	s := strings.TrimPrefix(doc, "/*\n")
	if i := strings.Index(s, "*/"); i >= 0 {
		s = s[:i]
	}
	return s
}

func run(args []string, stdout, stderr io.Writer) error {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("netflow-gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage()) }
	fs.IntVar(&cfg.Connections, "connections", cfg.Connections, "connections to generate")
	fs.IntVar(&cfg.Processes, "processes", cfg.Processes, "processes on the host")
	fs.IntVar(&cfg.External, "external", cfg.External, "external hosts")
	fs.Float64Var(&cfg.ExternalShare, "external-share", cfg.ExternalShare, "share of connections to external hosts")
	fs.Float64Var(&cfg.Inbound, "inbound", cfg.Inbound, "share of connections from external hosts")
	fs.Float64Var(&cfg.IPv6, "ipv6", cfg.IPv6, "share of connections over IPv6")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed")
	fs.IntVar(&cfg.Window, "shuffle-window", cfg.Window, "max distance in lines between the two lines of a local connection")
	fs.BoolVar(&cfg.Pad, "pad", cfg.Pad, "pad comm with \\x00 to 16 bytes like the tracers")
	stats := fs.Bool("stats", false, "print the shape of the trace to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q (see -h)", fs.Arg(0))}
	}
	if err := cfg.check(); err != nil {
		return usageError{err.Error()}
	}
	cfg.Stats = *stats

	w := bufio.NewWriterSize(stdout, 1<<20)
	st, err := generate(w, cfg)
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if *stats {
		st.print(stderr)
	}
	return nil
}
