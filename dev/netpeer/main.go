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
//
// # Whole connections
//
// With -end, each connection moves a known number of bytes and ends in a known
// way, so that a tracer's close lines can be checked against it:
//
//	netpeer server -end first|last [-recv N] [-send M] [-hold] [-listen ADDR] [-n N]
//	netpeer client -connect ADDR -end first|last|reset|half [-send N] [-recv M] [-hold] [-netns PATH] [-n N]
//
// The server, on each connection: reads -recv N bytes (default 0; -1: until
// the peer's FIN), writes -send M bytes (default 0), then with -end first
// closes at once (its FIN goes first), with -end last reads until the peer's
// FIN and then closes. -hold: before each accept(2) it waits for a line on
// stdin, so that the test decides when accept(2) runs (a connection the
// client resets before it is accepted).
//
// The client, on each connection, once connected prints
//
//	ok local=<ip:port> remote=<ip:port>
//
// then (-hold: after a line on stdin) writes -send N bytes (default 0) and:
//
//	-end first  reads -recv M bytes (default 0; -1: until EOF) and closes: its
//	            FIN goes first when the server waits for it (server -end last)
//	-end last   reads M bytes, then until the server's FIN, and closes
//	-end reset  sets SO_LINGER {1, 0} and closes: a reset, no FIN (a
//	            load-balancer health check, a scanner); -recv is not read
//	-end half   shutdown(SHUT_WR) (its FIN first), reads until the server's FIN
//	            (-recv is then what it expects, default -1: anything), closes
//
// -netns PATH (/run/netns/NAME) makes the client refuse to open any socket
// unless it runs in that network namespace: a client meant for a test's own
// namespace never sends on the host's network.
//
// Both ends print, for each connection just before close(2), what they did,
// with the kernel's own counters from getsockopt(TCP_INFO) at that moment:
//
//	closed local=<ip:port> remote=<ip:port> sent=<bytes> recv=<bytes> retrans=<tcpi_total_retrans> bytes_acked=<tcpi_bytes_acked> bytes_received=<tcpi_bytes_received> [err=<message>]
//
// sent= and recv= are the bytes write(2) took and read(2) returned (the
// application's payload); err= is the first read or write error, if any (a
// reset connection: "connection reset by peer"). A failed connect prints
// "err <message>" as in the default mode.
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
	"strings"
	"sync"
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
		return client(args[1:], stdin, stdout)
	default:
		return fmt.Errorf("unknown mode %q: want server or client", args[0])
	}
}

