package trace

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fixtures are what tracee's printers write (see tracee.go): both shapes give the same
// events, field by field.
func TestTraceeShapes(t *testing.T) {
	ap := netip.MustParseAddrPort
	curl := &Proc{PPID: 3990, UID: 1000, EUID: 1000, ExePath: "/usr/bin/curl"}
	nginx := &Proc{PPID: 1, UID: 1000, EUID: 1000, ExePath: "/usr/sbin/nginx"}
	want := []Event{
		{Dir: Out, Local: ap("127.0.0.1:51044"), Remote: ap("127.0.0.1:8080"), PID: 4012, Comm: "curl",
			Conn: "o-127.0.0.1:51044-127.0.0.1:8080", Proc: curl},
		{Dir: In, Local: ap("127.0.0.1:8080"), Remote: ap("127.0.0.1:51044"), PID: 3977, Comm: "nginx",
			Conn: "i-127.0.0.1:8080-127.0.0.1:51044", Proc: nginx},
		{Dir: Out, Local: ap("127.0.0.1:51044"), Remote: ap("127.0.0.1:8080"), PID: 4012, Comm: "curl",
			Conn: "o-127.0.0.1:51044-127.0.0.1:8080", Proc: curl, Close: &Close{End: EndUnknown}},
		{Dir: In, Local: ap("127.0.0.1:8080"), Remote: ap("127.0.0.1:51044"), PID: 3977, Comm: "nginx",
			Conn: "i-127.0.0.1:8080-127.0.0.1:51044", Proc: nginx, Close: &Close{End: EndUnknown}},
		{Dir: Out, Local: ap("10.0.0.2:40000"), Remote: ap("93.184.215.14:443"), PID: 4012, Comm: "curl",
			Conn: "o-10.0.0.2:40000-93.184.215.14:443", Proc: curl, RemoteDNS: "example.com"},
	}
	for _, file := range []string{"tracee-release.jsonl", "tracee-new.jsonl"} {
		t.Run(file, func(t *testing.T) {
			for i, w := range want {
				var p Parser
				var ev Event
				kind, err := p.Parse(captureLine(t, file, i), &ev)
				require.NoError(t, err, "line %d", i)
				require.Equal(t, EventLine, kind)
				ev.Seen = false
				w.Count, w.Attrs = 1, ev.Attrs
				assert.Equal(t, w, ev, "line %d", i)
			}
		})
	}
}

// Releases v0.20 to v0.23 name the args' types "const char*", "u16" and "const char **";
// the types are not read, so their lines read the same.
func TestTraceeOldReleaseTypeNames(t *testing.T) {
	line := string(captureLine(t, "tracee-release.jsonl", 4))
	old := strings.NewReplacer(`"type":"string"`, `"type":"const char*"`, `"type":"uint16"`, `"type":"u16"`,
		`"type":"[]string"`, `"type":"const char **"`).Replace(line)
	require.NotEqual(t, line, old)
	var p Parser
	var a, b Event
	_, err := p.Parse([]byte(line), &a)
	require.NoError(t, err)
	_, err = p.Parse([]byte(old), &b)
	require.NoError(t, err)
	a.Seen, b.Seen = false, false
	assert.Equal(t, a, b)
}

// What the fixtures do not show: a process in a container, no executable, a parent known
// only by its namespace pid, names the DNS lookup failed to give (release null, newer an
// EventValue without a value).
func TestTraceeOtherValues(t *testing.T) {
	cases := []struct {
		name, line string
		pid, ppid  uint32
		container  string
		exe        string
	}{
		{"release", `{"processId":7,"parentProcessId":6,"hostProcessId":4100,"hostParentProcessId":0,"userId":0,"processName":"app","executable":{"path":""},"containerId":"c0ffee","eventId":"2013","eventName":"net_flow_tcp_begin","args":[{"name":"conn_direction","type":"string","value":"incoming"},{"name":"src","type":"string","value":"2001:db8::2"},{"name":"dst","type":"string","value":"2001:db8::1"},{"name":"src_port","type":"uint16","value":40001},{"name":"dst_port","type":"uint16","value":443},{"name":"src_dns","type":"[]string","value":null},{"name":"dst_dns","type":"[]string","value":null}]}`,
			4100, 6, "c0ffee", ""},
		{"newer", `{"timestamp":"2026-12-02T05:30:12.001Z","id":2012,"name":"net_flow_tcp_begin","workload":{"process":{"unique_id":1,"host_pid":4100,"pid":7,"real_user":{"id":0},"thread":{"name":"app","unique_id":1,"host_tid":4100,"tid":7},"ancestors":[{"unique_id":2,"host_pid":0,"pid":6}]},"container":{"id":"c0ffee","name":"web","started":true}},"data":[{"name":"conn_direction","str":"incoming"},{"name":"src","str":"2001:db8::2"},{"name":"dst","str":"2001:db8::1"},{"name":"src_port","u_int32":40001},{"name":"dst_port","u_int32":443},{"name":"src_dns","value":null},{"name":"dst_dns","value":null}]}`,
			4100, 6, "c0ffee", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p Parser
			var ev Event
			kind, err := p.Parse([]byte(c.line), &ev)
			require.NoError(t, err)
			require.Equal(t, EventLine, kind)
			assert.Equal(t, c.pid, ev.PID)
			assert.Equal(t, "app", ev.Comm)
			assert.Equal(t, In, ev.Dir)
			assert.Equal(t, netip.MustParseAddrPort("[2001:db8::1]:443"), ev.Local)
			assert.Equal(t, netip.MustParseAddrPort("[2001:db8::2]:40001"), ev.Remote)
			assert.Equal(t, "i-_2001:db8::1_:443-_2001:db8::2_:40001", ev.Conn)
			assert.Empty(t, ev.RemoteDNS)
			require.NotNil(t, ev.Proc)
			assert.Equal(t, c.ppid, ev.Proc.PPID)
			assert.Equal(t, c.container, ev.Proc.Container)
			assert.Equal(t, c.exe, ev.Proc.ExePath)
		})
	}
}

