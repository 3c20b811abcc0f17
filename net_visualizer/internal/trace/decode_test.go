package trace

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func captureLine(t *testing.T, name string, n int) []byte {
	t.Helper()
	b, err := os.ReadFile("../cli/testdata/formats/" + name)
	require.NoError(t, err)
	return []byte(strings.Split(string(b), "\n")[n])
}

// Each line goes to its own decoder, the line format first.
func TestDecoderOrder(t *testing.T) {
	var names []string
	for _, d := range Decoders {
		names = append(names, d.Name)
	}
	assert.Equal(t, []string{"line", "bpftrace-json", "netmon", "tracee"}, names)
	for line, want := range map[string]string{
		"127.0.0.1:80→127.0.0.1:4000|pid=1 comm=a":                   "line",
		"proc pid=1 args=a":                                          "line",
		"# clock monotonic=1 realtime=2026-12-02T05:30:11Z":          "line",
		"not a line at all":                                          "line", // an error of the line format's
		`{"type": "printf", "data": "x\n"}`:                          "bpftrace-json",
		`{"type": "attached_probes", "data": {"probes": 3}}`:         "bpftrace-json",
		string(captureLine(t, "netmon.jsonl", 1)):                    "netmon",
		string(captureLine(t, "tracee-release.jsonl", 0)):            "tracee",
		string(captureLine(t, "tracee-new.jsonl", 0)):                "tracee",
		`{"eventName":"security_file_open","processId":1,"args":[]}`: "tracee",
		`{"some":"json"}`:                                            "",
		`{"type":"NetworkEvent",`:                                    "",
	} {
		assert.Equal(t, want, DecoderOf([]byte(line)), line)
	}
	var p Parser
	var ev Event
	_, err := p.Parse([]byte(`{"type":"NetworkEvent",`), &ev)
	assert.ErrorContains(t, err, "nor bpftrace JSON, NetMon or tracee JSON")
	kind, err := p.Parse([]byte(`{"eventName":"security_file_open","processId":1,"args":[]}`), &ev)
	assert.NoError(t, err)
	assert.Equal(t, Skip, kind, "tracee's other events are skipped")
}

