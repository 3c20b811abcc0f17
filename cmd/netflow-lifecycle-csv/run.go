package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

type usageError struct{ error }

// usage is the manual: the comment of doc.go.
func usage() string {
	s := docSource
	s = s[strings.Index(s, "/*")+2 : strings.Index(s, "*/")]
	return strings.TrimLeft(s, "\n")
}

// closeFD is syscall.Close; tests replace it.
var closeFD = syscall.Close

const (
	readyFD    = -1234567 // netflow_lifecycle.bt's READY_FD, as the int close(2) is called with
	maxReports = 10       // malformed lines reported one by one

	pokeEvery  = 50 * time.Millisecond // until the probes are attached
	flushEvery = time.Second           // then, to flush the tracer's output
)

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("netflow-lifecycle-csv", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("d", ".", "")
	maxBytes := fs.Int64("max-bytes", 64<<20, "")
	machineID := fs.String("machine-id", "", "")
	utc := fs.Bool("utc", false, "")
	clockOffset := fs.String("clock-offset", "", "")
	ready := fs.Int("ready-fd", readyFD, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage())
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q (the trace comes on stdin)", fs.Arg(0))}
	}
	if *maxBytes <= 0 {
		return usageError{fmt.Errorf("-max-bytes %d: must be positive", *maxBytes)}
	}
	id := *machineID
	if id == "" {
		b, err := os.ReadFile("/etc/machine-id")
		if err != nil {
			return fmt.Errorf("machine id: %v (give one with -machine-id)", err)
		}
		id = strings.TrimSpace(string(b))
	}
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\x00") {
		return fmt.Errorf("machine id %q cannot be a directory name", id)
	}
	loc := time.Local
	if *utc {
		loc = time.UTC
	}
	var offset int64
	if *clockOffset != "" {
		v, err := strconv.ParseInt(*clockOffset, 10, 64)
		if err != nil {
			return usageError{fmt.Errorf("-clock-offset %q: not a number of nanoseconds", *clockOffset)}
		}
		offset = v
	} else {
		v, err := monotonicOffset()
		if err != nil {
			return err
		}
		offset = v
	}

	start := time.Now().In(loc)
	session := start.Format("20060102_150405") + fmt.Sprintf("_%03d", start.Nanosecond()/1e6)
	out := filepath.Join(*dir, "linux_trace_v3_test", id, session, "nw_conn")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	rot, err := newRotator(out, *maxBytes)
	if err != nil {
		return err
	}
	c := &converter{
		rot: rot, offset: offset, loc: loc, stderr: stderr, out: out,
		readyFD: *ready, ctx: ctx,
	}
	err = c.loop(stdin)
	if cerr := rot.Close(); err == nil {
		err = cerr
	}
	if c.lost > 0 {
		fmt.Fprintf(stderr, "netflow-lifecycle-csv: bpftrace lost %d events in all\n", c.lost)
	}
	if err == nil && c.header && !c.ready && c.readyFD != 0 && c.rows == 0 {
		err = errors.New("the tracer stopped before its probes were attached")
	}
	return err
}

// monotonicOffset returns CLOCK_REALTIME - CLOCK_MONOTONIC in ns: what turns
// bpftrace's nsecs into wall-clock time.
func monotonicOffset() (int64, error) {
	const clockMonotonic = 1
	var ts syscall.Timespec
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic,
		uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0, fmt.Errorf("clock_gettime(CLOCK_MONOTONIC): %v", e)
	}
	real := time.Now().UnixNano()
	return real - ts.Nano(), nil
}

type converter struct {
	rot     *rotator
	offset  int64
	loc     *time.Location
	stderr  io.Writer
	out     string
	readyFD int
	ctx     context.Context

	lineNo, rows, bad int
	lost              uint64
	header, ready     bool
	stopPoke          chan struct{}
	pokeStopped       chan struct{}
	attached          chan struct{} // closed at "# ready"
}

