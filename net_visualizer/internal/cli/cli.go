// Package cli is net_visualizer's command: flags, reading, and writing the result.
// It never touches os.Stdin or os.Stdout itself; main passes them in.
package cli

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"netflow/net_visualizer/internal/graph"
	"netflow/net_visualizer/internal/render"
)

// Doc is the manual: the -h text and the reference for the package documentation.
//
//go:embed doc.txt
var Doc string

// maxReported bounds how many malformed lines are described on stderr; all are counted.
const maxReported = 100

type options struct {
	every  time.Duration
	format string
	output string
	strict bool
	quiet  bool
}

// usageError is a bad command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// Main runs the command and returns its exit status. Cancelling ctx (main does so on
// SIGINT and SIGTERM) stops reading and writes the graph of what was read so far.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := run(ctx, args, stdin, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, syscall.EPIPE):
		return 0 // the reader of our output went away (| head): nothing left to say
	}
	fmt.Fprintf(stderr, "net_visualizer: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "run 'net_visualizer -h' for the manual")
		return 2
	}
	return 1
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("net_visualizer", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.format, "format", "dot", "")
	fs.StringVar(&o.output, "o", "", "")
	fs.BoolVar(&o.strict, "strict", false, "")
	fs.BoolVar(&o.quiet, "q", false, "")
	fs.DurationVar(&o.every, "every", 0, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, Doc)
			return err
		}
		return usageError{err.Error()}
	}
	if !slices.Contains(render.Formats, o.format) {
		return usageError{fmt.Sprintf("-format %q: want one of %s", o.format, strings.Join(render.Formats, ", "))}
	}
	if o.every < 0 || (o.every > 0 && o.output == "") {
		return usageError{"-every needs -o FILE (the file is rewritten at each interval) and a positive interval"}
	}
	if o.output == "" && (o.format == "png") && isTerminal(stdout) {
		return usageError{"refusing to write a PNG to a terminal: use -o FILE or a pipe"}
	}

	inputs, err := expandInputs(fs.Args(), stdin)
	if err != nil {
		return err
	}

	b := graph.New()
	var stats graph.Stats
	reported := 0
	pl := startPipeline(inputs, openInput)

	take := func(bt *batch) error {
		defer pl.recycle(bt)
		stats.Lines += bt.lines
		for _, bad := range bt.bad {
			stats.Malformed++
			if o.strict {
				return fmt.Errorf("%s", bad)
			}
			if reported < maxReported {
				fmt.Fprintf(stderr, "net_visualizer: %s\n", bad)
				reported++
				if reported == maxReported {
					fmt.Fprintln(stderr, "net_visualizer: further malformed lines are counted, not shown")
				}
			}
		}
		if bt.err != nil {
			return bt.err
		}
		b.AddLost(bt.lost)
		for i := range bt.events {
			b.Add(&bt.events[i])
		}
		return nil
	}

	var tick <-chan time.Time
	if o.every > 0 {
		t := time.NewTicker(o.every)
		defer t.Stop()
		tick = t.C
	}
	snapshot := func() error {
		g := b.Graph()
		g.Stats.Lines, g.Stats.Malformed = stats.Lines, stats.Malformed
		return writeOutput(g, o, stdout)
	}

read:
	for {
		var res chan *batch
		var ok bool
		select {
		case res, ok = <-pl.order:
			if !ok {
				break read
			}
		case <-tick:
			if err := snapshot(); err != nil {
				return err
			}
			continue
		case <-ctx.Done():
			break read
		}
		select {
		case bt := <-res:
			if err := take(bt); err != nil {
				return err
			}
		case <-ctx.Done():
			// Interrupted: take what is already parsed, then draw it.
			select {
			case bt := <-res:
				if err := take(bt); err != nil {
					return err
				}
			default:
			}
			break read
		}
	}

	g := b.Graph()
	g.Stats.Lines, g.Stats.Malformed = stats.Lines, stats.Malformed
	if err := writeOutput(g, o, stdout); err != nil {
		return err
	}
	if !o.quiet {
		s := g.Stats
		fmt.Fprintf(stderr, "net_visualizer: %d lines, %d connections, %d processes, %d edges, %d malformed, %d lost\n",
			s.Lines, s.Connections, s.Processes, s.Edges, s.Malformed, s.Lost)
	}
	return nil
}

func openInput(in input) (io.Reader, func(), error) {
	if in.r != nil {
		return in.r, func() {}, nil
	}
	f, err := os.Open(in.name)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

// writeOutput renders g to -o FILE (through a temporary file renamed into place, so that a
// viewer never sees half a graph) or to stdout.
func writeOutput(g *graph.Graph, o options, stdout io.Writer) error {
	if o.output == "" {
		return render.Write(stdout, g, o.format)
	}
	dir, base := filepath.Split(o.output)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := render.Write(tmp, g, o.format); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), o.output)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
