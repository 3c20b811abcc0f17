package tracer_test

// TestFleetLive traces two "hosts" for real: two network namespaces joined by a
// veth pair, a client in one and servers in the other, plus one loopback
// connection inside each. The capture is split into one file per host, as it
// would be when each machine runs its own tracer, and net_visualizer must join
// the connections between the hosts and keep each host's loopback connection
// inside its host, although the two loopback connections have the very same
// addresses and ports.
//
// Everything the test creates is torn down by t.Cleanup, failure or not: the
// helper processes, the namespaces and with them the veth pair. The only
// addresses used are the documentation ranges 192.0.2.0/24 and 2001:db8::/32,
// inside the two namespaces, which have no route anywhere else.

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fleetComm is the name every helper gives its connecting/accepting thread, so
// that the tracer can drop everything else on the machine in the kernel
// (--comm). Roles are told apart by pid.
const fleetComm = "nffleet"

const (
	fleetTimeout = 2 * time.Minute // generous: the machine is shared
	// The helper processes run as this test binary with this variable set.
	fleetHelperEnv = "NETFLOW_FLEET_HELPER"
)

// The two hosts. The namespace names carry the test's pid, so that two runs
// (two engineers' go test ./..., or scripts/capture-example-fleet, which uses
// nfweb and nfdb) never collide.
type fleetHost struct {
	label   string // the HOST of HOST=FILE
	netns   string
	veth    string
	ip4     netip.Addr
	ip6     netip.Addr
	netmask int
}

func fleetHosts() (web, db fleetHost) {
	id := os.Getpid() % 1000000
	web = fleetHost{label: "web", netns: fmt.Sprintf("nfweb-%d", id), veth: fmt.Sprintf("nfw%d", id),
		ip4: netip.MustParseAddr("192.0.2.1"), ip6: netip.MustParseAddr("2001:db8::1")}
	db = fleetHost{label: "db", netns: fmt.Sprintf("nfdb-%d", id), veth: fmt.Sprintf("nfd%d", id),
		ip4: netip.MustParseAddr("192.0.2.2"), ip6: netip.MustParseAddr("2001:db8::2")}
	return web, db
}

// fleetRequire stops the test unless it can run: root, bpftrace and ip(8).
// Under CI or NETFLOW_LIVE=1 a missing requirement fails the test.
func fleetRequire(t *testing.T) {
	t.Helper()
	var missing string
	switch {
	case os.Geteuid() != 0:
		missing = "not running as root (bpftrace and ip netns need it)"
	default:
		for _, c := range []struct{ cmd, pkg string }{{"bpftrace", "bpftrace"}, {"ip", "iproute2"}} {
			if _, err := exec.LookPath(c.cmd); err != nil {
				missing = fmt.Sprintf("%s not found in PATH (apt-get install %s)", c.cmd, c.pkg)
				break
			}
		}
	}
	if missing == "" {
		return
	}
	if os.Getenv("CI") != "" || os.Getenv("NETFLOW_LIVE") == "1" {
		t.Fatalf("fleet test cannot run: %s; with CI or NETFLOW_LIVE=1 it must", missing)
	}
	t.Skipf("%s; set NETFLOW_LIVE=1 to make this a failure", missing)
}

func fleetRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	require.NoError(t, err, "%s %s:\n%s", name, strings.Join(args, " "), out)
	return string(out)
}

// fleetNetns creates both namespaces, each with loopback up, joined by a veth
// pair, and deletes them when the test ends.
func fleetNetns(t *testing.T, web, db fleetHost) {
	t.Helper()
	for _, h := range []fleetHost{web, db} {
		_, err := os.Stat(filepath.Join("/run/netns", h.netns))
		require.True(t, os.IsNotExist(err), "network namespace %s exists already", h.netns)
	}
	for _, h := range []fleetHost{web, db} {
		fleetRun(t, "ip", "netns", "add", h.netns)
		t.Cleanup(func() {
			// Deleting the namespace deletes the veth end inside it, and with it its peer.
			if out, err := exec.Command("ip", "netns", "del", h.netns).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v\n%s", h.netns, err, out)
			}
		})
	}
	// Created directly inside the namespaces: the veth never exists in this one.
	fleetRun(t, "ip", "link", "add", web.veth, "netns", web.netns, "type", "veth",
		"peer", "name", db.veth, "netns", db.netns)
	for _, h := range []fleetHost{web, db} {
		fleetRun(t, "ip", "-n", h.netns, "addr", "add", h.ip4.String()+"/24", "dev", h.veth)
		// nodad: usable at once, no duplicate address detection to wait for.
		fleetRun(t, "ip", "-n", h.netns, "addr", "add", h.ip6.String()+"/64", "dev", h.veth, "nodad")
		fleetRun(t, "ip", "-n", h.netns, "link", "set", "lo", "up")
		fleetRun(t, "ip", "-n", h.netns, "link", "set", h.veth, "up")
	}
}

