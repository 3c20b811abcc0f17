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
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"netflow/internal/version"
	"netflow/net_visualizer/internal/filter"
	"netflow/net_visualizer/internal/graph"
	"netflow/net_visualizer/internal/names"
	"netflow/net_visualizer/internal/render"
	"netflow/net_visualizer/internal/trace"
)

// Doc is the manual: the -h text and the reference for the package documentation.
//
//go:embed doc.txt
var Doc string

// maxReported bounds how many malformed lines are described on stderr; all are counted.
const maxReported = 100

type options struct {
	every   time.Duration
	format  string
	output  string
	strict  bool
	quiet   bool
	version bool

	groupBy         string
	filter          string
	pid, port       int
	comm            string
	excludeLoopback bool
	focus           string

	namesFile string
	hostsFile string
	resolve   bool
	collapse  string
	diff      string

	match    *filter.Filter // compiled from filter and the shortcuts
	labels   func(netip.Addr) (string, bool)
	resolver *names.Resolver
}

// errVersion ends a run that printed its version (-version).
var errVersion = errors.New("version printed")

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
	case errors.Is(err, flag.ErrHelp), errors.Is(err, errVersion):
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

// newFlagSet defines the flags, storing into o.
func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("net_visualizer", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.format, "format", "dot", "")
	fs.StringVar(&o.output, "o", "", "")
	fs.BoolVar(&o.strict, "strict", false, "")
	fs.BoolVar(&o.quiet, "q", false, "")
	fs.BoolVar(&o.version, "version", false, "")
	fs.DurationVar(&o.every, "every", 0, "")
	fs.StringVar(&o.groupBy, "group-by", string(graph.ByProcess), "")
	fs.StringVar(&o.filter, "filter", "", "")
	fs.IntVar(&o.pid, "pid", 0, "")
	fs.StringVar(&o.comm, "comm", "", "")
	fs.IntVar(&o.port, "port", 0, "")
	fs.BoolVar(&o.excludeLoopback, "exclude-loopback", false, "")
	fs.StringVar(&o.focus, "focus", "", "")
	fs.StringVar(&o.namesFile, "names", "", "")
	fs.StringVar(&o.hostsFile, "hosts", "/etc/hosts", "")
	fs.BoolVar(&o.resolve, "resolve", false, "")
	fs.StringVar(&o.collapse, "collapse", "", "")
	fs.StringVar(&o.diff, "diff", "", "")
	return fs
}

