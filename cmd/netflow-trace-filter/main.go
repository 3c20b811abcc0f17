// Command netflow-trace-filter: see doc.go.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

func init() {
	// As early as possible: a stop signal to scripts/netflow-trace's process group must not
	// end the filter before bpftrace's last words.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	// One goroutine does the work: with one P the runtime does not wake other threads to
	// look for work (spinning Ms, futex wakeups) at each read and sleep. In a connection storm
	// that took the filter's CPU from 210 to 120 ms per 120000 lines.
	runtime.GOMAXPROCS(1)
}

func main() {
	err := run(os.Args[1:], input(os.Stdin), os.Stdout, os.Stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "netflow-trace-filter: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "netflow-trace-filter: %v\n", err)
		os.Exit(1)
	}
}

// input is f (standard input), read in batches when it is a pipe (see batchReader).
func input(f *os.File) io.Reader {
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		return f
	}
	// Room for what arrives while the filter waits: 1 MiB, the most an unprivileged
	// process may ask for (/proc/sys/fs/pipe-max-size); on failure the pipe keeps its
	// 64 KiB, and the filter still reads it long before it fills.
	size, _, errno := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), syscall.F_SETPIPE_SZ, 1<<20)
	wait := 10 * time.Millisecond
	if errno == 0 && size >= 1<<20 {
		// 1 MiB holds 40 ms of bpftrace at its fastest (about 25 MB/s, formatting lines on
		// one CPU). Each wait costs the Go runtime the same (its monitor thread, sysmon, is
		// woken by the next read and polls every 20 us for a while): fewer, longer waits.
		wait = 40 * time.Millisecond
	}
	return &batchReader{r: f, wait: wait, sleep: time.Sleep}
}

// batchReader waits a little after a read that did not fill half the buffer, so that the
// next read takes what arrived meanwhile in one go. bpftrace writes 4 KiB at a time, up to
// hundreds of times a second in a connection storm; reading each as it comes costs the Go
// runtime a wakeup, futexes and its monitor's polling per read (measured, docs/benchmarks.md:
// about three times the CPU of awk doing the same job), while a 40 ms wait (10 ms if the
// pipe could not be enlarged) costs a line nothing that matters: lines reach stdout at the next "#" padding anyway, every half
// second.
type batchReader struct {
	r     io.Reader
	wait  time.Duration
	sleep func(time.Duration)
}

func (b *batchReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == nil && n < len(p)/2 {
		b.sleep(b.wait)
	}
	return n, err
}
