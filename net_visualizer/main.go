// Command net_visualizer draws which process talks to which over TCP, from the lines that
// ebpf_netflow_tracer prints, as a Graphviz graph (DOT, JSON, SVG or PNG).
//
//	sudo scripts/netflow-trace | go run ./net_visualizer | dot -Tpng -o graph.png
//	go run ./net_visualizer < examples/proxy/proxy.trace > graph.dot
//
// The manual, also printed by -h, is internal/cli/doc.txt; the line grammar is
// docs/line-format.md. This file is the whole of package main, so that
// `go run main.go` works from this directory.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"netflow/net_visualizer/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills at once
	}()
	os.Exit(cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