// fleetProc is a running helper process (this test binary in helper mode).
type fleetProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	pid   int
	lines chan string // its stdout, line by line; closed at EOF
	out   []string    // every line received so far by expect
}

// fleetStart runs the helper in the namespace netns: ip netns exec execs it, so
// the pid it prints is the pid of the process we started.
func fleetStart(t *testing.T, netns string, args ...string) *fleetProc {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	argv := append([]string{"netns", "exec", netns, self, "-test.run=^TestFleetHelper$", "--"}, args...)
	cmd := exec.Command("ip", argv...)
	cmd.Env = append(os.Environ(), fleetHelperEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &fleetProc{cmd: cmd, stdin: stdin, lines: make(chan string, 64)}
	t.Cleanup(func() {
		p.stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	first := p.expect(t, "pid=")
	p.pid, err = strconv.Atoi(strings.TrimPrefix(first, "pid="))
	require.NoError(t, err, first)
	require.Equal(t, cmd.Process.Pid, p.pid, "ip netns exec must exec the helper, not fork it")
	return p
}

// expect waits for the next line starting with prefix, keeping the others.
func (p *fleetProc) expect(t *testing.T, prefix string) string {
	t.Helper()
	deadline := time.After(fleetTimeout)
	for {
		select {
		case l, ok := <-p.lines:
			require.True(t, ok, "helper %v exited before printing %q; it printed:\n%s", p.cmd.Args, prefix, strings.Join(p.out, "\n"))
			p.out = append(p.out, l)
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-deadline:
			t.Fatalf("helper %v printed no %q within %v", p.cmd.Args, prefix, fleetTimeout)
		}
	}
}

// fleetLines is what the tracer (live_test.go's harness) has printed so far.
func fleetLines(tr *tracer) []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.stdout...)
}

// fleetLine is the part of a trace line the split needs.
type fleetLine struct {
	raw   string
	local netip.Addr // unmapped
	out   bool
	pid   int
}

var fleetLineRE = regexp.MustCompile(`^(?:\d[\d.]*|\[[0-9a-fA-F:.]+\]):\d+(→|←)(\d[\d.]*|\[[0-9a-fA-F:.]+\]):\d+\|(?:.* )?pid=(\d+) `)

func fleetParse(t *testing.T, line string) fleetLine {
	t.Helper()
	m := fleetLineRE.FindStringSubmatch(line)
	require.NotNil(t, m, "not a trace line: %q", line)
	local, err := netip.ParseAddr(strings.Trim(m[2], "[]"))
	require.NoError(t, err, line)
	pid, err := strconv.Atoi(m[3])
	require.NoError(t, err, line)
	return fleetLine{raw: line, local: local.Unmap(), out: m[1] == "→", pid: pid}
}

// fleetSplit assigns each line to a host: by its local address when that is
// one of a host's veth addresses, otherwise (loopback, or the 0.0.0.0 of a
// failed connect) by the network namespace of its process.
func fleetSplit(t *testing.T, lines []fleetLine, hosts []fleetHost, pidHost map[int]string) map[string][]fleetLine {
	t.Helper()
	byHost := map[string][]fleetLine{}
	for _, l := range lines {
		host := ""
		for _, h := range hosts {
			if l.local == h.ip4 || l.local == h.ip6 {
				host = h.label
			}
		}
		if host == "" {
			host = pidHost[l.pid]
			require.NotEmpty(t, host, "no host for %q", l.raw)
		} else {
			assert.Equal(t, pidHost[l.pid], host, "the local address and the process's namespace agree: %s", l.raw)
		}
		byHost[host] = append(byHost[host], l)
	}
	return byHost
}

// fleetGraph is what the test reads of net_visualizer -format json.
type fleetGraph struct {
	Nodes []struct {
		ID, Kind, Host, Comm, Addr string
		Pid                        int
	}
	Edges []struct {
		From, To    string
		Connections int
		Ports       []int
		Failed      bool
	}
}

// fleetEdge names an edge by its ends: "web/1234" for a process, the address
// for an external node.
type fleetEdge struct {
	from, to    string
	connections int
	ports       string
	failed      bool
}

func (g fleetGraph) edges(t *testing.T) []fleetEdge {
	t.Helper()
	name := map[string]string{}
	for _, n := range g.Nodes {
		switch n.Kind {
		case "process":
			name[n.ID] = fmt.Sprintf("%s/%d", n.Host, n.Pid)
		default:
			name[n.ID] = n.Addr
		}
	}
	var es []fleetEdge
	for _, e := range g.Edges {
		require.Contains(t, name, e.From)
		require.Contains(t, name, e.To)
		es = append(es, fleetEdge{from: name[e.From], to: name[e.To], connections: e.Connections,
			ports: fmt.Sprint(e.Ports), failed: e.Failed})
	}
	sort.Slice(es, func(i, j int) bool { return fmt.Sprint(es[i]) < fmt.Sprint(es[j]) })
	return es
}

func fleetVisualize(t *testing.T, bin string, args ...string) fleetGraph {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-format", "json"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "net_visualizer %v:\n%s", args, stderr.String())
	var g fleetGraph
	require.NoError(t, json.Unmarshal(out, &g), "%s", out)
	t.Logf("net_visualizer %v: %s", args, strings.TrimSpace(stderr.String()))
	return g
}

func fleetWrite(t *testing.T, path string, lines []fleetLine) {
	t.Helper()
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.raw + "\n")
	}
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
}

