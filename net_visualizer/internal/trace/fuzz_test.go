package trace

import (
	"reflect"
	"testing"
)

// FuzzParse checks properties of the parser on any input: it never panics, and an event it
// accepts prints back (AppendLine) to a line that parses to the same event.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"10.0.0.5:5432→10.0.0.2:40312|pid=812 tid=815 uid=33 comm=php-fpm", // valid v4
		"[2001:db8::1]:443←[2001:db8::2]:80|pid=9 comm=curl",               // [v6]:port
		"1.2.3.4:0->5.6.7.8:65535|pid=1 comm=a",                            // port 0 and 65535
		"1.2.3.4:80 5.6.7.8:1|pid=1 comm=a",                                // missing arrow
		"1.2.3.4:80→5.6.7.8:1|pid=1 comm=nginx: worker process",            // comm with spaces
		"1.2.3.4:80→5.6.7.8:1|pid=1 comm=\xff\xfe\x00",                     // invalid UTF-8, NUL
		"[::ffff:1.2.3.4]:80<-[::ffff:1.2.3.4]:1|pid=1 ret=-111 comm=x",    // mapped, ret
		"1.2.3.4:80→5.6.7.8:1|1234 curl",                                   // free form
		"Lost 12 events",                                                   // bpftrace's loss report
		"# line format 2",                                                  // the version line
		// version 2: the spec's close lines, a failed connect's, an open line with conn= and reconnect=
		"close 127.0.0.1:8080→127.0.0.1:51044|pid=4012 uid=1000 conn=ffff8881045b3e00-1a2b3c4d end=local dur_us=1532 sent=12345 recv=54321 retrans=0 connect_us=85 comm=curl",
		"close 127.0.0.1:51044←127.0.0.1:8080|pid=3977 uid=0 conn=ffff888104d21a00-1a2b4f10 end=peer dur_us=1449 sent=54321 recv=12345 retrans=0 comm=nginx",
		"close 1.2.3.4:80->5.6.7.8:0|pid=1 conn=b end=never retrans=2 comm=x",
		"close 1.2.3.4:80->5.6.7.8:1|pid=1 conn=m end=reset-sent sent=18446744073709551615 comm=x", // max uint64
		"close 1.2.3.4:80->5.6.7.8:1|pid=1 conn=m end=local sent=18446744073709551616 comm=x",      // one over
		"127.0.0.1:8080→127.0.0.1:51044|pid=4012 conn=c0ffee reconnect=1 comm=curl",
		// bpftrace v0.17 -f json, as it really prints the arrow and a UTF-8 name
		`{"type": "printf", "data": "[::1]:8080\uffffffe2\uffffff86\uffffff90[::1]:51044|pid=7 comm=caf\uffffffc3\uffffffa9\n"}`,
		// version 3: proc and clock lines, preexisting=1
		`proc pid=4012 ppid=3990 uid=1000 euid=1000 gid=1000 egid=1000 auid=1000 cap_effective=0 cap_permitted=0x1fffffffff cap_inheritable=0 secureexec=0 start=98412331020 cgroup=7342 container= exe_path=/usr/bin/curl args=curl -s http://127.0.0.1:8080/`,
		`proc pid=1 exe_path=/a\x20b... args=a\x5cb c\xc3\xa9...`,
		"proc pid=1 args=",
		"# clock monotonic=98760004215 realtime=2026-12-02T05:30:11.123456789Z",
		"10.0.0.5:5432→10.0.0.2:40312|pid=812 conn=1 preexisting=1 comm=php-fpm",
		// NetMon and tracee (both shapes)
		`{"type":"NetworkEvent","process":{"pid":1,"filename":"x","cap_effective":"ALL_CAPS"},"network_event":{"type":"TcpConnectionClose","saddr":"::1","daddr":"::1","sport":1,"dport":2,"cookie":3}}`,
		`{"eventName":"net_flow_tcp_begin","processId":1,"args":[{"name":"conn_direction","value":"outgoing"},{"name":"src","value":"1.2.3.4"},{"name":"dst","value":"5.6.7.8"},{"name":"src_port","value":1},{"name":"dst_port","value":2},{"name":"dst_dns","value":["a"]}]}`,
		`{"name":"net_flow_tcp_end","workload":{"process":{"host_pid":1}},"data":[{"name":"conn_direction","str":"incoming"},{"name":"src","str":"1.2.3.4"},{"name":"dst","str":"5.6.7.8"},{"name":"src_port","u_int32":1},{"name":"dst_port","u_int32":2}]}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var p Parser
		var ev Event
		kind, err := p.Parse(line, &ev)
		if err == nil && kind == ProcLine {
			checkProcRoundTrip(t, line, &ev)
			return
		}
		if err != nil || kind != EventLine {
			return
		}
		if ev.Close != nil && (ev.Close.End == EndNone || ev.Conn == "" && ev.Count == 1 && !p.sawCount) {
			t.Fatalf("%q: a close line without end= or conn= accepted", line)
		}
		again := ev.AppendLine(nil)
		var ev2 Event
		kind2, err := p.Parse(again, &ev2)
		if err != nil || kind2 != EventLine {
			t.Fatalf("%q parsed, but its canonical form %q does not: %v", line, again, err)
		}
		if ev.Dir != ev2.Dir || ev.Remote != ev2.Remote || ev.Local != ev2.Local || ev.PID != ev2.PID ||
			ev.Comm != ev2.Comm || ev.Ret != ev2.Ret || ev.Count != ev2.Count || ev.Host != ev2.Host ||
			len(ev.Attrs) != len(ev2.Attrs) || (ev.Close == nil) != (ev2.Close == nil) || ev.Conn != ev2.Conn ||
			ev.Reconnect != ev2.Reconnect || ev.Close != nil && *ev.Close != *ev2.Close {
			t.Fatalf("%q → %+v, canonical %q → %+v", line, ev, again, ev2)
		}
		for i := range ev.Attrs {
			if ev.Attrs[i] != ev2.Attrs[i] {
				t.Fatalf("%q: attr %d %v != %v", line, i, ev.Attrs[i], ev2.Attrs[i])
			}
		}
	})
}

// checkProcRoundTrip: a proc line printed back (Proc.AppendLine) parses to the same Proc.
func checkProcRoundTrip(t *testing.T, line []byte, ev *Event) {
	again := ev.Proc.AppendLine(nil, ev.PID, ev.Host)
	var p Parser
	var ev2 Event
	kind, err := p.Parse(again, &ev2)
	if err != nil || kind != ProcLine {
		t.Fatalf("%q → %+v, canonical %q: %v %v", line, ev.Proc, again, kind, err)
	}
	if !reflect.DeepEqual(ev.Proc, ev2.Proc) || ev.PID != ev2.PID || ev.Host != ev2.Host {
		t.Fatalf("%q → %+v, canonical %q → %+v", line, ev.Proc, again, ev2.Proc)
	}
}
