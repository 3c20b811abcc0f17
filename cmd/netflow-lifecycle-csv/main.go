// Command netflow-lifecycle-csv writes the raw lines of netflow_lifecycle.bt as
// 17-column CSV files. Its manual is the comment in doc.go, which is also its -h text.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

//go:embed doc.go
var docSource string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	growPipe(os.Stdin)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "netflow-lifecycle-csv: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "netflow-lifecycle-csv: %v\n", err)
		os.Exit(1)
	}
}

// growPipe gives the pipe on f (if it is one) a 1 MiB buffer, the most an
// unprivileged process may ask for (fs.pipe-max-size). With the default 64 KiB
// a burst of rows fills it, bpftrace blocks writing, stops draining its perf
// buffers and loses events.
func growPipe(f *os.File) {
	const fSetPipeSz = 1031 // F_SETPIPE_SZ
	if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeNamedPipe != 0 {
		_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), fSetPipeSz, 1<<20)
	}
}
