package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// A listener on 127.0.0.1:8080 and one connection to it, and a listener on [::1]:8080 and a
// dual-stack socket's connection, in the layout Linux 6.18 prints (header, padding).
const procNetTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41230 1 0000000000000000 100 0 0 10 0                     
   1: 0100007F:1F90 0100007F:D6A2 01 00000000:00000000 00:00000000 00000000     0        0 41233 1 0000000000000000 20 4 30 10 -1                    
`
const procNetTCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 51230 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:C350 0000000000000000FFFF00000100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 51231 1 0000000000000000 20 4 30 10 -1
`

func TestParseProcNet(t *testing.T) {
	if !littleEndian() {
		t.Skip("the fixtures are a little-endian host's")
	}
	s, err := parseProcNet(strings.NewReader(procNetTCP), false, 7)
	require.NoError(t, err)
	require.Len(t, s, 2)
	assert.Equal(t, sock{netns: 7, state: tcpListen, local: netip.MustParseAddrPort("127.0.0.1:8080"),
		remote: netip.MustParseAddrPort("0.0.0.0:0"), inode: 41230}, s[0])
	assert.Equal(t, sock{netns: 7, state: tcpEstablished, local: netip.MustParseAddrPort("127.0.0.1:8080"),
		remote: netip.MustParseAddrPort("127.0.0.1:54946"), inode: 41233}, s[1])

	s, err = parseProcNet(strings.NewReader(procNetTCP6), true, 7)
	require.NoError(t, err)
	require.Len(t, s, 2)
	assert.Equal(t, netip.MustParseAddrPort("[::1]:8080"), s[0].local)
	assert.Equal(t, uint8(tcpListen), s[0].state)
	assert.Equal(t, netip.MustParseAddrPort("127.0.0.1:50000"), s[1].local, "a mapped address reads as IPv4, as the dump's")
	assert.Equal(t, netip.MustParseAddrPort("127.0.0.1:8080"), s[1].remote)
	assert.Equal(t, uint32(51231), s[1].inode)

	for _, bad := range []string{
		"   0: 0100007F:1F90 00000000:0000 0A\n",                                         // short
		"   0: 0100007G:1F90 00000000:0000 0A 0:0 0:0 0 0 0 1 1\n",                       // not hex
		"   0: 0100007F1F90 00000000:0000 0A 0:0 0:0 0 0 0 1 1\n",                        // no port
		"   0: 0100007F:1F90 00000000:0000 0A 0:0 0:0 0 0 0 socket 1\n",                  // inode
		"   0: 00000000000000000000000001000000:1F90 00000000:0000 0A 0:0 0:0 0 0 0 1\n", // v6 in tcp
	} {
		_, err := parseProcNet(strings.NewReader("header\n"+bad), false, 1)
		assert.Error(t, err, bad)
		assert.Contains(t, err.Error(), "line 2: ", bad)
	}
}

func littleEndian() bool { return binary.NativeEndian.Uint16([]byte{1, 0}) == 1 }

// Both sources list the same sockets of this namespace: a listener and a connection over
// IPv4 and IPv6 that this test holds, with their states and inodes.
func TestProcNetMatchesDiag(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" || os.Getenv("NETFLOW_LIVE") == "1" {
			t.Fatal("not root: entering a network namespace needs it; with CI or NETFLOW_LIVE=1 this test must run")
		}
		t.Skip("not root; set NETFLOW_LIVE=1 to make this a failure")
	}
	var ports []uint16
	hold := func(network string) error {
		addr := "127.0.0.1:0"
		if network == "tcp6" {
			addr = "[::1]:0"
		}
		ln, err := net.Listen(network, addr)
		if err != nil {
			return err
		}
		t.Cleanup(func() { ln.Close() })
		c, err := net.Dial(network, ln.Addr().String())
		if err != nil {
			return err
		}
		t.Cleanup(func() { c.Close() })
		s, err := ln.Accept()
		if err != nil {
			return err
		}
		t.Cleanup(func() { s.Close() })
		ports = append(ports, uint16(ln.Addr().(*net.TCPAddr).Port))
		return nil
	}
	require.NoError(t, hold("tcp4"))
	require.NoError(t, hold("tcp6"))
	mine := func(ss []sock) []sock {
		var out []sock
		for _, s := range ss {
			for _, p := range ports {
				if s.local.Port() == p || s.remote.Port() == p {
					s.cookie = 0
					out = append(out, s)
				}
			}
		}
		return out
	}
	check := func(path string, n int) {
		t.Helper()
		diag, err := dumpNetns(path, 1)
		require.NoError(t, err)
		procnet, err := dumpProcNet(path, 1)
		require.NoError(t, err)
		want := mine(diag)
		require.Len(t, want, n, "per family a listener and both ends of a connection")
		assert.ElementsMatch(t, want, mine(procnet))
		for _, s := range diag {
			if s.cookie == 0 {
				t.Errorf("%v: the dump gave no cookie", s)
			}
		}
	}
	check("/proc/self/ns/net", 6)

	// Listed from either, the lines are the same but for conn=, which /proc/net cannot
	// give: the four ends this process holds.
	conn := regexp.MustCompile(` conn=[0-9a-f]+-0`)
	list := func(source string) []string {
		lines, errs := listOpen("/proc", filters{pid: os.Getpid()}, source)
		require.Empty(t, errs)
		var out []string
		for _, l := range lines {
			out = append(out, l.line)
		}
		return out
	}
	fromDiag, fromProc := list("diag"), list("proc")
	require.Len(t, fromDiag, 4, "%q", fromDiag)
	for i, l := range fromDiag {
		require.Regexp(t, conn, l)
		fromDiag[i] = conn.ReplaceAllString(l, "")
	}
	assert.Equal(t, fromDiag, fromProc)

	// A namespace of the test's own, which no process is in: its sockets were made on a
	// thread inside it, and it is opened by its handle. This namespace's sockets are not
	// in it.
	own := ports
	ports = nil
	ns := make(chan netns.NsHandle, 1)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends in the new namespace
		h, err := netns.New()
		if err != nil {
			errc <- err
			return
		}
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err == nil {
			err = hold("tcp4")
		}
		ns <- h
		errc <- err
	}()
	h := <-ns
	require.NoError(t, <-errc)
	t.Cleanup(func() { h.Close() })
	ports = append(ports, own...)
	check(fmt.Sprintf("/proc/self/fd/%d", int(h)), 3)
}
