// Command netpeer is a tiny TCP peer for the tracer's live tests: one process
// that listens and accepts, another that connects, so that a trace can be
// checked against pids and addresses known in advance.
//
// Usage:
//
//	netpeer server [-listen ADDR] [-n N]
//	netpeer client -connect ADDR [-n N] [-blocking | -reconnect] [-comm NAME] [-expect-fail]
//
// The server listens on ADDR (default 127.0.0.1:0; [::1]:0 for IPv6; [::]:0
// for a dual-stack listener that IPv4 clients reach as IPv4-mapped), prints
//
//	pid=<pid> addr=<ip:port>
//
// once it is listening, accepts N connections (default 1; 0 means until
// stdin is closed), closes each one, and then waits for stdin to be closed
// (EOF) before it exits, so that the test decides when it goes away.
//
// The client prints
//
//	pid=<pid>
//
// then connects to ADDR N times in a row, closing each connection, and prints
// one line per attempt:
//
//	ok local=<ip:port> remote=<ip:port>
//	err <message>
//
// The client exits 0 when every attempt succeeded and 1 otherwise; -expect-fail
// inverts that, for refused connections. Go's net package connects without
// blocking (connect(2) returns EINPROGRESS and the outcome comes later);
// -blocking makes a plain blocking connect(2) instead, whose return value is
// the outcome itself (0, or -ECONNREFUSED at once on loopback). -comm NAME
// renames the connecting thread (prctl PR_SET_NAME, any bytes, 15 at most)
// and implies -blocking, so that the connect(2) runs on that thread.
//
// -reconnect connects the way hiredis (redis-cli) and other C event loops do:
// a non-blocking connect(2) that returns EINPROGRESS, poll(2) until the
// socket is writable, then connect(2) AGAIN on the same socket to learn the
// outcome. The kernel answers the second call with 0 once connected (or with
// the error, ECONNREFUSED), without sending anything: one connection, two
// connect(2) calls. It prints "ok local=... remote=..." like the default mode.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "netpeer: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) < 1 {
		return fmt.Errorf("usage: netpeer server|client [flags]")
	}
	switch args[0] {
	case "server":
		return server(args[1:], stdin, stdout)
	case "client":
		return client(args[1:], stdout)
	default:
		return fmt.Errorf("unknown mode %q: want server or client", args[0])
	}
}

func server(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	n := fs.Int("n", 1, "connections to accept (0: until stdin closes)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// "tcp" keeps [::]:0 dual-stack; "tcp4"/"tcp6" would not.
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Fprintf(stdout, "pid=%d addr=%s\n", os.Getpid(), ln.Addr())

	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, bufio.NewReader(stdin))
		close(stdinClosed)
	}()

	accepted := make(chan error)
	go func() {
		for i := 0; *n == 0 || i < *n; i++ {
			c, err := ln.Accept()
			if err != nil {
				accepted <- err
				return
			}
			fmt.Fprintf(stdout, "accepted remote=%s local=%s\n", c.RemoteAddr(), c.LocalAddr())
			c.Close()
		}
		accepted <- nil
	}()

	select {
	case err := <-accepted:
		if err != nil {
			return err
		}
		<-stdinClosed
		return nil
	case <-stdinClosed:
		return nil
	}
}

func client(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	addr := fs.String("connect", "", "address to connect to (required)")
	n := fs.Int("n", 1, "connections to make")
	expectFail := fs.Bool("expect-fail", false, "exit 0 only if every attempt fails")
	blocking := fs.Bool("blocking", false, "use a blocking connect(2) instead of Go's non-blocking dial")
	comm := fs.String("comm", "", "rename the connecting thread (implies -blocking)")
	reconnect := fs.Bool("reconnect", false, "non-blocking connect(2), poll(2) for writable, connect(2) again")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *comm != "" {
		*blocking = true
		// The name belongs to one thread: keep this goroutine on it, so the
		// blocking connect(2) below is made under the new name.
		runtime.LockOSThread()
		if err := setComm(*comm); err != nil {
			return err
		}
	}
	if *addr == "" {
		return fmt.Errorf("client: -connect ADDR is required")
	}
	fmt.Fprintf(stdout, "pid=%d\n", os.Getpid())
	failed := 0
	for i := 0; i < *n; i++ {
		if *reconnect {
			local, err := dialReconnect(*addr)
			if err != nil {
				failed++
				fmt.Fprintf(stdout, "err %v\n", err)
			} else {
				fmt.Fprintf(stdout, "ok local=%s remote=%s\n", local, *addr)
			}
			continue
		}
		if *blocking {
			if err := dialBlocking(*addr); err != nil {
				failed++
				fmt.Fprintf(stdout, "err %v\n", err)
			} else {
				fmt.Fprintf(stdout, "ok remote=%s\n", *addr)
			}
			continue
		}
		c, err := net.DialTimeout("tcp", *addr, 10*time.Second)
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "err %v\n", err)
			continue
		}
		fmt.Fprintf(stdout, "ok local=%s remote=%s\n", c.LocalAddr(), c.RemoteAddr())
		c.Close()
	}
	switch {
	case *expectFail && failed != *n:
		return fmt.Errorf("client: %d of %d connections succeeded, want none", *n-failed, *n)
	case !*expectFail && failed != 0:
		return fmt.Errorf("client: %d of %d connections failed", failed, *n)
	}
	return nil
}

// sockaddr is addr as connect(2) takes it, with its address family.
func sockaddr(addr string) (int, syscall.Sockaddr, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return 0, nil, err
	}
	if ap.Addr().Is4() {
		return syscall.AF_INET, &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}, nil
	}
	return syscall.AF_INET6, &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}, nil
}

// dialReconnect makes a non-blocking connect(2), waits with ppoll(2) until
// the socket is writable, and calls connect(2) again on it, whose answer is
// the outcome (0: connected). It returns the local end, then closes.
func dialReconnect(addr string) (netip.AddrPort, error) {
	family, sa, err := sockaddr(addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
	if err != nil {
		return netip.AddrPort{}, os.NewSyscallError("socket", err)
	}
	defer syscall.Close(fd)
	if err := syscall.Connect(fd, sa); err != nil && err != syscall.EINPROGRESS {
		return netip.AddrPort{}, os.NewSyscallError("connect", err)
	}
	// struct pollfd; POLLOUT is 0x4. Writable means connected or failed.
	pfd := struct {
		fd             int32
		events, revent int16
	}{fd: int32(fd), events: 0x4}
	for pfd.revent == 0 {
		_, _, errno := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, 0, 0, 0, 0)
		if errno != 0 && errno != syscall.EINTR {
			return netip.AddrPort{}, os.NewSyscallError("ppoll", errno)
		}
	}
	if err := syscall.Connect(fd, sa); err != nil {
		return netip.AddrPort{}, os.NewSyscallError("second connect", err)
	}
	local, err := syscall.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}, os.NewSyscallError("getsockname", err)
	}
	switch a := local.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)), nil
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port)), nil
	}
	return netip.AddrPort{}, fmt.Errorf("getsockname: unexpected %T", local)
}

// dialBlocking connects a blocking TCP socket to addr and closes it.
func dialBlocking(addr string) error {
	family, sa, err := sockaddr(addr)
	if err != nil {
		return err
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer syscall.Close(fd)
	return os.NewSyscallError("connect", syscall.Connect(fd, sa))
}

// setComm renames the calling thread, as prctl(PR_SET_NAME) does.
func setComm(name string) error {
	b := append([]byte(name), 0)
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0); errno != 0 {
		return os.NewSyscallError("prctl", errno)
	}
	return nil
}
