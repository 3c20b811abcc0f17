package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"io"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lineRE is docs/line-format.md for the lines netflow-gen writes: remote, arrow, local,
// then pid= tid= uid= [ret=] and comm= last, running to the end of the line.
var lineRE = regexp.MustCompile(`^(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:.]+\]):(\d+)(→|←)(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:.]+\]):(\d+)\|pid=(\d+) tid=(\d+) uid=(\d+)(?: ret=(-?\d+))? comm=(.*)$`)

type event struct {
	remote, local netip.AddrPort
	out           bool // →
	pid, tid      int
	ret           string
	comm          string // as printed
	n             int    // line number, from 1
}

func parseAddrPort(t *testing.T, host, port string) netip.AddrPort {
	t.Helper()
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	require.NoError(t, err)
	p, err := strconv.ParseUint(port, 10, 16)
	require.NoError(t, err)
	return netip.AddrPortFrom(a.Unmap(), uint16(p))
}

func parse(t *testing.T, out []byte) []event {
	t.Helper()
	var evs []event
	sc := bufio.NewScanner(bytes.NewReader(out))
	for n := 1; sc.Scan(); n++ {
		m := lineRE.FindStringSubmatch(sc.Text())
		require.NotNil(t, m, "line %d does not parse: %q", n, sc.Text())
		pid, _ := strconv.Atoi(m[6])
		tid, _ := strconv.Atoi(m[7])
		evs = append(evs, event{
			remote: parseAddrPort(t, m[1], m[2]), local: parseAddrPort(t, m[4], m[5]),
			out: m[3] == "→", pid: pid, tid: tid, ret: m[9], comm: m[10], n: n,
		})
	}
	require.NoError(t, sc.Err())
	return evs
}

func gen(t *testing.T, mod func(*config)) ([]byte, stats) {
	t.Helper()
	cfg := defaultConfig()
	cfg.Connections = 20_000
	cfg.Stats = true
	if mod != nil {
		mod(&cfg)
	}
	require.NoError(t, cfg.check())
	var buf bytes.Buffer
	st, err := generate(&buf, cfg)
	require.NoError(t, err)
	return buf.Bytes(), st
}

var localAddrs = map[string]bool{"127.0.0.1": true, "127.0.0.53": true, hostV4: true, "::1": true, hostV6: true}

func isLocal(a netip.AddrPort) bool { return localAddrs[a.Addr().String()] }

type tuple struct{ client, server netip.AddrPort }

func (e event) tuple() tuple {
	if e.out {
		return tuple{e.local, e.remote}
	}
	return tuple{e.remote, e.local}
}

// shape is what a test can see from the lines alone.
type shape struct {
	pairs     map[tuple][2]*event // [0] the → line, [1] the ← line
	external  int                 // → lines to non-local addresses
	inbound   int                 // ← lines from non-local addresses
	v6        int                 // connections over IPv6 (mapped addresses count as IPv4)
	procs     map[string]bool     // "pid/comm"
	hosts     map[netip.Addr]bool // external addresses
	edges     map[[2]string]bool
	maxApart  int
	reversed  int // pairs whose ← line comes first
	notNext   int // pairs more than one line apart
	dupTuples int // 4-tuples seen on two → or two ← lines
}

