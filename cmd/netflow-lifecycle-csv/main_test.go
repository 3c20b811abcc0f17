package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fixed makes the output independent of the clock, the zone and the machine.
var fixed = []string{"-machine-id", "m", "-utc", "-clock-offset", "1700000000000000000", "-ready-fd", "0"}

// runOn runs the command on input and returns the output files' contents.
func runOn(t *testing.T, input string, extra ...string) (files []string, stderr string, err error) {
	t.Helper()
	dir := t.TempDir()
	var errBuf bytes.Buffer
	args := append(append([]string{"-d", dir}, fixed...), extra...)
	err = run(context.Background(), args, strings.NewReader(input), io.Discard, &errBuf)
	names, gerr := filepath.Glob(filepath.Join(dir, "linux_trace_v3_test", "m", "*", "nw_conn", "nw_conn_*.csv"))
	require.NoError(t, gerr)
	for _, n := range names {
		b, rerr := os.ReadFile(n)
		require.NoError(t, rerr)
		files = append(files, string(b))
	}
	// The paths in messages vary: say DIR and SESSION instead.
	msg := strings.ReplaceAll(errBuf.String(), dir, "DIR")
	msg = sessionRE.ReplaceAllString(msg, "/SESSION/")
	return files, msg, err
}

var sessionRE = regexp.MustCompile(`/[0-9]{8}_[0-9]{6}_[0-9]{3}/`)

// TestGolden converts testdata/x.raw and compares with testdata/x.csv and
// testdata/x.stderr; go test -update rewrites them.
func TestGolden(t *testing.T) {
	raws, err := filepath.Glob("testdata/*.raw")
	require.NoError(t, err)
	require.NotEmpty(t, raws)
	for _, raw := range raws {
		name := strings.TrimSuffix(raw, ".raw")
		t.Run(filepath.Base(name), func(t *testing.T) {
			in, err := os.ReadFile(raw)
			require.NoError(t, err)
			files, stderr, err := runOn(t, string(in))
			require.NoError(t, err)
			require.Len(t, files, 1)
			if *update {
				require.NoError(t, os.WriteFile(name+".csv", []byte(files[0]), 0o644))
				require.NoError(t, os.WriteFile(name+".stderr", []byte(stderr), 0o644))
			}
			want, err := os.ReadFile(name + ".csv")
			require.NoError(t, err)
			assert.Equal(t, string(want), files[0])
			wantErr, err := os.ReadFile(name + ".stderr")
			require.NoError(t, err)
			assert.Equal(t, string(wantErr), stderr)

			// Every row has the 17 columns, whatever the process name holds.
			rows, err := csv.NewReader(strings.NewReader(files[0])).ReadAll()
			require.NoError(t, err)
			assert.Equal(t, Header, rows[0])
			for _, r := range rows {
				assert.Len(t, r, 17)
			}
		})
	}
}

func TestHostileCommStaysInItsColumn(t *testing.T) {
	for _, comm := range []string{`a,b`, `"q"`, `x\x0ay`, `a "b", c`, `,`, `""`, ` lead`, `\x0d\x0a`} {
		line := "5 CLOSE 1 2 2 1 6 1.2.3.4 80 5.6.7.8 9 3 -1 -1 0 " + comm + `\x00\x00` + "\n"
		files, _, err := runOn(t, line)
		require.NoError(t, err)
		rows, err := csv.NewReader(strings.NewReader(files[0])).ReadAll()
		require.NoError(t, err)
		require.Len(t, rows, 2)
		assert.Equal(t, comm, rows[1][4])
		assert.Equal(t, "0", rows[1][16])
	}
}

func TestParseRaw(t *testing.T) {
	good := "1 CONNECT 2 3 2 1 6 1.2.3.4 5 6.7.8.9 10 11 -1 12 -111 comm with spaces\\x00"
	e, err := parseRaw(good)
	require.NoError(t, err)
	assert.Equal(t, rawEvent{
		Mono: 1, Event: "CONNECT", PID: 2, TID: 3, Family: 2, Type: 1, Proto: 6,
		LAddr: mustAddr("1.2.3.4"), LPort: 5, RAddr: mustAddr("6.7.8.9"), RPort: 10,
		FD: 11, Arg: -1, Lat: 12, Ret: -111, Comm: "comm with spaces",
	}, e)
	for name, line := range map[string]string{
		"too few fields": "1 CONNECT 2 3",
		"unknown event":  strings.Replace(good, "CONNECT", "SEND", 1),
		"bad port":       strings.Replace(good, " 5 ", " 65536 ", 1),
		"bad address":    strings.Replace(good, "1.2.3.4", "1.2.3", 1),
		"bad pid":        strings.Replace(good, " 2 3 ", " -2 3 ", 1),
		"bad ret":        strings.Replace(good, "-111", "x", 1),
	} {
		_, err := parseRaw(line)
		assert.Error(t, err, name)
	}
}