func server(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	n := fs.Int("n", 1, "connections to accept (0: until stdin closes)")
	var t talk
	fs.StringVar(&t.end, "end", "", "first: close after sending; last: wait for the peer's FIN, then close")
	fs.Int64Var(&t.recv, "recv", 0, "with -end: bytes to read first (-1: until the peer's FIN)")
	fs.Int64Var(&t.send, "send", 0, "with -end: bytes to write")
	hold := fs.Bool("hold", false, "wait for a line on stdin before each accept")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch t.end {
	case "", "first", "last":
	default:
		return fmt.Errorf("server: -end %q: want first or last", t.end)
	}
	// "tcp" keeps [::]:0 dual-stack; "tcp4"/"tcp6" would not.
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	out := &lockedWriter{w: stdout}
	fmt.Fprintf(out, "pid=%d addr=%s\n", os.Getpid(), ln.Addr())

	// Each line on stdin lets one held accept run; EOF ends the server.
	lines := make(chan struct{}, 1024)
	stdinClosed := make(chan struct{})
	go func() {
		r := bufio.NewReader(stdin)
		for {
			if _, err := r.ReadString('\n'); err != nil {
				close(stdinClosed)
				return
			}
			select {
			case lines <- struct{}{}:
			default:
			}
		}
	}()

	accepted := make(chan error)
	go func() {
		for i := 0; *n == 0 || i < *n; i++ {
			if *hold {
				select {
				case <-lines:
				case <-stdinClosed:
					accepted <- nil
					return
				}
			}
			c, err := ln.Accept()
			if err != nil {
				accepted <- err
				return
			}
			fmt.Fprintf(out, "accepted remote=%s local=%s\n", c.RemoteAddr(), c.LocalAddr())
			if t.end == "" {
				c.Close()
				continue
			}
			// One at a time: the test knows each connection's order.
			t.serve(c.(*net.TCPConn), out)
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

// lockedWriter serialises the lines of goroutines writing to one stdout.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// talk is what one end does on a connection (-end, -send, -recv) and what it
// counted doing it.
type talk struct {
	end        string
	send, recv int64

	sent, got int64
	err       error
}

func (t *talk) fail(err error) {
	if t.err == nil && err != nil {
		t.err = err
	}
}

func (t *talk) write(c *net.TCPConn, n int64) {
	if n <= 0 || t.err != nil {
		return
	}
	w, err := io.CopyN(c, zeros{}, n)
	t.sent += w
	t.fail(err)
}

// read reads n bytes, or until EOF when n < 0.
func (t *talk) read(c *net.TCPConn, n int64) {
	if n == 0 || t.err != nil {
		return
	}
	var r io.Reader = c
	if n > 0 {
		r = io.LimitReader(c, n)
	}
	got, err := io.Copy(io.Discard, r)
	t.got += got
	t.fail(err)
	if err == nil && n > 0 && got < n {
		t.fail(fmt.Errorf("EOF after %d of %d bytes", got, n))
	}
}

// serve is the server's side of one connection.
func (t talk) serve(c *net.TCPConn, out io.Writer) {
	t.read(c, t.recv)
	t.write(c, t.send)
	if t.end == "last" {
		t.read(c, -1)
	}
	t.close(c, out)
}

// close prints the connection's line, TCP_INFO read just before close(2), and closes it.
func (t *talk) close(c *net.TCPConn, out io.Writer) {
	info, ierr := tcpInfoOf(c)
	line := fmt.Sprintf("closed local=%s remote=%s sent=%d recv=%d retrans=%d bytes_acked=%d bytes_received=%d",
		c.LocalAddr(), c.RemoteAddr(), t.sent, t.got, info.totalRetrans(), info.bytesAcked(), info.bytesReceived())
	if ierr != nil {
		t.fail(ierr)
	}
	if t.err != nil {
		line += " err=" + strings.ReplaceAll(t.err.Error(), " ", "_")
	}
	t.fail(c.Close())
	fmt.Fprintln(out, line)
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// tcpInfo is the start of the kernel's struct tcp_info (linux/tcp.h) up to
// tcpi_bytes_received: 8 bytes of u8 fields, 24 u32 (tcpi_rto ..
// tcpi_total_retrans), then u64 tcpi_pacing_rate, tcpi_max_pacing_rate,
// tcpi_bytes_acked, tcpi_bytes_received. The kernel fills what it has.
type tcpInfo struct {
	head [8]uint8
	u32  [24]uint32
	u64  [4]uint64
}

func (i *tcpInfo) totalRetrans() uint32  { return i.u32[23] }
func (i *tcpInfo) bytesAcked() uint64    { return i.u64[2] }
func (i *tcpInfo) bytesReceived() uint64 { return i.u64[3] }

func tcpInfoOf(c *net.TCPConn) (*tcpInfo, error) {
	info := new(tcpInfo)
	rc, err := c.SyscallConn()
	if err != nil {
		return info, err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		size := uint32(unsafe.Sizeof(*info))
		_, _, errno := syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(info)), uintptr(unsafe.Pointer(&size)), 0)
		if errno != 0 {
			serr = os.NewSyscallError("getsockopt TCP_INFO", errno)
		}
	})
	if err == nil {
		err = serr
	}
	return info, err
}

// requireNetns fails unless this process's network namespace is the one at path.
func requireNetns(path string) error {
	want, err := os.Stat(path)
	if err != nil {
		return err
	}
	have, err := os.Stat("/proc/self/ns/net")
	if err != nil {
		return err
	}
	if !os.SameFile(want, have) {
		return fmt.Errorf("-netns %s: this process runs in another network namespace; refusing to connect", path)
	}
	return nil
}

func client(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	addr := fs.String("connect", "", "address to connect to (required)")
	n := fs.Int("n", 1, "connections to make")
	expectFail := fs.Bool("expect-fail", false, "exit 0 only if every attempt fails")
	blocking := fs.Bool("blocking", false, "use a blocking connect(2) instead of Go's non-blocking dial")
	comm := fs.String("comm", "", "rename the connecting thread (implies -blocking)")
	reconnect := fs.Bool("reconnect", false, "non-blocking connect(2), poll(2) for writable, connect(2) again")
	var t talk
	fs.StringVar(&t.end, "end", "", "first, last, reset or half: how each connection ends")
	fs.Int64Var(&t.send, "send", 0, "with -end: bytes to write")
	fs.Int64Var(&t.recv, "recv", 0, "with -end: bytes to read (-1: until EOF; -end half: what to expect)")
	hold := fs.Bool("hold", false, "with -end: once connected, wait for a line on stdin before sending")
	netns := fs.String("netns", "", "refuse to connect unless running in the network namespace at this path")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *netns != "" {
		if err := requireNetns(*netns); err != nil {
			return err
		}
	}
	recvSet := false
	fs.Visit(func(f *flag.Flag) { recvSet = recvSet || f.Name == "recv" })
	switch t.end {
	case "", "first", "last", "reset":
	case "half":
		if !recvSet {
			t.recv = -1
		}
	default:
		return fmt.Errorf("client: -end %q: want first, last, reset or half", t.end)
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
	in := bufio.NewReader(stdin)
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
		if t.end == "" {
			c.Close()
			continue
		}
		if *hold {
			if _, err := in.ReadString('\n'); err != nil {
				c.Close()
				return fmt.Errorf("client: -hold: stdin: %v", err)
			}
		}
		tt := t
		if !tt.converse(c.(*net.TCPConn), stdout) {
			failed++
		}
	}
	switch {
	case *expectFail && failed != *n:
		return fmt.Errorf("client: %d of %d connections succeeded, want none", *n-failed, *n)
	case !*expectFail && failed != 0:
		return fmt.Errorf("client: %d of %d connections failed", failed, *n)
	}
	return nil
}

// converse is the client's side of one connection; false when it went wrong.
func (t *talk) converse(c *net.TCPConn, out io.Writer) bool {
	t.write(c, t.send)
	switch t.end {
	case "first":
		t.read(c, t.recv)
	case "last":
		t.read(c, t.recv)
		if t.recv >= 0 {
			t.read(c, -1)
		}
	case "reset":
		t.fail(c.SetLinger(0))
	case "half":
		if t.err == nil {
			t.fail(c.CloseWrite())
		}
		t.read(c, -1)
		if t.recv >= 0 && t.got != t.recv && t.err == nil {
			t.fail(fmt.Errorf("read %d bytes, want %d", t.got, t.recv))
		}
	}
	t.close(c, out)
	return t.err == nil
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
