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
	"sync/atomic"
	"syscall"

	"netflow/net_visualizer/internal/cli"
)

func main() {
	// The first SIGINT or SIGTERM stops reading and writes the graph; the second ends the
	// run at once, once cli.Abort has removed its temporary file. The handler stays
	// installed for that: restoring the default would let the second signal kill the
	// process before it cleans up, or, when it was started with SIGINT ignored (a script's
	// background job), not end it at all. Notify un-ignores SIGINT in that case.
	ctx, interrupted := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	exit := make(chan int, 2)
	var aborted atomic.Bool
	go func() {
		<-sigs
		interrupted()
		s := <-sigs
		aborted.Store(true) // before Abort, so a Main it ends does not pick the status
		cli.Abort()
		exit <- 128 + int(s.(syscall.Signal))
	}()
	go func() {
		if code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); !aborted.Load() {
			exit <- code
		}
	}()
	os.Exit(<-exit)
}