func TestFleetLive(t *testing.T) {
	fleetRequire(t)
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "go.mod"))
	dir := t.TempDir()

	vis := filepath.Join(dir, "net_visualizer")
	buildProgram(t, root, "./net_visualizer", vis)

	web, db := fleetHosts()
	fleetNetns(t, web, db)
	tr := startTracer(t, root, "--comm", fleetComm)

	// db: one dual-stack server for the web host (IPv4 clients reach it as
	// IPv4-mapped addresses) and one on loopback. web: a server on loopback at
	// the same address and port as db's.
	dbServer := fleetStart(t, db.netns, "server", "[::]:5432", "3")
	dbLocal := fleetStart(t, db.netns, "server", "127.0.0.1:7000", "1")
	webLocal := fleetStart(t, web.netns, "server", "127.0.0.1:7000", "1")
	// web's client: twice to db over IPv4, once over IPv6, once to its own
	// loopback server from the fixed port 47000, once to a closed port on db.
	webClient := fleetStart(t, web.netns, "client", "192.0.2.2:5432", "192.0.2.2:5432",
		"[2001:db8::2]:5432", "127.0.0.1:47000/127.0.0.1:7000", "192.0.2.2:5433")
	webClient.expect(t, "done")
	// db's loopback client: the same 4-tuple as web's, 127.0.0.1:47000 → 127.0.0.1:7000.
	dbClient := fleetStart(t, db.netns, "client", "127.0.0.1:47000/127.0.0.1:7000")
	dbClient.expect(t, "done")
	for _, s := range []*fleetProc{dbServer, dbLocal, webLocal} {
		s.expect(t, "done")
	}
	assert.Equal(t, []string{"pid=" + strconv.Itoa(webClient.pid),
		"ok 192.0.2.1 192.0.2.2:5432", "ok 192.0.2.1 192.0.2.2:5432", "ok 2001:db8::1 [2001:db8::2]:5432",
		"ok 127.0.0.1:47000 127.0.0.1:7000", "refused 192.0.2.2:5433", "done"}, fleetStrip(webClient.out))
	assert.Equal(t, []string{"pid=" + strconv.Itoa(dbClient.pid), "ok 127.0.0.1:47000 127.0.0.1:7000", "done"},
		fleetStrip(dbClient.out))

	// Which namespace each process is in, asked of the kernel while they run.
	pidHost := map[int]string{}
	for _, p := range []*fleetProc{dbServer, dbLocal, webLocal, webClient, dbClient} {
		ns := strings.TrimSpace(fleetRun(t, "ip", "netns", "identify", strconv.Itoa(p.pid)))
		switch ns {
		case web.netns:
			pidHost[p.pid] = web.label
		case db.netns:
			pidHost[p.pid] = db.label
		default:
			t.Fatalf("pid %d is in namespace %q", p.pid, ns)
		}
	}

	// 5 connects by webClient, 1 by dbClient, 3+1+1 accepts.
	const want = 11
	var ours []fleetLine
	deadline := time.Now().Add(fleetTimeout)
	for {
		ours = ours[:0]
		for _, l := range fleetLines(tr) {
			if strings.HasPrefix(l, "#") || strings.HasPrefix(l, "close ") || strings.HasPrefix(l, "proc ") {
				continue
			}
			if fl := fleetParse(t, l); pidHost[fl.pid] != "" {
				ours = append(ours, fl)
			}
		}
		if len(ours) >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	tr.stop(t)
	t.Logf("trace:\n%s", tr.text(&tr.stdout))
	require.Len(t, ours, want, "our lines in the trace")
	assert.Regexp(t, `^tracing TCP connect/accept with (kprobe|tracepoint) probes; Ctrl-C to stop(\nnetflow-trace: lost .*)*$`,
		tr.text(&tr.stderr))

	byHost := fleetSplit(t, ours, []fleetHost{web, db}, pidHost)
	require.Len(t, byHost[web.label], 6, "web: 5 connects, 1 accept")
	require.Len(t, byHost[db.label], 5, "db: 4 accepts, 1 connect")
	webTrace, dbTrace := filepath.Join(dir, "web.trace"), filepath.Join(dir, "db.trace")
	fleetWrite(t, webTrace, byHost[web.label])
	fleetWrite(t, dbTrace, byHost[db.label])

	node := func(h fleetHost, p *fleetProc) string { return fmt.Sprintf("%s/%d", h.label, p.pid) }
	wantEdges := []fleetEdge{
		// Across the hosts: IPv4 and IPv6 to the same server port, one edge.
		{from: node(web, webClient), to: node(db, dbServer), connections: 3, ports: "[5432]"},
		// Inside each host, on loopback, never across.
		{from: node(web, webClient), to: node(web, webLocal), connections: 1, ports: "[7000]"},
		{from: node(db, dbClient), to: node(db, dbLocal), connections: 1, ports: "[7000]"},
		{from: node(web, webClient), to: "192.0.2.2:5433", connections: 1, ports: "[5433]", failed: true},
	}
	sort.Slice(wantEdges, func(i, j int) bool { return fmt.Sprint(wantEdges[i]) < fmt.Sprint(wantEdges[j]) })

	// HOST=FILE: every connection waits until the end of the input, so the
	// order of the files does not matter.
	inputs := map[string]string{"web": "web=" + webTrace, "db": "db=" + dbTrace}
	for _, order := range [][]string{{"web", "db"}, {"db", "web"}} {
		t.Run("HOST=FILE "+strings.Join(order, " "), func(t *testing.T) {
			g := fleetVisualize(t, vis, inputs[order[0]], inputs[order[1]])
			assert.Equal(t, wantEdges, g.edges(t))
			hosts := map[int]string{}
			for _, n := range g.Nodes {
				if n.Kind == "process" {
					hosts[n.Pid] = n.Host
					assert.Equal(t, fleetComm, n.Comm)
				}
			}
			assert.Equal(t, pidHost, hosts, "every process, each on its own host")
		})
	}

	// One stream with host= on every line, in the worst order for the loopback
	// connections: both connects before both accepts. A reader that joined
	// loopback lines across hosts would pair web's connect with db's accept.
	//
	// Only the loopback edges are checked: in one stream, net_visualizer
	// draws a connection to an address that no host has shown as its own yet
	// at once, as going outside, so with every connect first the three
	// connections between the hosts are not joined (reported; HOST=FILE
	// inputs wait until the end and do join them).
	t.Run("one stream with host=", func(t *testing.T) {
		var merged []fleetLine
		for _, out := range []bool{true, false} {
			for _, h := range []string{web.label, db.label} {
				for _, l := range byHost[h] {
					if l.out == out {
						l.raw = strings.Replace(l.raw, "|", "|host="+h+" ", 1)
						merged = append(merged, l)
					}
				}
			}
		}
		path := filepath.Join(dir, "merged.trace")
		fleetWrite(t, path, merged)
		var loopback []fleetEdge
		for _, e := range fleetVisualize(t, vis, path).edges(t) {
			if e.ports == "[7000]" {
				loopback = append(loopback, e)
			}
		}
		assert.Equal(t, []fleetEdge{
			{from: node(db, dbClient), to: node(db, dbLocal), connections: 1, ports: "[7000]"},
			{from: node(web, webClient), to: node(web, webLocal), connections: 1, ports: "[7000]"},
		}, loopback)
	})
}