func measure(t *testing.T, evs []event) shape {
	t.Helper()
	s := shape{pairs: map[tuple][2]*event{}, procs: map[string]bool{}, hosts: map[netip.Addr]bool{}, edges: map[[2]string]bool{}}
	for i := range evs {
		e := &evs[i]
		node := strconv.Itoa(e.pid) + "/" + e.comm
		s.procs[node] = true
		remoteLocal := isLocal(e.remote)
		require.True(t, isLocal(e.local), "line %d: local end %v is not this host", e.n, e.local)
		switch {
		case e.out && !remoteLocal:
			s.external++
			s.hosts[e.remote.Addr()] = true
			s.edges[[2]string{node, "ext:" + e.remote.String()}] = true
		case !e.out && !remoteLocal:
			s.inbound++
			s.hosts[e.remote.Addr()] = true
			s.edges[[2]string{"ext:" + e.remote.Addr().String(), node}] = true
		default:
			k := e.tuple()
			p := s.pairs[k]
			side := 0
			if !e.out {
				side = 1
			}
			if p[side] != nil {
				s.dupTuples++
			}
			p[side] = e
			s.pairs[k] = p
			continue
		}
		if e.remote.Addr().Is6() {
			s.v6++
		}
	}
	for k, p := range s.pairs {
		require.NotNil(t, p[0], "connection %v has no → line", k)
		require.NotNil(t, p[1], "connection %v has no ← line", k)
		if k.server.Addr().Is6() {
			s.v6++
		}
		apart := p[1].n - p[0].n
		if apart < 0 {
			s.reversed++
			apart = -apart
		}
		s.maxApart = max(s.maxApart, apart)
		if apart > 1 {
			s.notNext++
		}
		s.edges[[2]string{strconv.Itoa(p[0].pid) + "/" + p[0].comm, strconv.Itoa(p[1].pid) + "/" + p[1].comm}] = true
	}
	return s
}

func TestShape(t *testing.T) {
	out, st := gen(t, nil)
	evs := parse(t, out)
	s := measure(t, evs)

	assert.Equal(t, 20_000, st.Connections)
	assert.Equal(t, st.Connections, st.Local+st.External+st.Inbound)
	assert.Equal(t, 2*st.Local+st.External+st.Inbound, len(evs), "lines = 2×local + external + inbound")
	assert.Equal(t, st.Lines, len(evs))
	assert.Equal(t, int64(len(out)), st.Bytes)
	assert.Equal(t, st.Local, len(s.pairs), "every local connection has its own 4-tuple")
	assert.Zero(t, s.dupTuples)
	assert.Equal(t, st.External, s.external)
	assert.Zero(t, s.inbound)
	assert.InDelta(t, 0.20, float64(s.external)/20_000, 0.02, "external share")
	assert.InDelta(t, 0.10, float64(s.v6)/20_000, 0.015, "IPv6 share")
	assert.Equal(t, st.IPv6, s.v6)
	assert.Len(t, s.procs, 60)
	assert.Equal(t, 60, st.Processes)
	assert.GreaterOrEqual(t, st.ExternalHosts, 38, "a host with few talkers may not show up in a short trace")
	assert.Len(t, s.edges, st.Edges, "the generator counts edges as a reader of its lines does")
	assert.LessOrEqual(t, s.maxApart, 256, "-shuffle-window")
	assert.Greater(t, s.reversed, st.Local/4, "the ← line comes first about half the time")
	assert.Greater(t, s.notNext, st.Local/2)
	assert.Greater(t, s.maxApart, 128, "the window is used")
}

func TestProcessNames(t *testing.T) {
	out, _ := gen(t, func(c *config) { c.Connections = 5000 })
	evs := parse(t, out)
	comms := map[string]bool{}
	tids := map[int]map[int]bool{}
	for _, e := range evs {
		assert.True(t, strings.HasSuffix(e.comm, `\x00`), "line %d: comm %q is not padded", e.n, e.comm)
		name := e.comm
		for strings.HasSuffix(name, `\x00`) {
			name = strings.TrimSuffix(name, `\x00`)
		}
		raw, err := strconv.Unquote(`"` + name + `"`)
		require.NoError(t, err)
		assert.Equal(t, 16, len(raw)+(len(e.comm)-len(name))/4, "line %d: comm %q is not a 16-byte buffer", e.n, e.comm)
		assert.LessOrEqual(t, len(raw), 15)
		comms[name] = true
		if e.out {
			assert.Contains(t, []string{"0", "-115"}, e.ret, "line %d", e.n)
		} else {
			assert.Empty(t, e.ret, "line %d: ret= on an accept", e.n)
		}
		if tids[e.pid] == nil {
			tids[e.pid] = map[int]bool{}
		}
		tids[e.pid][e.tid] = true
		assert.GreaterOrEqual(t, e.tid, e.pid)
	}
	for _, want := range []string{"Web Content", "php-fpm: pool w", "app=api|v2", `caf\xc3\xa9-srv`, "puma 5.6.4 (tcp", "DNS Res~ver #3"} {
		assert.True(t, comms[want], "no process named %q", want)
	}
	multi := 0
	for _, ts := range tids {
		if len(ts) > 1 {
			multi++
		}
	}
	assert.Greater(t, multi, 5, "multi-threaded processes use several tids")

	bare, _ := gen(t, func(c *config) { c.Connections = 5000; c.Pad = false })
	assert.NotContains(t, string(bare), `\x00`)
	assert.Contains(t, string(bare), "comm=Web Content\n")
}

