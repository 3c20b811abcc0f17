package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// TCP states of the kernel's socket table (include/net/tcp_states.h).
const (
	tcpEstablished = 1
	tcpListen      = 10
)

// sock is one TCP socket of one network namespace, from the kernel's socket dump.
type sock struct {
	netns  uint64 // the namespace's inode
	state  uint8
	local  netip.AddrPort
	remote netip.AddrPort
	inode  uint32 // the socket's inode: "socket:[INODE]" in /proc/PID/fd
	cookie uint64 // the kernel's socket cookie
}

// proc is what a listed line says of the process that holds a socket.
type proc struct {
	pid    int
	uid    string
	comm   []byte // /proc/PID/comm without its newline
	exe    string // escaped as exe= (docs/line-format.md)
	cgroup string
}

// openLine is a listed connection end: its line and the key that a traced line of the
// same end has (see traceKey).
type openLine struct {
	key  string
	line string
}

// filters are scripts/netflow-trace's --pid, --comm and --port, applied to listed lines as
// the kernel applies them to traced ones (0 or "": none).
type filters struct {
	pid  int
	comm string
	port uint16
}

func (fl filters) keep(s sock, p proc) bool {
	if fl.pid != 0 && p.pid != fl.pid {
		return false
	}
	if fl.comm != "" && string(p.comm) != fl.comm {
		return false
	}
	if fl.port != 0 && s.local.Port() != fl.port && s.remote.Port() != fl.port {
		return false
	}
	return true
}

// listOpen lists the established TCP connections of every network namespace that a process
// holds, one line per end (docs/line-format.md, preexisting=1), in the order of their
// namespaces, pids and ports. Errors that stop one namespace are returned with the lines of
// the others.
//
// Each namespace is dumped from the source given: "diag", the kernel's socket dump; "proc",
// /proc/net/tcp{,6} (no cookies, so no conn=); "auto", the dump, or /proc/net where the
// kernel has none (no inet_diag/tcp_diag), said once in the errors.
func listOpen(procDir string, fl filters, source string) ([]openLine, []error) {
	var errs []error
	owners, err := socketOwners(procDir)
	if err != nil {
		return nil, []error{err}
	}
	var socks []sock
	var fellBack []string
	for _, ns := range namespaces(procDir) {
		var s []sock
		var err error
		switch source {
		case "proc":
			s, err = dumpProcNet(ns.path, ns.inode)
		case "diag":
			s, err = dumpNetns(ns.path, ns.inode)
		default:
			s, err = dumpNetns(ns.path, ns.inode)
			if err != nil {
				if p, perr := dumpProcNet(ns.path, ns.inode); perr == nil {
					if fellBack == nil {
						fellBack = append(fellBack, err.Error())
					}
					fellBack = append(fellBack, strconv.FormatUint(ns.inode, 10))
					s, err = p, nil
				}
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("network namespace %d (%s): %w", ns.inode, ns.path, err))
			continue
		}
		socks = append(socks, s...)
	}
	if fellBack != nil {
		errs = append(errs, fmt.Errorf("no socket dump (%s): network namespaces %s listed from /proc/net/tcp{,6}, without conn= (load tcp_diag to have it)",
			fellBack[0], strings.Join(fellBack[1:], ", ")))
	}
	type known struct {
		p  proc
		ok bool
	}
	procs := map[int]known{} // a server holds many: read its /proc once
	info := func(pid int) (proc, bool) {
		k, seen := procs[pid]
		if !seen {
			k.p, k.ok = readProc(procDir, pid)
			procs[pid] = k
		}
		return k.p, k.ok
	}
	lines := openLines(socks, owners, info, fl)
	return lines, errs
}

// openLines turns a socket dump into listed lines: the established sockets a process holds
// (the lowest pid of those holding it), each with its direction (see accepted).
func openLines(socks []sock, owners map[uint32]int, info func(int) (proc, bool), fl filters) []openLine {
	listen := map[uint64][]netip.AddrPort{}
	for _, s := range socks {
		if s.state == tcpListen {
			listen[s.netns] = append(listen[s.netns], s.local)
		}
	}
	type item struct {
		s sock
		p proc
	}
	var items []item
	seen := map[uint32]bool{}
	for _, s := range socks {
		if s.state != tcpEstablished || s.inode == 0 || seen[s.inode] {
			continue
		}
		seen[s.inode] = true
		pid, ok := owners[s.inode]
		if !ok {
			continue // not yet accepted, or the kernel's own
		}
		p, ok := info(pid)
		if !ok || !fl.keep(s, p) {
			continue
		}
		items = append(items, item{s, p})
	}
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if a.p.pid != b.p.pid {
			return a.p.pid < b.p.pid
		}
		return a.s.local.Port() < b.s.local.Port()
	})
	lines := make([]openLine, 0, len(items))
	for _, it := range items {
		in := accepted(it.s.local, listen[it.s.netns])
		lines = append(lines, openLine{key: sockKey(it.s.remote, it.s.local, in), line: formatOpen(it.s, it.p, in)})
	}
	return lines
}

