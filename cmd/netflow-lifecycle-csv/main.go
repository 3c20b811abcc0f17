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
