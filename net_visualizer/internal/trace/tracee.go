package trace

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
)

// traceeRelease is an event in tracee's release JSON format (eventName, processId, args).
type traceeRelease struct {
	EventName       string `json:"eventName"`
	ProcessID       uint32 `json:"processId"`
	HostProcessID   uint32 `json:"hostProcessId"`
	ParentProcessID uint32 `json:"hostParentProcessId"`
	UserID          uint32 `json:"userId"`
	ProcessName     string `json:"processName"`
	ContainerID     string `json:"containerId"`
	Executable      struct {
		Path string `json:"path"`
	} `json:"executable"`
	Args []struct {
		Name  string          `json:"name"`
		Value json.RawMessage `json:"value"`
	} `json:"args"`
}

// traceeNew is an event in tracee's newer JSON format (name, workload.process, data).
type traceeNew struct {
	Name     string `json:"name"`
	Workload *struct {
		Process *struct {
			Executable struct {
				Path string `json:"path"`
			} `json:"executable"`
			PID      flexUint `json:"pid"`
			HostPID  flexUint `json:"host_pid"`
			RealUser struct {
				ID flexUint `json:"id"`
			} `json:"real_user"`
			Thread struct {
				Name string `json:"name"`
			} `json:"thread"`
			Ancestors []struct {
				HostPID flexUint `json:"host_pid"`
				PID     flexUint `json:"pid"`
			} `json:"ancestors"`
		} `json:"process"`
		Container struct {
			ID string `json:"id"`
		} `json:"container"`
	} `json:"workload"`
	Data []map[string]json.RawMessage `json:"data"`
}

// flexUint is a number as tracee's protobuf JSON writes it: plain, or wrapped {"value": N}.
type flexUint uint32

func (f *flexUint) UnmarshalJSON(b []byte) error {
	var n uint32
	if err := json.Unmarshal(b, &n); err == nil {
		*f = flexUint(n)
		return nil
	}
	var w struct {
		Value uint32 `json:"value"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*f = flexUint(w.Value)
	return nil
}

// traceeFlow is what both shapes say of a flow.
type traceeFlow struct {
	event           string
	pid, ppid, uid  uint32
	comm, exe, host string
	container       string
	args            map[string]json.RawMessage // by name: the value, in either shape's form
	newShape        bool
}

// parseTracee decodes tracee's net_flow_tcp_begin and net_flow_tcp_end in both shapes.
// Other tracee events are skipped.
func (p *Parser) parseTracee(line []byte, ev *Event) (Kind, error) {
	var f traceeFlow
	if bytes.Contains(line, []byte(`"eventName"`)) {
		var r traceeRelease
		if err := json.Unmarshal(line, &r); err != nil || r.EventName == "" {
			return Skip, ErrNotMine
		}
		f = traceeFlow{event: r.EventName, pid: r.HostProcessID, ppid: r.ParentProcessID, uid: r.UserID,
			comm: r.ProcessName, exe: r.Executable.Path, container: r.ContainerID,
			args: map[string]json.RawMessage{}}
		if f.pid == 0 {
			f.pid = r.ProcessID
		}
		for _, a := range r.Args {
			f.args[a.Name] = a.Value
		}
	} else {
		var r traceeNew
		if err := json.Unmarshal(line, &r); err != nil || r.Name == "" || r.Workload == nil {
			return Skip, ErrNotMine
		}
		f = traceeFlow{event: r.Name, args: map[string]json.RawMessage{}, newShape: true,
			container: r.Workload.Container.ID}
		if pr := r.Workload.Process; pr != nil {
			f.pid, f.uid, f.comm, f.exe = uint32(pr.HostPID), uint32(pr.RealUser.ID), pr.Thread.Name, pr.Executable.Path
			if f.pid == 0 {
				f.pid = uint32(pr.PID)
			}
			if len(pr.Ancestors) > 0 {
				f.ppid = uint32(pr.Ancestors[0].HostPID)
				if f.ppid == 0 {
					f.ppid = uint32(pr.Ancestors[0].PID)
				}
			}
		}
		for _, d := range r.Data {
			var name string
			if json.Unmarshal(d["name"], &name) != nil {
				continue
			}
			for k, v := range d {
				if k != "name" {
					f.args[name] = v
				}
			}
		}
	}
	if f.event != "net_flow_tcp_begin" && f.event != "net_flow_tcp_end" {
		return Skip, nil
	}
	return p.traceeEvent(&f, ev)
}

// traceeEvent turns a flow into an open or close line. tracee's src and dst are those of the
// packet that began (or ended) the flow: for an outgoing flow src is this host's end, for an
// incoming one dst is. conn= is made of the direction and the 4-tuple, the same for a flow's
// begin and end, so that the two join (tracee has no connection id).
func (p *Parser) traceeEvent(f *traceeFlow, ev *Event) (Kind, error) {
	dir, err := f.str("conn_direction")
	if err != nil {
		return Skip, err
	}
	src, err := f.addrPort("src", "src_port")
	if err != nil {
		return Skip, err
	}
	dst, err := f.addrPort("dst", "dst_port")
	if err != nil {
		return Skip, err
	}
	// hostName is not taken for host=: like a capture of our lines, a file is of one host
	// unless HOST=FILE names it.
	*ev = Event{Attrs: ev.Attrs[:0], PID: f.pid, Count: 1}
	var remoteDNS string
	switch dir {
	case "outgoing", "egress":
		ev.Dir, ev.Local, ev.Remote, remoteDNS = Out, src, dst, "dst_dns"
	case "incoming", "ingress":
		ev.Dir, ev.Local, ev.Remote, remoteDNS = In, dst, src, "src_dns"
	default:
		return Skip, fmt.Errorf("tracee conn_direction %s is not incoming or outgoing", strconv.Quote(dir))
	}
	if names := f.strs(remoteDNS); len(names) > 0 {
		ev.RemoteDNS = names[0]
	}
	ev.Conn = traceeConn(ev)
	ev.Comm, ev.Seen = p.internComm(ev.PID, ev.Host, []byte(Escape(f.comm)))
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

// raw is an argument's value: the release shape's value, or the newer shape's one typed key
// (str, u_int32, str_array, ...).
func (f *traceeFlow) raw(name string) (json.RawMessage, error) {
	v, ok := f.args[name]
	if !ok {
		return nil, fmt.Errorf("tracee flow without %s", name)
	}
	return v, nil
}

func (f *traceeFlow) str(name string) (string, error) {
	v, err := f.raw(name)
	if err != nil {
		return "", err
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("tracee %s is not a string", name)
	}
	return s, nil
}

// strs reads a []string argument: a list, {"value": [...]} (str_array), or null.
func (f *traceeFlow) strs(name string) []string {
	v, ok := f.args[name]
	if !ok {
		return nil
	}
	var list []string
	if json.Unmarshal(v, &list) == nil {
		return list
	}
	var w struct {
		Value []string `json:"value"`
	}
	if json.Unmarshal(v, &w) == nil {
		return w.Value
	}
	return nil
}

func (f *traceeFlow) addrPort(addrName, portName string) (netip.AddrPort, error) {
	a, err := f.str(addrName)
	if err != nil {
		return netip.AddrPort{}, err
	}
	v, err := f.raw(portName)
	if err != nil {
		return netip.AddrPort{}, err
	}
	var port uint16
	if err := json.Unmarshal(v, &port); err != nil {
		return netip.AddrPort{}, errors.New("tracee " + portName + " is not a port number")
	}
	ap, err := jsonAddrPort(a, port)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("tracee %s: %w", addrName, err)
	}
	return ap, nil
}