func parseFlags(args []string, stdout io.Writer) (options, []string, error) {
	var o options
	fs := newFlagSet(&o)
	// Flags may come after inputs too (net_visualizer a.trace -format png): parse, take one
	// input, parse the rest again. After "--" everything is an input.
	var inputs []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stdout, Doc)
				return o, nil, err
			}
			return o, nil, usageError{err.Error()}
		}
		left := fs.Args()
		if used := len(rest) - len(left); used > 0 && rest[used-1] == "--" {
			inputs = append(inputs, left...)
			break
		}
		if len(left) == 0 {
			break
		}
		inputs = append(inputs, left[0])
		rest = left[1:]
	}
	if o.version {
		fmt.Fprintln(stdout, version.String("net_visualizer"))
		return o, nil, errVersion
	}
	if !slices.Contains(render.Formats, o.format) && o.format != netmonFormat {
		return o, nil, usageError{fmt.Sprintf("-format %q: want one of %s, %s", o.format, strings.Join(render.Formats, ", "), netmonFormat)}
	}
	if o.format == netmonFormat {
		if err := netmonConflicts(o); err != nil {
			return o, nil, err
		}
	}
	if !slices.Contains(graph.GroupBys, graph.GroupBy(o.groupBy)) {
		var all []string
		for _, g := range graph.GroupBys {
			all = append(all, string(g))
		}
		return o, nil, usageError{fmt.Sprintf("-group-by %q: want one of %s", o.groupBy, strings.Join(all, ", "))}
	}
	if o.every < 0 || (o.every > 0 && o.output == "") {
		return o, nil, usageError{"-every needs -o FILE (the file is rewritten at each interval) and a positive interval"}
	}
	if o.pid < 0 || o.port < 0 || o.port > 65535 {
		return o, nil, usageError{"-pid and -port take a process id and a port number"}
	}
	if src := filter.And(o.filter, filter.Shortcuts(o.pid, o.comm, o.port, o.excludeLoopback)); src != "" {
		f, err := filter.Compile(src)
		if err != nil {
			return o, nil, usageError{err.Error()}
		}
		o.match = f
	}
	if o.resolve {
		o.resolver = names.NewResolver(names.DefaultTimeout, reverseLookup)
	}
	labels, err := externalLabels(o)
	if err != nil {
		return o, nil, err
	}
	o.labels = labels
	return o, inputs, nil
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	o, files, err := parseFlags(args, stdout)
	if err != nil {
		return err
	}
	if o.output == "" && o.format == "png" && isTerminal(stdout) {
		return usageError{"refusing to write a PNG to a terminal: use -o FILE or a pipe"}
	}
	inputs, err := expandInputs(files, stdin)
	if err != nil {
		return err
	}
	if o.format == netmonFormat {
		return runNetMon(ctx, o, inputs, stdout, stderr)
	}
	var old *graph.Graph
	if o.diff != "" {
		oldInputs, err := expandInputs([]string{o.diff}, nil)
		if err != nil {
			return fmt.Errorf("-diff: %w", err)
		}
		// The old capture is read whole first; only the new one is followed live.
		r := newReading(o, oldInputs, io.Discard)
		if err := r.loop(context.Background(), nil); err != nil {
			return fmt.Errorf("-diff %s: %w", o.diff, err)
		}
		old = r.graph(true)
	}

	rd := newReading(o, inputs, stderr)
	var tick <-chan time.Time
	if o.every > 0 {
		t := time.NewTicker(o.every)
		defer t.Stop()
		tick = t.C
	}
	final := func(last bool) *graph.Graph {
		g := rd.graph(last)
		if old != nil {
			g = graph.Diff(old, g)
		}
		return g
	}
	// A snapshot is copied between batches and written beside the reading; it stops when
	// interrupted (it is drawn again whole just after). The final graph is written whatever
	// happens, unless Abort.
	snapshot := func() func() error {
		g := final(false)
		return func() error { return writeOutput(ctx, g, o, stdout) }
	}
	if err := rd.loop(ctx, snapshot, tick); err != nil {
		return err
	}
	// The graph takes the accumulator's edges (graph.Builder.Final): a big graph is not
	// held twice. Then the accumulator goes, before rendering.
	finalGC()
	g := final(true)
	rd.b = nil
	if err := writeOutput(context.Background(), g, o, stdout); err != nil {
		return err
	}
	if o.focus != "" && len(g.Nodes) == 0 {
		// Focus drops the nodes on no edge, so an empty graph means no node matched.
		fmt.Fprintf(stderr, "net_visualizer: -focus %q matches no node\n", o.focus)
	}
	if !o.quiet {
		if s := g.Stats; s.Old == nil {
			fmt.Fprintf(stderr, "net_visualizer: %s\n", summary(&s))
		} else {
			fmt.Fprintf(stderr, "net_visualizer: new capture: %s; old capture (-diff): %s\n", summary(&s), summary(s.Old))
		}
	}
	return nil
}

// finalGC prepares the collector for the last phase, once the input is read: from here the
// heap is the finished graph, kept to the end, and the short-lived garbage of drawing and
// writing it. Collecting at half the default growth (GOGC 50) keeps the peak at about 1.5
// times the graph instead of twice, for a few more collections of a heap that no longer
// grows (1.1M edges: a peak RSS of 222 MiB instead of 288). A GOGC in the environment is obeyed.
func finalGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
}

// summary is the end-of-run line's counts.
func summary(s *graph.Stats) string {
	count := func(n uint64, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %s", n, many)
	}
	return fmt.Sprintf("%s, %s, %s, %s, %d malformed, %d lost", count(s.Lines, "line", "lines"),
		count(s.Connections, "connection", "connections"), count(uint64(s.Processes), "process", "processes"),
		count(uint64(s.Edges), "edge", "edges"), s.Malformed, s.Lost)
}

// reading is one pass over some inputs into a graph.
type reading struct {
	o        options
	b        *graph.Builder
	pl       *pipeline
	stats    graph.Stats
	stderr   io.Writer
	reported int
	newer    bool           // warned of a newer line format
	netmon   *render.NetMon // -format netmon: events go here, not into a graph
}

func newReading(o options, inputs []input, stderr io.Writer) *reading {
	b := graph.New()
	b.GroupBy = graph.GroupBy(o.groupBy)
	b.UserName = lookupUser
	b.ExternalLabel = o.labels
	hosts := map[string]bool{}
	for _, in := range inputs {
		hosts[in.host] = true
	}
	// Captures of several hosts are read one after the other: a connection from one host to
	// another must wait for the other's file to be joined.
	b.Exact = len(hosts) > 1
	return &reading{o: o, b: b, stderr: stderr, pl: startPipeline(inputs, openInput, o.match)}
}