// accepted says whether a socket with local address local is the accepted (server) end: a
// LISTEN socket of its namespace has that port on that address or on the unspecified address
// of either family (a [::] listener takes IPv4 too).
func accepted(local netip.AddrPort, listeners []netip.AddrPort) bool {
	la := local.Addr().Unmap()
	for _, l := range listeners {
		if l.Port() != local.Port() {
			continue
		}
		if a := l.Addr().Unmap(); a.IsUnspecified() || a == la {
			return true
		}
	}
	return false
}

// sockKey is the remote end, the direction and the local end, IPv4-mapped addresses as
// IPv4: what a traced line of the same connection end has (traceKey).
func sockKey(remote, local netip.AddrPort, in bool) string {
	arrow := "→"
	if in {
		arrow = "←"
	}
	return unmap(remote).String() + arrow + unmap(local).String()
}

func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// traceKey is sockKey of a traced open line ("" when it has none).
func traceKey(b []byte) string {
	ends, _, ok := bytes.Cut(b, []byte("|"))
	if !ok {
		return ""
	}
	for _, a := range [...]struct {
		s  string
		in bool
	}{{"→", false}, {"->", false}, {"←", true}, {"<-", true}} {
		r, l, ok := bytes.Cut(ends, []byte(a.s))
		if !ok {
			continue
		}
		remote, err1 := netip.ParseAddrPort(string(bytes.TrimSpace(r)))
		local, err2 := netip.ParseAddrPort(string(bytes.TrimSpace(l)))
		if err1 != nil || err2 != nil {
			return ""
		}
		return sockKey(remote, local, a.in)
	}
	return ""
}

// formatOpen is the listed line of one connection end.
func formatOpen(s sock, p proc, in bool) string {
	var b strings.Builder
	arrow := "→"
	if in {
		arrow = "←"
	}
	b.WriteString(unmap(s.remote).String())
	b.WriteString(arrow)
	b.WriteString(unmap(s.local).String())
	fmt.Fprintf(&b, "|pid=%d uid=%s", p.pid, p.uid)
	if p.exe != "" || p.cgroup != "" {
		fmt.Fprintf(&b, " exe=%s cgroup=%s", p.exe, p.cgroup)
	}
	if s.cookie != 0 { // 0: read from /proc/net, which has no cookies
		fmt.Fprintf(&b, " conn=%x-0", s.cookie)
	}
	fmt.Fprintf(&b, " netns=%d preexisting=1 comm=%s", s.netns, escapeComm(p.comm))
	return b.String()
}

// escapeComm writes a process name as the tracers do: as it is when every byte is printable
// ASCII, else with every other byte as \xNN, padded with \x00 to the kernel's 16 bytes.
func escapeComm(c []byte) string {
	plain := true
	for _, x := range c {
		if x < 0x20 || x > 0x7e {
			plain = false
			break
		}
	}
	if plain {
		return string(c)
	}
	var b strings.Builder
	for _, x := range c {
		if x < 0x20 || x > 0x7e {
			fmt.Fprintf(&b, `\x%02x`, x)
		} else {
			b.WriteByte(x)
		}
	}
	for i := len(c); i < 16; i++ {
		b.WriteString(`\x00`)
	}
	return b.String()
}

// escapeExe writes an executable's file name as exe= (docs/line-format.md): at most 63
// bytes; a byte outside printable ASCII as \xNN; every byte as \xNN when the name holds a
// space or a backslash.
func escapeExe(n string) string {
	if len(n) > 63 {
		n = n[:63]
	}
	return escapeName([]byte(n))
}

// nsRef is a network namespace, by a path that opens it and its inode.
type nsRef struct {
	path  string
	inode uint64
}

// namespaces are the network namespaces of the processes under proc, each once (by inode),
// this process's first; and those that /run/netns holds with no process in them.
func namespaces(proc string) []nsRef {
	var refs []nsRef
	seen := map[uint64]bool{}
	add := func(path string) {
		var st syscall.Stat_t
		if syscall.Stat(path, &st) != nil || seen[st.Ino] {
			return
		}
		seen[st.Ino] = true
		refs = append(refs, nsRef{path, st.Ino})
	}
	add(filepath.Join(proc, "self/ns/net"))
	for _, pid := range pids(proc) {
		add(filepath.Join(proc, strconv.Itoa(pid), "ns/net"))
	}
	if ents, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range ents {
			add(filepath.Join("/run/netns", e.Name()))
		}
	}
	return refs
}