func TestProcLine(t *testing.T) {
	var p Parser
	var ev Event
	line := `proc pid=4012 ppid=3990 uid=1000 euid=0 gid=1000 egid=1000 auid=4294967295 cap_effective=0x1fffffffff cap_permitted=0 cap_inheritable=0 secureexec=1 start=98412331020 cgroup=7342 container=abc host=web1 exe_path=/usr/bin/my\x20curl args=curl -s a\x20b caf\xc3\xa9 \x5c`
	kind, err := p.Parse([]byte(line), &ev)
	require.NoError(t, err)
	require.Equal(t, ProcLine, kind)
	assert.Equal(t, uint32(4012), ev.PID)
	assert.Equal(t, "web1", ev.Host)
	assert.Equal(t, &Proc{PPID: 3990, UID: 1000, EUID: 0, GID: 1000, EGID: 1000, AUID: 4294967295,
		CapEffective: 0x1fffffffff, SecureExec: true, StartNS: 98412331020, Cgroup: 7342, Container: "abc",
		ExePath: "/usr/bin/my curl", Args: []string{"curl", "-s", "a b", "café", `\`}}, ev.Proc)

	_, err = p.Parse([]byte("proc pid=1 args=a b c..."), &ev)
	require.NoError(t, err)
	assert.True(t, ev.Proc.ArgsTruncated)
	assert.Equal(t, []string{"a", "b", "c"}, ev.Proc.Args)

	for _, bad := range []string{"proc ppid=1 args=x", "proc pid=x args=y", "proc pid=1 cap_effective=zz", "proc pid=1 nokey"} {
		_, err := p.Parse([]byte(bad), &ev)
		assert.Error(t, err, bad)
	}
}

func TestClockLineAndPreexisting(t *testing.T) {
	var p Parser
	var ev Event
	kind, err := p.Parse([]byte("# clock monotonic=98760004215 realtime=2026-12-02T05:30:11.123456789Z"), &ev)
	require.NoError(t, err)
	require.Equal(t, ClockLine, kind)
	assert.Equal(t, Clock{MonotonicNS: 98760004215, RealtimeNS: 1796189411123456789}, ev.ClockOf())
	_, err = p.Parse([]byte("# clock monotonic=1"), &ev)
	assert.Error(t, err)

	kind, err = p.Parse([]byte("10.0.0.5:5432→10.0.0.2:40312|pid=812 conn=x preexisting=1 comm=php"), &ev)
	require.NoError(t, err)
	require.Equal(t, EventLine, kind)
	assert.True(t, ev.Preexisting)
	v, ok := ev.Attr("preexisting")
	assert.True(t, ok && v == "1", "preexisting stays an attribute")
}

func TestNetMonProcess(t *testing.T) {
	var p Parser
	var ev Event
	kind, err := p.Parse(captureLine(t, "netmon.jsonl", 0), &ev)
	require.NoError(t, err)
	require.Equal(t, ProcLine, kind, "an accept names the listener only: its process is what it gives")
	assert.Equal(t, uint32(3977), ev.PID)
	assert.Equal(t, uint64(allCaps), ev.Proc.CapEffective)
	assert.Equal(t, "/usr/sbin/nginx", ev.Proc.ExePath)
	assert.Equal(t, []string{"nginx", "-g", "daemon", "off;"}, ev.Proc.Args)

	kind, err = p.Parse(captureLine(t, "netmon.jsonl", 3), &ev)
	require.NoError(t, err)
	require.Equal(t, EventLine, kind)
	assert.Equal(t, In, ev.Dir, "the close of the end with the lower port is the server's")
	assert.Equal(t, "2", ev.Conn)
	assert.Equal(t, EndUnknown, ev.Close.End)

	n, err := capSet([]byte(`"CAP_NET_RAW|CAP_SYS_ADMIN"`))
	require.NoError(t, err)
	assert.Equal(t, uint64(1<<13|1<<21), n)
	_, err = capSet([]byte(`"CAP_NOPE"`))
	assert.Error(t, err)

	hostile := strings.Replace(string(captureLine(t, "netmon.jsonl", 1)), `"filename":"curl"`, `"filename":"a\nb|pid=9 comm=x"`, 1)
	kind, err = p.Parse([]byte(hostile), &ev)
	require.NoError(t, err)
	require.Equal(t, EventLine, kind)
	assert.Equal(t, `a\x0ab|pid=9 comm=x`, ev.Comm, "a name is escaped as the tracers print it")
	var again Event
	_, err = p.Parse(ev.AppendLine(nil), &again)
	require.NoError(t, err)
	assert.Equal(t, ev.Comm, again.Comm)
	assert.Equal(t, uint32(4012), again.PID)
}

// TestProcPathCut: the tracer cuts a deep path at its top (".../") and a long last
// component at its end ("..."); both are read as cut short, the path as printed.
func TestProcPathCut(t *testing.T) {
	for _, c := range []struct {
		line, path string
	}{
		{"proc pid=7 exe_path=.../lib/x/bin/prog args=prog", ".../lib/x/bin/prog"},
		{"proc pid=7 exe_path=/usr/bin/verylongna... args=prog", "/usr/bin/verylongna"},
	} {
		var p Parser
		var ev Event
		kind, err := p.Parse([]byte(c.line), &ev)
		if err != nil || kind != ProcLine {
			t.Fatalf("%q: kind %v, %v", c.line, kind, err)
		}
		if ev.Proc.ExePath != c.path || !ev.Proc.ExeTruncated {
			t.Errorf("%q: exe_path %q, truncated %v; want %q, true", c.line, ev.Proc.ExePath, ev.Proc.ExeTruncated, c.path)
		}
	}
}
