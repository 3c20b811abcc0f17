package main

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInputPipe: from a pipe (bpftrace's output, as scripts/netflow-trace gives it) the
// filter reads in batches, from a pipe enlarged to hold what arrives while it waits.
func TestInputPipe(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	in := input(r)
	b, ok := in.(*batchReader)
	require.True(t, ok, "a pipe is read through batchReader, not %T", in)
	size, _, errno := syscall.Syscall(syscall.SYS_FCNTL, r.Fd(), syscall.F_GETPIPE_SZ, 0)
	require.Zero(t, errno)
	assert.GreaterOrEqual(t, int(size), 1<<20, "pipe buffer")
	// Enlarged: it holds 40 ms of bpftrace at its fastest.
	assert.Equal(t, 40*time.Millisecond, b.wait)
}

// TestInputFile: a file is read as it is, without waits.
func TestInputFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace")
	require.NoError(t, os.WriteFile(path, []byte("x\n"), 0o644))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	assert.Same(t, f, input(f))
}

// shortReads hands out its reads one at a time.
type shortReads struct{ reads []string }

func (s *shortReads) Read(p []byte) (int, error) {
	if len(s.reads) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.reads[0])
	s.reads = s.reads[1:]
	return n, nil
}

// TestBatchReaderWaits: a read that fills less than half the buffer is followed by a wait;
// a fuller one, and the end of the input, are not.
func TestBatchReaderWaits(t *testing.T) {
	var waits []time.Duration
	b := &batchReader{
		r:     &shortReads{reads: []string{"short\n", strings.Repeat("x", 60), "y"}},
		wait:  10 * time.Millisecond,
		sleep: func(d time.Duration) { waits = append(waits, d) },
	}
	p := make([]byte, 100)
	n, err := b.Read(p)
	require.NoError(t, err)
	assert.Equal(t, 6, n)
	assert.Equal(t, []time.Duration{10 * time.Millisecond}, waits, "after a short read")
	_, err = b.Read(p)
	require.NoError(t, err)
	assert.Len(t, waits, 1, "no wait after a read of more than half the buffer")
	_, err = b.Read(p)
	require.NoError(t, err)
	assert.Len(t, waits, 2, "a wait after the short last read")
	_, err = b.Read(p)
	assert.ErrorIs(t, err, io.EOF)
	assert.Len(t, waits, 2, "no wait at the end")
}

// TestOneProc: the filter runs on one P (see init): its CPU per line, not its parallelism,
// is what matters beside bpftrace.
func TestOneProc(t *testing.T) {
	assert.Equal(t, 1, runtime.GOMAXPROCS(0))
}
