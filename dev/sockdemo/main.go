// Sockdemo is the known program the live socket-lifecycle test traces
// (ebpf_netflow_tracer/lifecycle_test.go). It makes a fixed list of socket
// calls with raw syscalls, blocking, on loopback only, then prints a JSON
// Report of the fds and ports it got, so that the test knows every row the
// tracer must have written for this pid:
//
//   - TCP over IPv4: socket, bind 127.0.0.1:0, listen (backlog 7), a client
//     socket connects (blocking), accept4, shutdown SHUT_WR on the client and
//     SHUT_RDWR on the accepted socket, close both;
//   - a failed bind (the listener's port again: -98 EADDRINUSE) and a bind
//     on a regular file's fd (-88 ENOTSOCK);
//   - a refused connect (-111): to a port that is bound but not listening;
//   - a non-blocking connect (-115 EINPROGRESS, or 0 if loopback was quick),
//     completed with poll and accepted;
//   - TCP over IPv6 ([::1]) unless the host has no IPv6 loopback;
//   - a UDP socket bound to 127.0.0.1:0, a Unix stream socket;
//   - a regular file and a pipe opened and closed, and a socket whose fd the
//     file takes over with dup3 before that fd is closed (none of these
//     closes may give a CLOSE row);
//   - the listener closed last.
//
// With -leak N it only opens N TCP sockets and exits without closing them,
// printing {"PID":..., "LeakFDs":[...]}: the tracer must forget them.
//
// Usage: sockdemo -dir DIR   (DIR: where the regular file is created)
//
//	sockdemo -leak N
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"unsafe"
)

// Report is what sockdemo did; fds and ports as the tracer must show them.
type Report struct {
	PID int

	ListenFD, ListenPort int // 127.0.0.1, backlog 7
	ClientFD, ClientPort int // connected to ListenPort
	AcceptFD             int // accepted ClientPort
	BindBusyFD           int // bind to ListenPort failed: -98
	FileFD               int // a regular file: bind on it failed (-88), then closed
	DupFD                int // a socket, then dup3(FileFD, DupFD): its close is a file's
	PipeFDs              [2]int

	RefusedFD, RefusedPort int // connect to RefusedPort: -111
	DeafFD                 int // bound to RefusedPort, not listening

	NonblockFD, NonblockPort, NonblockRet int // connect returned NonblockRet
	NonblockAcceptFD                      int

	V6                                bool // IPv6 part done
	ListenFD6, ListenPort6            int
	ClientFD6, ClientPort6, AcceptFD6 int

	UDPFD, UDPPort int
	UnixFD         int
}

func main() {
	dir := flag.String("dir", os.TempDir(), "directory for the regular file")
	leak := flag.Int("leak", 0, "only open this many sockets and exit")
	flag.Parse()
	var r any
	var err error
	if *leak > 0 {
		r, err = leakSockets(*leak)
	} else {
		r, err = demo(*dir)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "sockdemo: %v\n", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		fmt.Fprintf(os.Stderr, "sockdemo: %v\n", err)
		os.Exit(1)
	}
}

var loopback4 = [4]byte{127, 0, 0, 1}

func tcp4() (int, error) { return syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0) }

func port(fd int) (int, error) {
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return 0, err
	}
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return sa.Port, nil
	case *syscall.SockaddrInet6:
		return sa.Port, nil
	}
	return 0, fmt.Errorf("fd %d: not an IP socket", fd)
}