func TestRotation(t *testing.T) {
	in, err := os.ReadFile("testdata/demo.raw")
	require.NoError(t, err)
	whole, _, err := runOn(t, string(in))
	require.NoError(t, err)
	require.Len(t, whole, 1)
	const max = 1000
	parts, _, err := runOn(t, string(in), "-max-bytes", "1000")
	require.NoError(t, err)
	require.Greater(t, len(parts), 2)

	var joined []string
	header := strings.Join(Header, ",") + "\n"
	for i, p := range parts {
		require.True(t, strings.HasPrefix(p, header), "file %d starts with the header", i+1)
		assert.True(t, strings.HasSuffix(p, "\n"), "file %d ends with a whole row", i+1)
		rows := strings.SplitAfter(strings.TrimPrefix(p, header), "\n")
		rows = rows[:len(rows)-1]
		assert.NotEmpty(t, rows, "file %d has rows", i+1)
		if len(rows) > 1 {
			assert.LessOrEqual(t, len(p), max, "file %d", i+1)
		}
		joined = append(joined, rows...)
	}
	assert.Equal(t, strings.TrimPrefix(whole[0], header), strings.Join(joined, ""))
}

func TestSignalWritesWholeRowsAndCloses(t *testing.T) {
	dir := t.TempDir()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-d", dir}, fixed...), pr, io.Discard, io.Discard)
	}()
	in, err := os.ReadFile("testdata/demo.raw")
	require.NoError(t, err)
	_, err = pw.Write(in)
	require.NoError(t, err)
	// Rows reach the disk once the input is idle: wait for the last one.
	lines := strings.Split(strings.TrimSpace(string(in)), "\n")
	var file string
	require.Eventually(t, func() bool {
		names, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*", "nw_conn", "*.csv"))
		if len(names) != 1 {
			return false
		}
		file = names[0]
		b, _ := os.ReadFile(file)
		return strings.Count(string(b), "\n") == len(lines)-2+1 // minus 2 comments, plus header
	}, time.Minute, 10*time.Millisecond)

	// Half a line arrives, then the signal.
	_, err = pw.Write([]byte("1253591124809 SOCKET_CREATE 28796 28796 2 1"))
	require.NoError(t, err)
	cancel()
	require.NoError(t, <-done)
	_ = pw.Close()

	b, err := os.ReadFile(file)
	require.NoError(t, err)
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	require.NoError(t, err)
	assert.Len(t, rows, len(lines)-2+1)
	assert.True(t, bytes.HasSuffix(b, []byte("\n")))
}

func TestReadyHandshake(t *testing.T) {
	pr, pw := io.Pipe()
	var mu sync.Mutex
	var pokes []int
	closeFD = func(fd int) error {
		mu.Lock()
		defer mu.Unlock()
		pokes = append(pokes, fd)
		if len(pokes) == 3 { // the probes are attached on the third try
			go func() { _, _ = pw.Write([]byte("# ready\n")) }()
		}
		return syscall.EBADF
	}
	defer func() { closeFD = syscall.Close }()

	var stderr syncBuffer
	done := make(chan error, 1)
	args := []string{"-d", t.TempDir(), "-machine-id", "m", "-clock-offset", "0"}
	go func() { done <- run(context.Background(), args, pr, io.Discard, &stderr) }()
	_, err := pw.Write([]byte("# netflow_lifecycle: MONO_NS ...\n"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "probes attached") },
		time.Minute, 10*time.Millisecond)
	require.NoError(t, pw.Close())
	require.NoError(t, <-done)

	mu.Lock()
	defer mu.Unlock()
	assert.GreaterOrEqual(t, len(pokes), 3)
	for _, fd := range pokes {
		assert.Equal(t, readyFD, fd)
	}
	assert.Equal(t, 1, strings.Count(stderr.String(), "\n"), "one line on stderr: %q", stderr.String())
}

func TestTracerThatNeverAttachedIsAnError(t *testing.T) {
	closeFD = func(int) error { return syscall.EBADF }
	defer func() { closeFD = syscall.Close }()
	args := []string{"-d", t.TempDir(), "-machine-id", "m"}
	err := run(context.Background(), args, strings.NewReader("# netflow_lifecycle: x\n"), io.Discard, io.Discard)
	assert.ErrorContains(t, err, "before its probes were attached")
}

func TestUsage(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-h"}, strings.NewReader(""), &out, io.Discard)
	assert.True(t, errors.Is(err, flag.ErrHelp))
	assert.Contains(t, out.String(), "-max-bytes N")
	assert.NotContains(t, out.String(), "package main")

	for _, args := range [][]string{{"-max-bytes", "0"}, {"-nope"}, {"extra"}, {"-clock-offset", "soon"}} {
		err := run(context.Background(), append(args, "-machine-id", "m", "-d", t.TempDir()),
			strings.NewReader(""), io.Discard, io.Discard)
		assert.True(t, errors.As(err, new(usageError)), "%v: %v", args, err)
	}
	err = run(context.Background(), []string{"-machine-id", "../x", "-d", t.TempDir()},
		strings.NewReader(""), io.Discard, io.Discard)
	assert.ErrorContains(t, err, "cannot be a directory name")
}

func TestMonotonicOffsetMatchesNsecs(t *testing.T) {
	// bpftrace's nsecs is CLOCK_MONOTONIC; the offset turns it into now.
	off, err := monotonicOffset()
	require.NoError(t, err)
	var ts syscall.Timespec
	_, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 1, uintptrOf(&ts), 0)
	require.Zero(t, e)
	wall := time.Unix(0, ts.Nano()+off)
	// Generous: a wrong clock (boot time, or UTC vs local) is off by far more.
	assert.WithinDuration(t, time.Now(), wall, time.Minute)
}

func uintptrOf(ts *syscall.Timespec) uintptr { return uintptr(unsafe.Pointer(ts)) }

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