func (r *reading) take(bt *batch) error {
	defer r.pl.recycle(bt)
	r.stats.Lines += bt.lines
	for _, bad := range bt.bad {
		r.stats.Malformed++
		if r.o.strict {
			return fmt.Errorf("%s", bad)
		}
		if r.reported < maxReported {
			fmt.Fprintf(r.stderr, "net_visualizer: %s\n", bad)
			r.reported++
			if r.reported == maxReported {
				fmt.Fprintln(r.stderr, "net_visualizer: further malformed lines are counted, not shown")
			}
		}
	}
	if bt.err != nil {
		return bt.err
	}
	if bt.version > trace.FormatVersion && !r.newer {
		r.newer = true
		fmt.Fprintf(r.stderr, "net_visualizer: %s: line format %d is newer than this reader's %d: reading on, "+
			"but lines it does not know are reported as malformed\n", bt.versionAt, bt.version, trace.FormatVersion)
	}
	if r.netmon != nil {
		return r.takeNetMon(bt)
	}
	r.b.AddLost(bt.lost)
	for i := range bt.procs {
		r.b.AddProc(&bt.procs[i])
	}
	for i := range bt.events {
		r.b.AddKeep(&bt.events[i], bt.keep == nil || bt.keep[i])
	}
	return nil
}

// loop takes batches until the input ends or ctx is cancelled. At each tick it takes a
// snapshot (a copy of the graph, made here between batches) and runs what that returns, the
// writing, on a goroutine of its own, so that the reading goes on meanwhile: a tick that
// comes while the last snapshot is still being written is skipped, delaying the next
// snapshot, never the input. loop returns once that writing is done too.
func (r *reading) loop(ctx context.Context, snapshot func() func() error, tick ...<-chan time.Time) (err error) {
	var every <-chan time.Time
	if len(tick) > 0 {
		every = tick[0]
	}
	var writing chan error // while a snapshot is being written
	defer func() {
		if writing != nil {
			if werr := <-writing; err == nil && werr != nil && ctx.Err() == nil {
				err = werr
			}
		}
	}()
	for {
		var res chan *batch
		var ok bool
		select {
		case res, ok = <-r.pl.order:
			if !ok {
				return nil
			}
		case <-every:
			if writing != nil {
				continue
			}
			write := snapshot()
			done := make(chan error, 1)
			go func() { done <- write() }()
			writing = done
			continue
		case werr := <-writing:
			writing = nil
			if werr != nil && ctx.Err() == nil {
				return werr
			}
			continue
		case <-ctx.Done():
			return r.drain()
		}
		if err := r.take(<-res); err != nil {
			return err
		}
	}
}