func demo(dir string) (r Report, err error) {
	r.PID = os.Getpid()
	step := func(what string, e error) {
		if e != nil && err == nil {
			err = fmt.Errorf("%s: %w", what, e)
		}
	}

	// TCP over IPv4: listen, connect, accept.
	r.ListenFD, err = tcp4()
	step("socket", err)
	step("bind", syscall.Bind(r.ListenFD, &syscall.SockaddrInet4{Addr: loopback4}))
	step("listen", syscall.Listen(r.ListenFD, 7))
	r.ListenPort, _ = port(r.ListenFD)
	r.ClientFD, _ = tcp4()
	step("connect", syscall.Connect(r.ClientFD, &syscall.SockaddrInet4{Addr: loopback4, Port: r.ListenPort}))
	r.ClientPort, _ = port(r.ClientFD)
	r.AcceptFD, _, _ = syscall.Accept4(r.ListenFD, 0)
	step("shutdown", syscall.Shutdown(r.ClientFD, syscall.SHUT_WR))
	step("shutdown", syscall.Shutdown(r.AcceptFD, syscall.SHUT_RDWR))
	step("close", syscall.Close(r.ClientFD))
	step("close", syscall.Close(r.AcceptFD))
	if err != nil {
		return r, err
	}

	// Failed binds: a busy port, and an fd that is not a socket.
	r.BindBusyFD, err = tcp4()
	step("socket", err)
	if e := syscall.Bind(r.BindBusyFD, &syscall.SockaddrInet4{Addr: loopback4, Port: r.ListenPort}); e != syscall.EADDRINUSE {
		step("bind to a busy port", fmt.Errorf("got %v, want EADDRINUSE", e))
	}
	step("close", syscall.Close(r.BindBusyFD))
	f, e := os.Create(filepath.Join(dir, "sockdemo-regular-file"))
	step("create", e)
	if e == nil {
		r.FileFD = int(f.Fd())
		if e := syscall.Bind(r.FileFD, &syscall.SockaddrInet4{Addr: loopback4}); e != syscall.ENOTSOCK {
			step("bind on a file", fmt.Errorf("got %v, want ENOTSOCK", e))
		}
		// A tracked socket's fd taken over by the file (dup3 closes the
		// socket without close(2)): closing the fd is closing a file.
		r.DupFD, e = tcp4()
		step("socket", e)
		step("dup3", syscall.Dup3(r.FileFD, r.DupFD, 0))
		step("close dup", syscall.Close(r.DupFD))
		step("close file", f.Close())
	}
	var p [2]int
	step("pipe", syscall.Pipe(p[:]))
	r.PipeFDs = p
	step("close pipe", syscall.Close(p[0]))
	step("close pipe", syscall.Close(p[1]))

	// Refused: a port that is bound (so nobody else takes it) but not listening.
	r.DeafFD, _ = tcp4()
	step("bind", syscall.Bind(r.DeafFD, &syscall.SockaddrInet4{Addr: loopback4}))
	r.RefusedPort, _ = port(r.DeafFD)
	r.RefusedFD, _ = tcp4()
	if e := syscall.Connect(r.RefusedFD, &syscall.SockaddrInet4{Addr: loopback4, Port: r.RefusedPort}); e != syscall.ECONNREFUSED {
		step("refused connect", fmt.Errorf("got %v, want ECONNREFUSED", e))
	}
	step("close", syscall.Close(r.RefusedFD))
	step("close", syscall.Close(r.DeafFD))

	// Non-blocking connect, completed with poll(POLLOUT).
	r.NonblockFD, e = syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	step("socket", e)
	e = syscall.Connect(r.NonblockFD, &syscall.SockaddrInet4{Addr: loopback4, Port: r.ListenPort})
	switch e {
	case nil:
	case syscall.EINPROGRESS:
		r.NonblockRet = -int(syscall.EINPROGRESS)
		step("poll", pollOut(r.NonblockFD))
	default:
		step("non-blocking connect", e)
	}
	r.NonblockPort, _ = port(r.NonblockFD)
	r.NonblockAcceptFD, _, e = syscall.Accept4(r.ListenFD, 0)
	step("accept", e)
	step("close", syscall.Close(r.NonblockFD))
	step("close", syscall.Close(r.NonblockAcceptFD))
	if err != nil {
		return r, err
	}

	// TCP over IPv6, if there is ::1.
	if fd, e := syscall.Socket(syscall.AF_INET6, syscall.SOCK_STREAM, 0); e == nil {
		lo6 := &syscall.SockaddrInet6{Addr: [16]byte{15: 1}}
		if syscall.Bind(fd, lo6) == nil {
			r.V6, r.ListenFD6 = true, fd
			step("listen6", syscall.Listen(fd, 7))
			r.ListenPort6, _ = port(fd)
			r.ClientFD6, _ = syscall.Socket(syscall.AF_INET6, syscall.SOCK_STREAM, 0)
			step("connect6", syscall.Connect(r.ClientFD6, &syscall.SockaddrInet6{Addr: lo6.Addr, Port: r.ListenPort6}))
			r.ClientPort6, _ = port(r.ClientFD6)
			r.AcceptFD6, _, e = syscall.Accept4(fd, 0)
			step("accept6", e)
			step("close", syscall.Close(r.ClientFD6))
			step("close", syscall.Close(r.AcceptFD6))
		}
		step("close", syscall.Close(fd))
	}

	// UDP and Unix sockets.
	r.UDPFD, e = syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	step("socket udp", e)
	step("bind udp", syscall.Bind(r.UDPFD, &syscall.SockaddrInet4{Addr: loopback4}))
	r.UDPPort, _ = port(r.UDPFD)
	step("close", syscall.Close(r.UDPFD))
	r.UnixFD, e = syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	step("socket unix", e)
	step("close", syscall.Close(r.UnixFD))

	step("close", syscall.Close(r.ListenFD))
	return r, err
}

// leakSockets opens n TCP sockets and leaves them open: the process exits with them.
func leakSockets(n int) (any, error) {
	r := struct {
		PID     int
		LeakFDs []int
	}{PID: os.Getpid()}
	for range n {
		fd, err := tcp4()
		if err != nil {
			return nil, err
		}
		r.LeakFDs = append(r.LeakFDs, fd)
	}
	return r, nil
}

// pollOut waits until fd is writable (its connect finished) and returns the
// connect's result (SO_ERROR).
func pollOut(fd int) error {
	pfd := struct {
		fd             int32
		events, revent int16
	}{fd: int32(fd), events: 0x4} // POLLOUT
	for {
		_, _, e := syscall.Syscall(syscall.SYS_POLL, uintptr(unsafe.Pointer(&pfd)), 1, 10000)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		break
	}
	soerr, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
	if err != nil {
		return err
	}
	if soerr != 0 {
		return syscall.Errno(soerr)
	}
	return nil
}
