package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// result is what a storm did: the facts connstorm writes.
type result struct {
	ClientPID, ServerPID int
	Addr                 netip.Addr
	Port                 int
	Connections, Errors  int64
	Seconds              float64
}

func (r result) rate() float64 { return float64(r.Connections) / max(r.Seconds, 1e-9) }

func (r result) facts() string {
	return fmt.Sprintf("client_pid=%d\nserver_pid=%d\nserver_addr=%s\nserver_port=%d\nconnections=%d\nerrors=%d\nseconds=%.3f\nconns_per_sec=%.0f\n",
		r.ClientPID, r.ServerPID, r.Addr, r.Port, r.Connections, r.Errors, r.Seconds, r.rate())
}

type stormConfig struct {
	n, c    int
	addr    netip.Addr
	timeout time.Duration
}

func run(args []string, newServer func(addr string, port int) (*exec.Cmd, error), stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("connstorm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage()) }
	n := fs.Int("n", 50000, "connections to make")
	c := fs.Int("c", 8, "concurrent clients")
	addrText := fs.String("addr", "127.0.0.1", "address to listen on and connect to")
	port := fs.Int("port", 0, "port to listen on; 0 picks a free one")
	timeout := fs.Duration("timeout", 2*time.Minute, "stop starting connections after this")
	factsFile := fs.String("facts", "", "write key=value facts to this file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	switch {
	case fs.NArg() > 0:
		return usageError{fmt.Sprintf("unexpected argument %q (see -h)", fs.Arg(0))}
	case *n < 1:
		return usageError{fmt.Sprintf("-n %d: want 1 or more", *n)}
	case *c < 1:
		return usageError{fmt.Sprintf("-c %d: want 1 or more", *c)}
	case *port < 0 || *port > 65535:
		return usageError{fmt.Sprintf("-port %d: want 0 to 65535", *port)}
	case *timeout <= 0:
		return usageError{fmt.Sprintf("-timeout %v: want more than 0", *timeout)}
	}
	addr, err := netip.ParseAddr(*addrText)
	if err != nil {
		return usageError{fmt.Sprintf("-addr %q: %v", *addrText, err)}
	}
	addr = addr.Unmap()
	if err := checkLocal(addr); err != nil {
		return usageError{err.Error()}
	}

	cmd, err := newServer(addr.String(), *port)
	if err != nil {
		return err
	}
	res, err := storm(cmd, stormConfig{n: *n, c: *c, addr: addr, timeout: *timeout})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d connections in %.2f s: %.0f connections/s (%s, %d clients, %d errors)\n",
		res.Connections, res.Seconds, res.rate(), addr, *c, res.Errors)
	if *factsFile != "" {
		if err := os.WriteFile(*factsFile, []byte(res.facts()), 0o644); err != nil {
			return err
		}
	}
	if res.Connections == 0 {
		return errors.New("no connection succeeded")
	}
	return nil
}

// checkLocal refuses addresses that are not loopback or on one of this host's interfaces.
func checkLocal(addr netip.Addr) error {
	if addr.IsLoopback() {
		return nil
	}
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return err
	}
	for _, a := range ifaddrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Unmap() == addr {
			return nil
		}
	}
	return fmt.Errorf("-addr %s is not an address of this host", addr)
}

// storm starts the server child, runs the clients against it, and stops the child.
func storm(cmd *exec.Cmd, cfg stormConfig) (result, error) {
	res := result{ClientPID: os.Getpid(), Addr: cfg.addr}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return res, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return res, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("starting the server: %v", err)
	}
	// Closing its stdin tells the server to stop; make sure it is gone before returning.
	defer func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()

	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line
	}()
	var line string
	select {
	case line = <-ready:
	case <-time.After(10 * time.Second):
		return res, errors.New("the server did not start listening within 10 s")
	}
	var port, pid int
	if _, err := fmt.Sscanf(line, "listening %d %d\n", &port, &pid); err != nil {
		return res, fmt.Errorf("the server said %q: %v", strings.TrimSpace(line), err)
	}
	if pid != cmd.Process.Pid {
		return res, fmt.Errorf("the server says pid %d, but it was started as pid %d", pid, cmd.Process.Pid)
	}
	res.ServerPID, res.Port = pid, port

	target := net.JoinHostPort(cfg.addr.String(), strconv.Itoa(port))
	var next, ok, failed atomic.Int64
	var mu sync.Mutex
	var firstErr error
	deadline := time.Now().Add(cfg.timeout)
	var wg sync.WaitGroup
	start := time.Now()
	for range cfg.c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: 5 * time.Second}
			buf := make([]byte, 1)
			for next.Add(1) <= int64(cfg.n) && time.Now().Before(deadline) {
				if err := connect(&d, target, buf); err != nil {
					failed.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.Connections, res.Errors = ok.Load(), failed.Load()
	if firstErr != nil {
		fmt.Fprintf(os.Stderr, "connstorm: %d connections failed, the first: %v\n", res.Errors, firstErr)
	}
	return res, nil
}

// connect makes one connection and waits for the server to close it, which proves that
// the server accepted it; then closes its own end.
func connect(d *net.Dialer, target string, buf []byte) error {
	c, err := d.Dial("tcp", target)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(buf); err != io.EOF {
		return fmt.Errorf("waiting for the server to close: %v", err)
	}
	return nil
}

// serve is "connstorm server": listen on -addr at -port (0: a free one), print "listening PORT PID",
// then accept and close connections until stdin is closed.
func serve(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("connstorm server", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1", "address to listen on")
	port := fs.Int("port", 0, "port to listen on; 0 picks a free one")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(*addr, strconv.Itoa(*port)))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening %d %d\n", ln.Addr().(*net.TCPAddr).Port, os.Getpid())
	go func() {
		io.Copy(io.Discard, stdin)
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			time.Sleep(time.Millisecond) // EMFILE and the like: let closes catch up
			continue
		}
		c.Close()
	}
}
