package trace

// tracee's JSON output (`tracee --output json`), read for its net_flow_tcp_begin and
// net_flow_tcp_end events. The shapes below are checked against tracee's source,
// github.com/aquasecurity/tracee:
//
// Release shape: every release that has the flow events, v0.20.0 to v0.24.1 (2025-11-18,
// commit b40e7f3f8), prints types/trace.Event with encoding/json (pkg/cmd/printer/printer.go,
// jsonEventPrinter.Print): keys from the struct tags in types/trace/trace.go (eventName,
// eventId as a string, processId, hostProcessId, parentProcessId, hostParentProcessId,
// userId, processName, executable.path, hostName, containerId, args, timestamp in epoch
// nanoseconds, ...), args as a list of {name, type, value}. The flow events' args are
// defined in pkg/events/core.go: conn_direction, src, dst (strings), src_port, dst_port
// (uint16), src_dns, dst_dns ([]string; `[]` when the DNS cache has no name, null when the
// lookup failed). Their type names changed in v0.24.0 ("const char*", "u16",
// "const char **" before; "string", "uint16", "[]string" since); they are not read.
//
// Newer shape: tracee's main branch since commit 4af65a12c (2025-11-19; verified at
// 7c9ec9788ec5, 2026-08-03, not in a release yet) prints the v1beta1 protobuf Event of
// api/v1beta1/event.proto, written by the hand-made marshaler of api/v1beta1/event_json.go
// (commit 381efe188; value keys restored by a72783645) with protojson's names
// (UseProtoNames: snake_case): timestamp (RFC 3339), id (a number), name, policies,
// workload.process {executable.path, unique_id, host_pid, pid, real_user.id, thread
// {start_time, name, unique_id, host_tid, tid, syscall}, ancestors [{unique_id, host_pid,
// pid}]}, workload.container {id, name, started} (only inside a container), and data as a
// list of EventValue {name, <oneof key>}: a string arg is {"str": ...}, a uint16 one
// {"u_int32": N}, a []string one {"str_array": {"value": [...]}}, or {"str_array": {}} when
// empty (event_json.go writeEventValue; the conversion is pkg/events/conversion.go).
// Wrapped numbers (host_pid, ...) are plain numbers, never {"value": N}, whatever
// docs/docs/outputs/event-structure.md's example shows.
//
// Both shapes' src and dst are the connection's, not a packet's: the end that initiated
// it, then the other (pkg/events/derive/net_flow.go swaps a SYN+ACK's addresses, and a
// FIN's when its sender was not the initiator). conn_direction is "outgoing" (this host
// initiated) or "incoming"; no other value is ever written.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// traceeRecord is one line of tracee's JSON in either shape: the release shape's keys and
// the newer one's, so that one json.Unmarshal reads both and the keys present tell them
// apart (no two of them collide, even under encoding/json's case-insensitive matching).
type traceeRecord struct {
	// Release shape.
	EventName           string    `json:"eventName"`
	ProcessID           uint32    `json:"processId"`
	HostProcessID       uint32    `json:"hostProcessId"`
	ParentProcessID     uint32    `json:"parentProcessId"`
	HostParentProcessID uint32    `json:"hostParentProcessId"`
	UserID              uint32    `json:"userId"`
	ProcessName         string    `json:"processName"`
	Executable          traceeExe `json:"executable"`
	ContainerID         string    `json:"containerId"`
	Args                []struct {
		Name  string          `json:"name"`
		Value json.RawMessage `json:"value"`
	} `json:"args"`

	// Newer shape.
	Name     string          `json:"name"`
	Workload *traceeWorkload `json:"workload"`
	Data     []traceeValue   `json:"data"`
}

type traceeExe struct {
	Path string `json:"path"`
}

// traceeWorkload is the newer shape's v1beta1.Workload.
type traceeWorkload struct {
	Process *struct {
		Executable traceeExe `json:"executable"`
		HostPID    uint32    `json:"host_pid"`
		PID        uint32    `json:"pid"`
		RealUser   struct {
			ID uint32 `json:"id"`
		} `json:"real_user"`
		Thread struct {
			Name string `json:"name"`
		} `json:"thread"`
		Ancestors []struct {
			HostPID uint32 `json:"host_pid"`
			PID     uint32 `json:"pid"`
		} `json:"ancestors"`
	} `json:"process"`
	Container *struct {
		ID string `json:"id"`
	} `json:"container"`
}

