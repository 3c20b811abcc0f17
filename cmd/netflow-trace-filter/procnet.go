package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"strconv"

	"github.com/vishvananda/netns"
)

// dumpProcNet is the TCP socket table of the namespace at path as /proc/net/tcp and
// /proc/net/tcp6 show it, for kernels without the socket dump (no inet_diag or tcp_diag).
// Those files show the namespace of the thread that reads them, so they are read from
// /proc/thread-self/net on a locked OS thread moved into the namespace. They carry no
// socket cookie: the socks have cookie 0 (the kernel's cookies start at 1).
func dumpProcNet(path string, inode uint64) ([]sock, error) {
	type result struct {
		socks []sock
		err   error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// Unlocked only when the thread is back in its own namespace: a thread left
		// locked ends with its goroutine, so no other goroutine runs in the wrong one.
		orig, err := netns.Get()
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer orig.Close()
		h, err := netns.GetFromPath(path)
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			ch <- result{nil, err}
			return
		}
		var out []sock
		for _, f := range []struct {
			name string
			v6   bool
		}{{"tcp", false}, {"tcp6", true}} {
			s, err := readProcNetFile("/proc/thread-self/net/"+f.name, f.v6, inode)
			if err != nil {
				err = fmt.Errorf("/proc/net/%s: %w", f.name, err)
			}
			out = append(out, s...)
			if err != nil {
				if netns.Set(orig) == nil {
					runtime.UnlockOSThread()
				}
				ch <- result{out, err}
				return
			}
		}
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{out, nil}
	}()
	r := <-ch
	return r.socks, r.err
}

func readProcNetFile(name string, v6 bool, inode uint64) ([]sock, error) {
	f, err := os.Open(name)
	if err != nil {
		if v6 && os.IsNotExist(err) {
			return nil, nil // IPv6 disabled
		}
		return nil, err
	}
	defer f.Close()
	return parseProcNet(f, v6, inode)
}

// parseProcNet reads a /proc/net/tcp or tcp6 table (net/ipv4/tcp_ipv4.c, get_tcp4_sock;
// net/ipv6/tcp_ipv6.c, get_tcp6_sock): after a header line, one socket a line,
// "sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout
// inode ...", an address the hexadecimal of its bytes as the kernel's 32-bit words print
// (%08X, so each word in host byte order) and a port in hexadecimal.
func parseProcNet(r io.Reader, v6 bool, inode uint64) ([]sock, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	var out []sock
	n := 0
	for sc.Scan() {
		n++
		if n == 1 {
			continue // the header
		}
		f := bytes.Fields(sc.Bytes())
		if len(f) < 10 {
			return out, fmt.Errorf("line %d: %d fields, want at least 10", n, len(f))
		}
		local, err := procNetAddr(f[1], v6)
		if err != nil {
			return out, fmt.Errorf("line %d: local address: %w", n, err)
		}
		remote, err := procNetAddr(f[2], v6)
		if err != nil {
			return out, fmt.Errorf("line %d: remote address: %w", n, err)
		}
		st, err := strconv.ParseUint(string(f[3]), 16, 8)
		if err != nil {
			return out, fmt.Errorf("line %d: state %q: %w", n, f[3], err)
		}
		ino, err := strconv.ParseUint(string(f[9]), 10, 32)
		if err != nil {
			return out, fmt.Errorf("line %d: inode %q: %w", n, f[9], err)
		}
		out = append(out, sock{netns: inode, state: uint8(st), local: local, remote: remote, inode: uint32(ino)})
	}
	return out, sc.Err()
}

// procNetAddr reads "0100007F:1F90" (127.0.0.1:8080 on a little-endian host) or its IPv6
// form of four words.
func procNetAddr(b []byte, v6 bool) (netip.AddrPort, error) {
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		return netip.AddrPort{}, fmt.Errorf("%q: no port", b)
	}
	want := 8
	if v6 {
		want = 32
	}
	if i != want {
		return netip.AddrPort{}, fmt.Errorf("%q: want %d hexadecimal digits before the port", b, want)
	}
	raw := make([]byte, want/2)
	if _, err := hex.Decode(raw, b[:i]); err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: %w", b, err)
	}
	// Each word was printed as a number: its bytes in memory are its host-order bytes.
	for w := 0; w < len(raw); w += 4 {
		binary.NativeEndian.PutUint32(raw[w:], binary.BigEndian.Uint32(raw[w:]))
	}
	port, err := strconv.ParseUint(string(b[i+1:]), 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: port: %w", b, err)
	}
	a, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
}