// Which lines are tracee's, and which of its events are read.
func TestTraceeDetection(t *testing.T) {
	newer := string(captureLine(t, "tracee-new.jsonl", 0))
	release := string(captureLine(t, "tracee-release.jsonl", 0))
	cases := []struct {
		name, line string
		kind       Kind
		mine       bool
	}{
		// A newer-shape event whose process is named "eventName" is still a newer one.
		{"newer named eventName", strings.Replace(newer, `"name":"curl"`, `"name":"eventName"`, 1), EventLine, true},
		{"release named name", strings.Replace(release, `"processName":"curl"`, `"processName":"name"`, 1), EventLine, true},
		{"newer other event", `{"timestamp":"2026-12-02T05:30:12Z","id":1015,"name":"sched_process_exec","workload":{"process":{"host_pid":1}},"data":[{"name":"pathname","str":"/bin/ls"}]}`, Skip, true},
		{"release other event", `{"timestamp":1,"eventId":"1015","eventName":"sched_process_exec","processId":1,"args":[]}`, Skip, true},
		{"newer without workload", `{"timestamp":"2026-12-02T05:30:12Z","id":2012,"name":"net_flow_tcp_begin","data":[]}`, Skip, true},
		{"a name alone", `{"name":"x"}`, Skip, false},
		{"no name", `{"eventname2":"x","data":[]}`, Skip, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p Parser
			var ev Event
			kind, err := p.parseTracee([]byte(c.line), &ev)
			if !c.mine {
				assert.Equal(t, ErrNotMine, err)
				return
			}
			assert.NotEqual(t, ErrNotMine, err)
			if c.kind == EventLine {
				require.NoError(t, err)
				assert.Equal(t, uint32(4012), ev.PID)
			}
			assert.Equal(t, c.kind, kind)
		})
	}
}

// A flow event that tracee could not have written is an error that names what is wrong.
func TestTraceeMalformed(t *testing.T) {
	newer := string(captureLine(t, "tracee-new.jsonl", 0))
	release := string(captureLine(t, "tracee-release.jsonl", 0))
	cases := []struct{ name, line, err string }{
		{"newer egress", strings.Replace(newer, `"str":"outgoing"`, `"str":"egress"`, 1), `conn_direction "egress" is not incoming or outgoing`},
		{"release ingress", strings.Replace(release, `"value":"outgoing"`, `"value":"ingress"`, 1), `conn_direction "ingress" is not incoming or outgoing`},
		{"newer port too big", strings.Replace(newer, `"u_int32":8080`, `"u_int32":70000`, 1), "dst_port is not a port number"},
		{"newer port as str", strings.Replace(newer, `"u_int32":8080`, `"str":"8080"`, 1), "dst_port is not a port number"},
		{"release port too big", strings.Replace(release, `"value":8080`, `"value":70000`, 1), `dst_port: "70000" is not a port number`},
		{"release port null", strings.Replace(release, `"value":8080`, `"value":null`, 1), `dst_port: "null" is not a port number`},
		{"newer src not a string", strings.Replace(newer, `"name":"src","str":"127.0.0.1"`, `"name":"src","u_int32":1`, 1), "src is not a string"},
		{"newer dns not a list", strings.Replace(newer, `"name":"dst_dns","str_array":{}`, `"name":"dst_dns","str":"a"`, 1), "dst_dns is not a list of names"},
		{"release bad address", strings.Replace(release, `"value":"127.0.0.1"`, `"value":"localhost"`, 1), `src: "localhost" is not an IP address`},
		{"newer without src_port", strings.Replace(newer, `{"name":"src_port","u_int32":51044},`, "", 1), "net_flow_tcp_begin without src_port"},
		{"release without dst", strings.Replace(release, `{"name":"dst","type":"string","value":"127.0.0.1"},`, "", 1), "net_flow_tcp_begin without dst"},
		{"newer without workload", `{"timestamp":"2026-12-02T05:30:12Z","id":2012,"name":"net_flow_tcp_begin","data":[]}`, "net_flow_tcp_begin without workload.process"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.NotContains(t, []string{newer, release}, c.line, "the replacement must change the line")
			var p Parser
			var ev Event
			_, err := p.Parse([]byte(c.line), &ev)
			assert.ErrorContains(t, err, c.err)
		})
	}
}