// traceeValue is the newer shape's v1beta1.EventValue, with the oneof keys the flow
// events' args are written with.
type traceeValue struct {
	Name     string  `json:"name"`
	Str      *string `json:"str"`
	UInt32   *uint32 `json:"u_int32"`
	StrArray *struct {
		Value []string `json:"value"`
	} `json:"str_array"`
}

// traceeFlow is what both shapes say of a flow.
type traceeFlow struct {
	event          string
	pid, ppid, uid uint32
	comm, exe      string
	container      string

	dir, src, dst    string
	srcPort, dstPort uint16
	srcDNS, dstDNS   []string
	have             map[string]bool // the args present, by name
}

// traceeArgNames are the args of both flow events, in tracee's order.
var traceeArgNames = []string{"conn_direction", "src", "dst", "src_port", "dst_port", "src_dns", "dst_dns"}

// parseTracee decodes tracee's net_flow_tcp_begin and net_flow_tcp_end in both shapes.
// Other tracee events are skipped.
func (p *Parser) parseTracee(line []byte, ev *Event) (Kind, error) {
	if !bytes.Contains(line, []byte(`"eventName"`)) && !bytes.Contains(line, []byte(`"name"`)) {
		return Skip, ErrNotMine // the cheap test first: neither shape's event name key
	}
	var r traceeRecord
	if err := json.Unmarshal(line, &r); err != nil {
		return Skip, ErrNotMine
	}
	var f traceeFlow
	switch {
	case r.EventName != "":
		f = r.release()
	case r.Name != "" && (r.Workload != nil || r.Data != nil):
		f = r.newer()
	default:
		return Skip, ErrNotMine
	}
	if f.event != "net_flow_tcp_begin" && f.event != "net_flow_tcp_end" {
		return Skip, nil
	}
	if r.EventName == "" && (r.Workload == nil || r.Workload.Process == nil) {
		return Skip, fmt.Errorf("tracee %s without workload.process", f.event)
	}
	if err := r.flowArgs(&f); err != nil {
		return Skip, err
	}
	return p.traceeEvent(&f, ev)
}

// release reads the release shape's process context. The pids are the host's
// (hostProcessId), as on our lines; processId is the pid in the process's pid namespace.
func (r *traceeRecord) release() traceeFlow {
	f := traceeFlow{event: r.EventName, pid: r.HostProcessID, ppid: r.HostParentProcessID,
		uid: r.UserID, comm: r.ProcessName, exe: r.Executable.Path, container: r.ContainerID}
	if f.pid == 0 {
		f.pid = r.ProcessID
	}
	if f.ppid == 0 {
		f.ppid = r.ParentProcessID
	}
	return f
}

// newer reads the newer shape's process context: workload.process and its first ancestor,
// the parent.
func (r *traceeRecord) newer() traceeFlow {
	f := traceeFlow{event: r.Name}
	if w := r.Workload; w != nil {
		if pr := w.Process; pr != nil {
			f.pid, f.uid, f.comm, f.exe = pr.HostPID, pr.RealUser.ID, pr.Thread.Name, pr.Executable.Path
			if f.pid == 0 {
				f.pid = pr.PID
			}
			if len(pr.Ancestors) > 0 {
				f.ppid = pr.Ancestors[0].HostPID
				if f.ppid == 0 {
					f.ppid = pr.Ancestors[0].PID
				}
			}
		}
		if w.Container != nil {
			f.container = w.Container.ID
		}
	}
	return f
}

// flowArgs reads the flow's args, from whichever shape the record has.
func (r *traceeRecord) flowArgs(f *traceeFlow) error {
	f.have = make(map[string]bool, len(traceeArgNames))
	if r.EventName != "" {
		for _, a := range r.Args {
			if err := f.setRelease(a.Name, a.Value); err != nil {
				return err
			}
		}
	} else {
		for i := range r.Data {
			if err := f.setNewer(&r.Data[i]); err != nil {
				return err
			}
		}
	}
	for _, name := range traceeArgNames[:5] { // the DNS names may be left out
		if !f.have[name] {
			return fmt.Errorf("tracee %s without %s", f.event, name)
		}
	}
	return nil
}

// setRelease reads one arg of the release shape: {name, type, value}.
func (f *traceeFlow) setRelease(name string, v json.RawMessage) error {
	var err error
	switch name {
	case "conn_direction":
		err = json.Unmarshal(v, &f.dir)
	case "src":
		err = json.Unmarshal(v, &f.src)
	case "dst":
		err = json.Unmarshal(v, &f.dst)
	case "src_port":
		err = json.Unmarshal(v, &f.srcPort)
	case "dst_port":
		err = json.Unmarshal(v, &f.dstPort)
	case "src_dns":
		err = json.Unmarshal(v, &f.srcDNS) // null leaves it nil
	case "dst_dns":
		err = json.Unmarshal(v, &f.dstDNS)
	default:
		return nil
	}
	if err != nil || !isListArg(name) && bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return fmt.Errorf("tracee %s %s: %s is not a %s", f.event, name, excerpt(v), traceeArgType(name))
	}
	f.have[name] = true
	return nil
}

