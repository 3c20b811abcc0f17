// Command netflow-trace-filter: see doc.go.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func init() {
	// As early as possible: a stop signal to scripts/netflow-trace's process group must not
	// end the filter before bpftrace's last words.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
}

func main() {
	err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
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
