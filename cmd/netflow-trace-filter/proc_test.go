package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests' clock: the goldens' clock line is fixed.
func init() {
	clockSource = func() (int64, time.Time) {
		return 98760004215, time.Date(2026, 12, 2, 5, 30, 11, 123456789, time.UTC)
	}
}

// clockLine is the clock line the tests' clock makes.
const clockLine = "# clock monotonic=98760004215 realtime=2026-12-02T05:30:11.123456789Z\n"

func TestReadClockIsMonotonic(t *testing.T) {
	mono, now := readClock()
	up, err := os.ReadFile("/proc/uptime")
	require.NoError(t, err)
	secs, err := strconv.ParseFloat(strings.Fields(string(up))[0], 64)
	require.NoError(t, err)
	// CLOCK_MONOTONIC runs from boot, stopping in suspend: never ahead of uptime, which
	// counts suspend too, and it advances.
	assert.LessOrEqual(t, float64(mono)/1e9, secs+1)
	assert.Greater(t, mono, int64(0))
	mono2, now2 := readClock()
	assert.GreaterOrEqual(t, mono2, mono)
	assert.False(t, now2.Before(now))
}

func TestContainerID(t *testing.T) {
	id := strings.Repeat("0123456789abcdef", 4)
	for _, c := range []struct{ leaf, parent, want string }{
		{"docker-" + id + ".scope", "system.slice", id},
		{"cri-containerd-" + id + ".scope", "kubepods-besteffort.slice", id},
		{"crio-" + id + ".scope", "x", id},
		{"libpod-" + id + ".scope", "machine.slice", id},
		{id, "docker", id},
		{id, "other", ""},
		{"libpod-conmon-" + id + ".scope", "machine.slice", ""},
		{"docker-" + id[:63] + ".scope", "", ""},
		{"docker-" + strings.ToUpper(id) + ".scope", "", ""},
		{"session-3.scope", "user-0.slice", ""},
		{"", "", ""},
	} {
		assert.Equal(t, c.want, containerID([]byte(c.leaf), []byte(c.parent)), c.leaf)
	}
}

// A process's records, hostile names included, make one proc line that nothing in them
// can break: one line, args= last, each argument decodable.
func TestProcRecordsHostile(t *testing.T) {
	rx := func(s string) string {
		var b strings.Builder
		for _, c := range []byte(s) {
			b.WriteString(`\x` + strconv.FormatUint(uint64(c)|0x100, 16)[1:])
		}
		return b.String()
	}
	argv := "a b\x00c\nd\\e\x00\x00é proc pid=1\x00"
	in := strings.Join([]string{
		"# line format 3",
		"p 42 43 1000 1 1000 0 1000 0 4294967295 0 1fffffffff 0 77",
		"pg 43 1 " + rx("docker-"+strings.Repeat("ab", 32)) + " " + rx(".scope\x00junk") + " " + rx("system.slice\x00"),
		"pe 43 0 4 9 3 3 " + rx("p\ny ") + " " + rx("dir space") + " " + rx("usr") + " " + rx("opt"),
		"pe 43 1 3 0 0 0 " + rx("xyz") + "   ",
		"pa 43 0 " + strconv.Itoa(len(argv)) + " " + rx(argv) + "   ",
		"pa 43 256 " + strconv.Itoa(len(argv)) + "    ",
		"127.0.0.1:80→127.0.0.1:4000|pid=42 tid=43 uid=1000 comm=x",
	}, "\n") + "\n"
	var out, errb bytes.Buffer
	require.NoError(t, run(nil, strings.NewReader(in), &out, &errb))
	assert.Empty(t, errb.String())
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 4, out.String())
	assert.Equal(t, "# clock monotonic=98760004215 realtime=2026-12-02T05:30:11.123456789Z", lines[1])
	assert.Equal(t, "proc pid=42 ppid=1 uid=1000 euid=0 gid=1000 egid=0 auid=4294967295 "+
		"cap_effective=0 cap_permitted=0x1fffffffff cap_inheritable=0 secureexec=1 start=1000 cgroup=77 "+
		"container="+strings.Repeat("ab", 32)+" exe_path="+rx("/xyz/opt/usr/dir space/p\ny ")+
		` args=a\x20b c\x0ad\x5ce  \xc3\xa9\x20proc\x20pid=1`, lines[2])
	assert.True(t, strings.HasPrefix(lines[3], "127.0.0.1:80→"))
}

func TestProcRecordsCut(t *testing.T) {
	assert.Equal(t, "a b...", argsText([]byte("a\x00b"), 600))
	assert.Equal(t, ".../b/a", string(exePath([][]byte{[]byte("a"), []byte("b")}, false)))
	assert.Equal(t, "/b/a", string(exePath([][]byte{[]byte("a"), []byte("b")}, true)))
	assert.Equal(t, "", string(exePath(nil, true)))
	// A record of a thread with no head, or malformed, is reported, never printed.
	var out, errb bytes.Buffer
	require.NoError(t, run(nil, strings.NewReader("pa 9 256 3 \\x61   \np 1 2 x\n"), &out, &errb))
	assert.NotContains(t, out.String(), "proc ")
	assert.Equal(t, 2, strings.Count(errb.String(), "malformed process record"))
}