// setNewer reads one arg of the newer shape: {name, str|u_int32|str_array}.
func (f *traceeFlow) setNewer(d *traceeValue) error {
	bad := func() error {
		return fmt.Errorf("tracee %s %s is not a %s", f.event, d.Name, traceeArgType(d.Name))
	}
	switch d.Name {
	case "conn_direction", "src", "dst":
		if d.Str == nil {
			return bad()
		}
		switch d.Name {
		case "conn_direction":
			f.dir = *d.Str
		case "src":
			f.src = *d.Str
		default:
			f.dst = *d.Str
		}
	case "src_port", "dst_port":
		if d.UInt32 == nil || *d.UInt32 > 65535 {
			return bad()
		}
		if d.Name == "src_port" {
			f.srcPort = uint16(*d.UInt32)
		} else {
			f.dstPort = uint16(*d.UInt32)
		}
	case "src_dns", "dst_dns":
		var names []string
		if d.StrArray != nil {
			names = d.StrArray.Value
		} else if d.Str != nil || d.UInt32 != nil {
			return bad()
		} // no key at all: tracee's {"value": null}, an arg without a value
		if d.Name == "src_dns" {
			f.srcDNS = names
		} else {
			f.dstDNS = names
		}
	default:
		return nil
	}
	f.have[d.Name] = true
	return nil
}

func isListArg(name string) bool { return name == "src_dns" || name == "dst_dns" }

func traceeArgType(name string) string {
	switch name {
	case "src_port", "dst_port":
		return "port number"
	case "src_dns", "dst_dns":
		return "list of names"
	}
	return "string"
}

// traceeEvent turns a flow into an open or close line. src is the end that initiated the
// connection, so the local end is src for an outgoing flow and dst for an incoming one.
// conn= is made of the direction and the 4-tuple, the same for a flow's begin and end, so
// that the two join (tracee has no connection id).
func (p *Parser) traceeEvent(f *traceeFlow, ev *Event) (Kind, error) {
	src, err := jsonAddrPort(f.src, f.srcPort)
	if err != nil {
		return Skip, fmt.Errorf("tracee %s src: %w", f.event, err)
	}
	dst, err := jsonAddrPort(f.dst, f.dstPort)
	if err != nil {
		return Skip, fmt.Errorf("tracee %s dst: %w", f.event, err)
	}
	// hostName is not taken for host=: it is the uts name of the process (a container's own
	// inside one), and like a capture of our lines a file is of one host unless HOST=FILE
	// names it.
	*ev = Event{Attrs: ev.Attrs[:0], PID: f.pid, Count: 1}
	var remoteDNS []string
	switch f.dir {
	case "outgoing":
		ev.Dir, ev.Local, ev.Remote, remoteDNS = Out, src, dst, f.dstDNS
	case "incoming":
		ev.Dir, ev.Local, ev.Remote, remoteDNS = In, dst, src, f.srcDNS
	default:
		return Skip, fmt.Errorf("tracee %s conn_direction %s is not incoming or outgoing", f.event, strconv.Quote(f.dir))
	}
	if len(remoteDNS) > 0 {
		ev.RemoteDNS = remoteDNS[0]
	}
	ev.Conn = traceeConn(ev)
	ev.Comm, ev.Seen = p.internComm(ev.PID, ev.Host, escapeComm(f.comm))
	// tracee gives the real uid only (userId, real_user.id): it stands for the effective one.
	ev.Proc = &Proc{PPID: f.ppid, UID: f.uid, EUID: f.uid, ExePath: f.exe, Container: f.container}
	if f.event == "net_flow_tcp_end" {
		ev.Close = &Close{End: EndUnknown}
	}
	return EventLine, nil
}

// traceeConn is a conn= token for a tracee flow: direction, local and remote end.
func traceeConn(ev *Event) string {
	b := []byte{'o', '-'}
	if ev.Dir == In {
		b[0] = 'i'
	}
	b = ev.Local.AppendTo(b)
	b = append(b, '-')
	b = ev.Remote.AppendTo(b)
	for i, c := range b {
		if c == '[' || c == ']' {
			b[i] = '_'
		}
	}
	return string(b)
}