// loop converts lines until the input ends or ctx is done; on ctx it first
// writes the lines already read. A goroutine reads, so that a signal is seen
// while the read blocks; it hands over the lines in batches (all that its
// buffer holds), which keeps a storm of rows from costing a goroutine switch
// each.
func (c *converter) loop(stdin io.Reader) error {
	batches := make(chan []string, 64)
	done := make(chan struct{})
	defer close(done)
	var readErr error
	partial := ""
	go func() {
		defer close(batches)
		br := bufio.NewReaderSize(stdin, 256<<10)
		for {
			var batch []string
			for len(batch) == 0 || (br.Buffered() > 0 && len(batch) < 4096) {
				s, err := br.ReadString('\n')
				if err != nil {
					partial, readErr = s, err
					break
				}
				batch = append(batch, s)
			}
			if len(batch) > 0 {
				select {
				case batches <- batch:
				case <-done:
					return
				}
			}
			if readErr != nil {
				return
			}
		}
	}()
	if c.readyFD != 0 {
		c.startPoking()
	}
	defer c.stopPoking()

	handle := func(batch []string) error {
		for _, s := range batch {
			if err := c.handle(s); err != nil {
				return err
			}
		}
		return nil
	}
	for {
		select {
		case <-c.ctx.Done():
			for {
				select {
				case batch, ok := <-batches:
					if !ok {
						return nil
					}
					if err := handle(batch); err != nil {
						return err
					}
					continue
				default:
				}
				return nil
			}
		case batch, ok := <-batches:
			if !ok {
				if partial != "" {
					c.lineNo++
					c.report(fmt.Errorf("line %d: no newline at the end of the input, dropped", c.lineNo))
				}
				if readErr != io.EOF {
					return readErr
				}
				return nil
			}
			if err := handle(batch); err != nil {
				return err
			}
			if len(batches) == 0 {
				if err := c.rot.Flush(); err != nil {
					return err
				}
			}
		}
	}
}

func (c *converter) report(err error) {
	c.bad++
	if c.bad <= maxReports {
		fmt.Fprintf(c.stderr, "netflow-lifecycle-csv: %v\n", err)
	}
	if c.bad == maxReports {
		fmt.Fprintf(c.stderr, "netflow-lifecycle-csv: (not reporting further malformed lines)\n")
	}
}

func (c *converter) handle(s string) error {
	c.lineNo++
	s = strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r")
	switch {
	case s == "" || strings.HasPrefix(s, "Attaching "):
		return nil
	case strings.HasPrefix(s, "# netflow_lifecycle:"):
		if !c.header {
			c.header = true
			if c.readyFD == 0 {
				c.announce()
			}
		}
		return nil
	case s == "# ready":
		if !c.ready && c.readyFD != 0 {
			close(c.attached) // poke once a second from now on
			c.announce()
		}
		return nil
	case strings.HasPrefix(s, "#"):
		return nil
	case strings.HasPrefix(s, "Lost ") && strings.HasSuffix(s, " events"):
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(s, "Lost "), " events"), 10, 64)
		if err == nil {
			// Say so at the first loss and whenever the total gains a digit, not on
			// every one of bpftrace's "Lost" lines: under a storm they come by the
			// thousand.
			before := c.lost
			c.lost += n
			if len(strconv.FormatUint(before, 10)) != len(strconv.FormatUint(c.lost, 10)) || before == 0 {
				fmt.Fprintf(c.stderr, "netflow-lifecycle-csv: bpftrace has lost %d events so far "+
					"(its perf buffer was full: raise BPFTRACE_PERF_RB_PAGES)\n", c.lost)
			}
			return nil
		}
	}
	e, err := parseRaw(s)
	if err != nil {
		c.report(fmt.Errorf("line %d: %v", c.lineNo, err))
		return nil
	}
	c.rows++
	return c.rot.Write(e.record(c.offset, c.loc))
}

func (c *converter) announce() {
	c.ready = true
	fmt.Fprintf(c.stderr, "netflow-lifecycle-csv: probes attached; writing %s\n",
		filepath.Join(c.out, "nw_conn_*.csv"))
}

// startPoking calls close(readyFD) every 50ms until the tracer has answered
// "# ready", then every second. Each answer also flushes the tracer's output
// buffer, so rows reach the files within about a second even when few come.
func (c *converter) startPoking() {
	stop, stopped, attached := make(chan struct{}), make(chan struct{}), make(chan struct{})
	c.stopPoke, c.pokeStopped, c.attached = stop, stopped, attached
	poke, fd := closeFD, c.readyFD
	go func() {
		defer close(stopped)
		t := time.NewTicker(pokeEvery)
		defer t.Stop()
		for {
			_ = poke(fd) // EBADF, always: the tracer only watches for the call
			select {
			case <-stop:
				return
			case <-attached:
				attached = nil
				t.Reset(flushEvery)
			case <-t.C:
			}
		}
	}()
}

// stopPoking stops the goroutine of startPoking and waits for it.
func (c *converter) stopPoking() {
	if c.stopPoke != nil {
		close(c.stopPoke)
		<-c.pokeStopped
		c.stopPoke = nil
	}
}
