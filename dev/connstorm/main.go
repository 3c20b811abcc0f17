// Connstorm is a TCP connection-storm benchmark over loopback; see doc.go or run connstorm -h.
package main

import (
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

//go:embed doc.go
var doc string

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "server" {
		err = serve(os.Args[2:], os.Stdin, os.Stdout)
	} else {
		err = run(os.Args[1:], serverCommand, os.Stdout, os.Stderr)
	}
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "connstorm: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "connstorm: %v\n", err)
		os.Exit(1)
	}
}

// serverCommand is the server child: this executable, "server", the address and port.
func serverCommand(addr string, port int) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return exec.Command(exe, "server", "-addr", addr, "-port", strconv.Itoa(port)), nil
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// usage is the doc comment of doc.go, without the comment markers and the package clause.
func usage() string {
	s := strings.TrimPrefix(doc, "/*\n")
	if i := strings.Index(s, "*/"); i >= 0 {
		s = s[:i]
	}
	return s
}
