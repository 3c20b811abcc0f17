package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"netflow/net_visualizer/internal/graph"
	"netflow/net_visualizer/internal/render"
)

// netmonFormat is -format netmon: NetMon events as the lines arrive, not a graph.
const netmonFormat = "netmon"

// netmonConflicts says which flags shape a graph, so do not apply to -format netmon.
func netmonConflicts(o options) error {
	for _, c := range []struct {
		set  bool
		flag string
	}{
		{o.every > 0, "-every"}, {o.diff != "", "-diff"}, {o.focus != "", "-focus"},
		{o.groupBy != string(graph.ByProcess), "-group-by"}, {o.namesFile != "", "-names"},
		{o.collapse != "", "-collapse"}, {o.resolve, "-resolve"},
	} {
		if c.set {
			return usageError{c.flag + " shapes a graph: it does not apply to -format netmon"}
		}
	}
	return nil
}

// runNetMon writes each connection line's NetMon event as it is read, flushed after each
// batch of lines, so that a live pipe sees them at once. -o FILE is written as it goes.
func runNetMon(ctx context.Context, o options, inputs []input, stdout, stderr io.Writer) error {
	out := stdout
	if o.output != "" {
		f, err := os.Create(o.output)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	rd := newReading(o, inputs, stderr)
	rd.netmon = render.NewNetMon(out)
	if err := rd.loop(ctx, nil); err != nil {
		rd.netmon.Flush()
		return err
	}
	if err := rd.netmon.Flush(); err != nil {
		return err
	}
	if f, ok := out.(*os.File); ok && o.output != "" {
		if err := f.Close(); err != nil {
			return err
		}
	}
	if !o.quiet {
		s := rd.netmon.Stats
		fmt.Fprintf(stderr, "net_visualizer: %d lines, %d events, %d repeats, %d skipped, %d malformed, %d lost\n",
			rd.stats.Lines, s.Events, s.Repeats, s.Skipped, rd.stats.Malformed, rd.stats.Lost)
	}
	return nil
}

// takeNetMon writes a batch's events (those the filter kept) and flushes them, applying
// its proc lines (each process's newest facts) and "# clock" lines where they came among
// the events, so that each event has the process and the clock of the lines before it.
func (r *reading) takeNetMon(bt *batch) error {
	r.stats.Lost += bt.lost
	p, c := 0, 0
	for i := 0; i <= len(bt.events); i++ {
		for ; p < len(bt.procs) && bt.procAt[p] <= i; p++ {
			r.netmon.Proc(bt.procs[p].Host, bt.procs[p].PID, bt.procs[p].Proc)
		}
		for ; c < len(bt.clocks) && bt.clocks[c].at <= i; c++ {
			r.netmon.Clock(bt.clocks[c].host, bt.clocks[c].clock)
		}
		if i == len(bt.events) {
			break
		}
		if bt.keep == nil || bt.keep[i] {
			if err := r.netmon.Event(&bt.events[i]); err != nil {
				return err
			}
		}
	}
	return r.netmon.Flush()
}