// drain takes, once interrupted, every batch of input already read (waiting only for its
// parsing to finish, never for more input), so that Ctrl-C loses nothing that arrived.
func (r *reading) drain() error {
	for {
		select {
		case res, ok := <-r.pl.order:
			if !ok {
				return nil
			}
			if err := r.take(<-res); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// graph is the graph read so far, focused if asked; last says no more is read (the
// accumulator is then used up: graph.Builder.Final).
func (r *reading) graph(last bool) *graph.Graph {
	if r.o.resolver != nil {
		// Resolve every external address at once, in parallel, before labelling.
		labels := r.b.ExternalLabel
		r.b.ExternalLabel = nil
		var addrs []netip.Addr
		for _, n := range r.b.Graph().Nodes {
			if a := n.Addr.Addr(); n.Kind == graph.External && !a.IsLoopback() && !a.IsLinkLocalUnicast() {
				addrs = append(addrs, a)
			}
		}
		r.o.resolver.Prefetch(addrs)
		r.b.ExternalLabel = labels
	}
	var g *graph.Graph
	if last {
		g = r.b.Final()
	} else {
		g = r.b.Graph()
	}
	if r.o.focus != "" {
		g = graph.Focus(g, r.o.focus)
	}
	g.Stats.Lines, g.Stats.Malformed = r.stats.Lines, r.stats.Malformed
	return g
}

// externalLabels builds the naming of external addresses from -names, -hosts, -resolve and
// -collapse, in that order of precedence; nil when there is nothing to do.
func externalLabels(o options) (func(netip.Addr) (string, bool), error) {
	var tables []*names.Table
	load := func(path string, parse func(io.Reader, string) (*names.Table, error)) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		t, err := parse(f, path)
		if err != nil {
			return err
		}
		tables = append(tables, t)
		return nil
	}
	if o.namesFile != "" {
		if err := load(o.namesFile, names.LoadNames); err != nil {
			return nil, fmt.Errorf("-names: %w", err)
		}
	}
	if o.hostsFile != "" {
		if err := load(o.hostsFile, names.LoadHosts); err != nil {
			if !(errors.Is(err, os.ErrNotExist) && o.hostsFile == "/etc/hosts") {
				return nil, fmt.Errorf("-hosts: %w", err)
			}
		}
	}
	table := names.Merge(tables...)
	resolver := o.resolver
	bits, internet := -1, false
	switch {
	case o.collapse == "":
	case o.collapse == "internet":
		internet = true
	default:
		b, err := names.ParseCollapse(o.collapse)
		if err != nil {
			return nil, usageError{"-collapse: " + err.Error() + ` (or "internet")`}
		}
		bits = b
	}
	if table.Len() == 0 && resolver == nil && bits < 0 && !internet {
		return nil, nil
	}
	var user *names.Table
	if o.namesFile != "" {
		user = tables[0]
	}
	return func(a netip.Addr) (string, bool) {
		if label, ok := user.Lookup(a); ok {
			return label, true
		}
		// /etc/hosts and DNS would call every loopback endpoint "localhost" and hide its port.
		local := a.IsLoopback() || a.IsUnspecified() || a.IsLinkLocalUnicast()
		if label, ok := table.Lookup(a); ok && !local {
			return label, true
		}
		if resolver != nil && !local {
			if name, ok := resolver.Name(a); ok {
				return name, true
			}
		}
		switch {
		case internet && a.IsGlobalUnicast() && !a.IsPrivate():
			return "internet", true
		case bits >= 0 && !local:
			return names.Collapse(a, bits).String(), true
		}
		return "", false
	}, nil
}

// reverseLookup answers -resolve's PTR queries (nil: the system resolver); tests replace it
// so that they send no DNS query.
var reverseLookup func(ctx context.Context, addr string) ([]string, error)

// lookupUser names a uid for -group-by user (a variable so tests need no particular machine).
var lookupUser = userName

// userName names a uid from this machine's user database; "" when unknown.
func userName(uid string) string {
	u, err := user.LookupId(uid)
	if err != nil {
		return ""
	}
	return u.Username
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
// viewer never sees half a graph) or to stdout. Cancelling ctx, or Abort, stops Graphviz.
func writeOutput(ctx context.Context, g *graph.Graph, o options, stdout io.Writer) error {
	if !beginRender() {
		return errAborted
	}
	defer aborting.renders.Done()
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	defer context.AfterFunc(aborting.ctx, stop)()
	if o.output == "" {
		return render.Write(ctx, stdout, g, o.format)
	}
	dir, base := filepath.Split(o.output)
	if dir == "" {
		dir = "."
	}
	tmp, err := createTemp(dir, "."+base+".tmp*")
	if err != nil {
		return err
	}
	defer removeTemp(tmp.Name()) // a no-op once renamed
	if err := render.Write(ctx, tmp, g, o.format); err != nil {
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

// aborting is what Abort needs: the temporary files being written, the renders under way.
var aborting = struct {
	sync.Mutex
	ctx     context.Context // cancelled by Abort
	cancel  context.CancelFunc
	temps   map[string]bool
	renders sync.WaitGroup
}{temps: map[string]bool{}}

func init() { aborting.ctx, aborting.cancel = context.WithCancel(context.Background()) }

var errAborted = errors.New("aborted")

// beginRender counts a render for Abort to wait for; false once aborted.
func beginRender() bool {
	aborting.Lock()
	defer aborting.Unlock()
	if aborting.ctx.Err() != nil {
		return false
	}
	aborting.renders.Add(1)
	return true
}

// createTemp is os.CreateTemp, recording the file for Abort; after Abort it creates nothing.
func createTemp(dir, pattern string) (*os.File, error) {
	aborting.Lock()
	defer aborting.Unlock()
	if aborting.ctx.Err() != nil {
		return nil, errAborted
	}
	f, err := os.CreateTemp(dir, pattern)
	if err == nil {
		aborting.temps[f.Name()] = true
	}
	return f, err
}

func removeTemp(name string) {
	aborting.Lock()
	defer aborting.Unlock()
	os.Remove(name)
	delete(aborting.temps, name)
}

// Abort ends every run at once: main calls it on a second SIGINT or SIGTERM, then exits. It
// kills Graphviz, removes the temporary file of any -o output being written (the file itself
// keeps its last whole graph), and waits a moment for the renders to stop.
func Abort() {
	aborting.Lock()
	aborting.cancel()
	for name := range aborting.temps {
		os.Remove(name)
	}
	aborting.Unlock()
	done := make(chan struct{})
	go func() { aborting.renders.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second): // a render busy in Go code: its file is already gone
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