// pids are the processes under proc, lowest first.
func pids(proc string) []int {
	ents, _ := os.ReadDir(proc)
	var ps []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil && n > 0 {
			ps = append(ps, n)
		}
	}
	sort.Ints(ps)
	return ps
}

// dumpNetns is the TCP socket dump (sock_diag, IPv4 and IPv6) of the namespace at path. The
// netlink socket is opened inside it (netlink.NewHandleAt: on a locked OS thread, moved into
// the namespace and back) and the dump made from here.
func dumpNetns(path string, inode uint64) ([]sock, error) {
	h, err := netns.GetFromPath(path)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h, unix.NETLINK_INET_DIAG)
	if err != nil {
		return nil, err
	}
	defer nl.Close()
	var out []sock
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		ss, err := nl.SocketDiagTCP(fam)
		if err != nil {
			return out, fmt.Errorf("sock_diag dump: %w", err)
		}
		for _, s := range ss {
			out = append(out, fromDiag(s, inode))
		}
	}
	return out, nil
}

func fromDiag(s *netlink.Socket, inode uint64) sock {
	addr := func(ip []byte, port uint16) netip.AddrPort {
		a, _ := netip.AddrFromSlice(ip)
		return netip.AddrPortFrom(a.Unmap(), port)
	}
	return sock{
		netns:  inode,
		state:  s.State,
		local:  addr(s.ID.Source, s.ID.SourcePort),
		remote: addr(s.ID.Destination, s.ID.DestinationPort),
		inode:  s.INode,
		cookie: uint64(s.ID.Cookie[1])<<32 | uint64(s.ID.Cookie[0]),
	}
}

// socketOwners maps each socket inode held open by a process to the lowest pid holding it
// (a socket shared by a parent and its children is listed once, with the lowest pid).
func socketOwners(proc string) (map[uint32]int, error) {
	owners := map[uint32]int{}
	ps := pids(proc)
	if len(ps) == 0 {
		return nil, fmt.Errorf("%s: no processes", proc)
	}
	for _, pid := range ps {
		dir := filepath.Join(proc, strconv.Itoa(pid), "fd")
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue // gone, or a kernel thread
		}
		for _, e := range ents {
			t, err := os.Readlink(filepath.Join(dir, e.Name()))
			if err != nil {
				continue
			}
			if n, ok := socketInode(t); ok {
				if _, seen := owners[n]; !seen {
					owners[n] = pid
				}
			}
		}
	}
	return owners, nil
}

// socketInode is INODE of "socket:[INODE]".
func socketInode(link string) (uint32, bool) {
	s, ok := strings.CutPrefix(link, "socket:[")
	if !ok || !strings.HasSuffix(s, "]") {
		return 0, false
	}
	n, err := strconv.ParseUint(s[:len(s)-1], 10, 32)
	return uint32(n), err == nil
}

// readProc reads what a listed line says of process pid.
func readProc(procDir string, pid int) (proc, bool) {
	dir := filepath.Join(procDir, strconv.Itoa(pid))
	comm, err := os.ReadFile(filepath.Join(dir, "comm"))
	if err != nil {
		return proc{}, false
	}
	comm = bytes.TrimSuffix(comm, []byte("\n"))
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return proc{}, false
	}
	uid := "0"
	for _, l := range strings.Split(string(status), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "Uid:" {
			uid = f[1]
		}
	}
	p := proc{pid: pid, uid: uid, comm: comm}
	if exe, err := os.Readlink(filepath.Join(dir, "exe")); err == nil {
		p.exe = escapeExe(filepath.Base(strings.TrimSuffix(exe, " (deleted)")))
	}
	p.cgroup = cgroupID(dir)
	return p, true
}

// cgroupID is the cgroup v2 id of the process at dir (/proc/PID): the inode of its cgroup2
// directory, 1 (the root) without cgroup v2.
func cgroupID(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup"))
	if err != nil {
		return "1"
	}
	for _, l := range strings.Split(string(b), "\n") {
		path, ok := strings.CutPrefix(l, "0::")
		if !ok {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join("/sys/fs/cgroup", path), &st) == nil {
			return strconv.FormatUint(st.Ino, 10)
		}
	}
	return "1"
}