// fleetStrip drops the client's local ports, which the kernel picks; the
// fixed one (47000) is kept.
func fleetStrip(lines []string) []string {
	ephemeral := regexp.MustCompile(`^ok (\S+?|\[\S+\]):\d+ `)
	var out []string
	for _, l := range lines {
		if m := ephemeral.FindStringSubmatch(l); m != nil && !strings.Contains(l, ":47000 ") {
			l = "ok " + strings.Trim(m[1], "[]") + " " + l[len(m[0]):]
		}
		out = append(out, l)
	}
	return out
}

// TestFleetHelper is not a test: TestFleetLive runs this binary with
// NETFLOW_FLEET_HELPER set and helper arguments after "--":
//
//	server ADDR N               listen on ADDR, accept N connections
//	client [LOCAL/]REMOTE ...   connect to each REMOTE in turn (from LOCAL)
//
// It prints "pid=<pid>" once listening (server) or before connecting (client),
// one line per connection, then "done", and exits when stdin is closed. Every
// socket call is made, blocking, on one thread named fleetComm.
func TestFleetHelper(t *testing.T) {
	if os.Getenv(fleetHelperEnv) == "" {
		return
	}
	if err := fleetHelper(flag.Args(), os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "fleet helper: %v\n", err)
		os.Exit(1)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

func fleetHelper(args []string, w io.Writer) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: server ADDR N | client [LOCAL/]REMOTE ...")
	}
	// The name belongs to one thread: keep every socket call on it.
	runtime.LockOSThread()
	name := append([]byte(fleetComm), 0)
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_NAME, uintptr(unsafe.Pointer(&name[0])), 0); errno != 0 {
		return fmt.Errorf("prctl: %w", errno)
	}
	switch args[0] {
	case "server":
		ap, err := netip.ParseAddrPort(args[1])
		if err != nil || len(args) != 3 {
			return fmt.Errorf("server ADDR N: %v", args[1:])
		}
		n, err := strconv.Atoi(args[2])
		if err != nil {
			return err
		}
		fd, err := fleetSocket(ap, ap)
		if err != nil {
			return err
		}
		defer syscall.Close(fd)
		if err := syscall.Listen(fd, 16); err != nil {
			return fmt.Errorf("listen %v: %w", ap, err)
		}
		fmt.Fprintf(w, "pid=%d\n", os.Getpid())
		for i := 0; i < n; i++ {
			c, _, err := syscall.Accept(fd)
			if err != nil {
				return fmt.Errorf("accept: %w", err)
			}
			syscall.Close(c)
			fmt.Fprintln(w, "accepted")
		}
	case "client":
		fmt.Fprintf(w, "pid=%d\n", os.Getpid())
		for _, target := range args[1:] {
			var local netip.AddrPort
			if l, r, ok := strings.Cut(target, "/"); ok {
				var err error
				if local, err = netip.ParseAddrPort(l); err != nil {
					return err
				}
				target = r
			}
			remote, err := netip.ParseAddrPort(target)
			if err != nil {
				return err
			}
			fd, err := fleetSocket(remote, local)
			if err != nil {
				return err
			}
			err = syscall.Connect(fd, fleetSockaddr(remote))
			switch {
			case err == syscall.ECONNREFUSED:
				fmt.Fprintf(w, "refused %v\n", remote)
			case err != nil:
				syscall.Close(fd)
				return fmt.Errorf("connect %v: %w", remote, err)
			default:
				sa, err := syscall.Getsockname(fd)
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "ok %v %v\n", fleetAddrPort(sa), remote)
			}
			syscall.Close(fd)
		}
	default:
		return fmt.Errorf("unknown helper mode %q", args[0])
	}
	fmt.Fprintln(w, "done")
	return nil
}

// fleetSocket makes a TCP socket of remote's family, bound to local when it is
// valid. An IPv6 socket bound to [::] is dual-stack.
func fleetSocket(remote, local netip.AddrPort) (int, error) {
	family := syscall.AF_INET
	if remote.Addr().Is6() {
		family = syscall.AF_INET6
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if family == syscall.AF_INET6 {
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 0)
	}
	if local.IsValid() {
		_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
		if err := syscall.Bind(fd, fleetSockaddr(local)); err != nil {
			syscall.Close(fd)
			return -1, fmt.Errorf("bind %v: %w", local, err)
		}
	}
	return fd, nil
}

func fleetSockaddr(ap netip.AddrPort) syscall.Sockaddr {
	if ap.Addr().Is4() {
		return &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	return &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}

func fleetAddrPort(sa syscall.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
	}
	return netip.AddrPort{}
}