func TestAddresses(t *testing.T) {
	out, _ := gen(t, nil)
	text := string(out)
	// Dual-stack servers print IPv4 peers as mapped addresses; a reader must unmap both.
	assert.Regexp(t, `\n\[::ffff:127\.0\.0\.1\]:\d+←\[::ffff:127\.0\.0\.1\]:443\|`, text)
	assert.Regexp(t, `\n\[::ffff:127\.0\.0\.1\]:\d+→\[::ffff:127\.0\.0\.1\]:\d+\|.* comm=java`, text)
	assert.Regexp(t, `\n127\.0\.0\.53:53→127\.0\.0\.1:\d+\|`, text)
	assert.Regexp(t, `\n\[::1\]:\d+→\[::1\]:\d+\|`, text)
	assert.Regexp(t, `\n\[2001:db8:[0-9a-f:]+\]:\d+→\[2001:db8:0:2::15\]:\d+\|`, text)
	assert.Regexp(t, `\n10\.0\.2\.15:\d+←10\.0\.2\.15:\d+\|`, text)
}

func TestDeterministic(t *testing.T) {
	a, _ := gen(t, nil)
	b, _ := gen(t, nil)
	c, _ := gen(t, func(c *config) { c.Seed = 2 })
	assert.True(t, bytes.Equal(a, b), "same seed, same bytes")
	assert.False(t, bytes.Equal(a, c), "another seed, another trace")

	// The world (who talks to whom) does not depend on -connections: a short trace's
	// edges are among a longer one's.
	short := measure(t, parse(t, mustGen(t, 2000)))
	long := measure(t, parse(t, mustGen(t, 40_000)))
	for e := range short.edges {
		assert.True(t, long.edges[e], "edge %v missing from the longer trace", e)
	}
}

func mustGen(t *testing.T, n int) []byte {
	out, _ := gen(t, func(c *config) { c.Connections = n })
	return out
}

func TestShuffleWindow(t *testing.T) {
	for _, w := range []int{0, 1, 2, 3, 10, 1000} {
		t.Run(strconv.Itoa(w), func(t *testing.T) {
			out, st := gen(t, func(c *config) { c.Connections = 5000; c.Window = w })
			s := measure(t, parse(t, out))
			assert.LessOrEqual(t, s.maxApart, max(w, 1))
			if w <= 2 {
				assert.Equal(t, 1, s.maxApart)
				assert.Zero(t, s.reversed, "→ first when adjacent")
				return
			}
			assert.Greater(t, s.notNext, 0)
			if w >= 5 {
				assert.Greater(t, s.reversed, 0)
			}
			if w >= 10 {
				assert.Greater(t, s.maxApart, w/2)
			}
			assert.Equal(t, st.Local, len(s.pairs))
		})
	}
}

func TestInboundAndShares(t *testing.T) {
	out, st := gen(t, func(c *config) { c.Inbound = 0.1; c.ExternalShare = 0.3; c.IPv6 = 0.5 })
	s := measure(t, parse(t, out))
	assert.Equal(t, st.Inbound, s.inbound)
	assert.InDelta(t, 0.1, float64(s.inbound)/20_000, 0.02)
	assert.InDelta(t, 0.3, float64(s.external)/20_000, 0.02)
	assert.InDelta(t, 0.5, float64(s.v6)/20_000, 0.03)
	assert.Len(t, s.edges, st.Edges)

	out, st = gen(t, func(c *config) { c.ExternalShare = 0; c.IPv6 = 0 })
	s = measure(t, parse(t, out))
	assert.Zero(t, s.external)
	assert.Zero(t, s.v6)
	assert.Equal(t, 2*20_000, st.Lines)

	out, st = gen(t, func(c *config) { c.ExternalShare = 1; c.External = 3 })
	s = measure(t, parse(t, out))
	assert.Equal(t, 20_000, s.external)
	assert.LessOrEqual(t, len(s.hosts), 2*3, "3 hosts, each with an IPv4 and an IPv6 address")
	assert.Equal(t, 3, st.ExternalHosts)
}

func TestProcessCounts(t *testing.T) {
	for _, p := range []int{2, 10, 60, 150} {
		t.Run(strconv.Itoa(p), func(t *testing.T) {
			out, st := gen(t, func(c *config) { c.Processes = p })
			s := measure(t, parse(t, out))
			assert.LessOrEqual(t, len(s.procs), p)
			assert.Equal(t, len(s.procs), st.Processes)
			if p >= 10 {
				assert.Equal(t, p, len(s.procs), "all processes show up in 20,000 connections")
			}
		})
	}
}

// TestDefaultShape checks what doc.go promises for the defaults, from the generator's count.
func TestDefaultShape(t *testing.T) {
	if testing.Short() {
		t.Skip("a million connections")
	}
	cfg := defaultConfig()
	cfg.Stats = true
	st, err := generate(io.Discard, cfg)
	require.NoError(t, err)
	assert.Equal(t, 1_000_000, st.Connections)
	assert.InDelta(t, 1_800_000, st.Lines, 5000)
	assert.InDelta(t, 100_000, st.IPv6, 3000)
	assert.Equal(t, 60, st.Processes)
	assert.Equal(t, 40, st.ExternalHosts)
	assert.Equal(t, 17_630, st.Edges, "doc.go and docs/benchmarks.md quote this number")
}

func TestRun(t *testing.T) {
	var out, errb bytes.Buffer
	require.NoError(t, run([]string{"-connections", "10", "-seed", "3"}, &out, &errb))
	evs := parse(t, out.Bytes())
	assert.Equal(t, 10, (len(evs)+countExternal(evs))/2, "10 connections")
	assert.Empty(t, errb.String())

	out.Reset()
	require.NoError(t, run([]string{"-connections", "10", "-stats"}, &out, &errb))
	assert.Contains(t, errb.String(), "distinct edges")

	errb.Reset()
	err := run([]string{"-h"}, &out, &errb)
	assert.True(t, errors.Is(err, flag.ErrHelp))
	for _, f := range []string{"-connections", "-processes", "-external ", "-external-share", "-inbound", "-ipv6", "-seed", "-shuffle-window", "-pad", "-stats"} {
		assert.Contains(t, errb.String(), f, "-h documents %s", f)
	}

	for _, args := range [][]string{
		{"-ipv6", "1.5"}, {"-external-share", "-0.1"}, {"-processes", "0"}, {"-connections", "-1"},
		{"-external-share", "0.7", "-inbound", "0.5"}, {"-nope"}, {"extra"},
	} {
		err := run(args, io.Discard, io.Discard)
		assert.True(t, errors.As(err, new(usageError)), "%v: %v", args, err)
	}
}

// countExternal counts the single-line connections of a parsed trace.
func countExternal(evs []event) int {
	n := 0
	for _, e := range evs {
		if !isLocal(e.remote) {
			n++
		}
	}
	return n
}

func BenchmarkGenerate(b *testing.B) {
	cfg := defaultConfig()
	cfg.Connections = 100_000
	var lines, bytes int64
	b.ResetTimer()
	for range b.N {
		st, err := generate(io.Discard, cfg)
		if err != nil {
			b.Fatal(err)
		}
		lines += int64(st.Lines)
		bytes += st.Bytes
	}
	b.SetBytes(bytes / int64(b.N))
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
}
