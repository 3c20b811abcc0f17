package trace

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// netmonEvent is one event of bombini's NetMon detector, as its JSON output prints it.
type netmonEvent struct {
	Type         string         `json:"type"`
	Process      *netmonProcess `json:"process"`
	NetworkEvent *struct {
		Type   string `json:"type"`
		Saddr  string `json:"saddr"`
		Daddr  string `json:"daddr"`
		Sport  uint16 `json:"sport"`
		Dport  uint16 `json:"dport"`
		Cookie uint64 `json:"cookie"`
	} `json:"network_event"`
}

type netmonProcess struct {
	PID            uint32          `json:"pid"`
	PPID           uint32          `json:"ppid"`
	UID            uint32          `json:"uid"`
	EUID           uint32          `json:"euid"`
	GID            uint32          `json:"gid"`
	EGID           uint32          `json:"egid"`
	AUID           uint32          `json:"auid"`
	CapEffective   json.RawMessage `json:"cap_effective"`
	CapPermitted   json.RawMessage `json:"cap_permitted"`
	CapInheritable json.RawMessage `json:"cap_inheritable"`
	SecureExec     json.RawMessage `json:"secureexec"`
	Filename       string          `json:"filename"`
	BinaryPath     string          `json:"binary_path"`
	Args           string          `json:"args"`
	ContainerID    string          `json:"container_id"`
}

// parseNetMon decodes a NetMon NetworkEvent (an object with "type":"NetworkEvent" and a
// "network_event"): TcpConnectionEstablish is an open line →, TcpConnectionClose a close line
// with end=unknown, both with conn= the socket cookie and Proc the process; a
// TcpConnectionAccept, which names only the listening socket, gives only its process
// (a ProcLine). The direction of a close whose establish is not in the capture is a guess:
// see netmonCloseDir.
func (p *Parser) parseNetMon(line []byte, ev *Event) (Kind, error) {
	var rec netmonEvent
	if err := json.Unmarshal(line, &rec); err != nil || rec.Type != "NetworkEvent" || rec.NetworkEvent == nil {
		return Skip, ErrNotMine
	}
	ne := rec.NetworkEvent
	if rec.Process == nil {
		return Skip, errors.New("NetMon event without a process")
	}
	pr, err := netmonProc(rec.Process)
	if err != nil {
		return Skip, fmt.Errorf("NetMon process: %w", err)
	}
	*ev = Event{Attrs: ev.Attrs[:0], PID: rec.Process.PID, Count: 1, Proc: pr}
	if ne.Type == "TcpConnectionAccept" {
		return ProcLine, nil
	}
	local, err := jsonAddrPort(ne.Saddr, ne.Sport)
	if err != nil {
		return Skip, fmt.Errorf("NetMon saddr: %w", err)
	}
	remote, err := jsonAddrPort(ne.Daddr, ne.Dport)
	if err != nil {
		return Skip, fmt.Errorf("NetMon daddr: %w", err)
	}
	ev.Local, ev.Remote, ev.Dir = local, remote, Out
	ev.Conn = strconv.FormatUint(ne.Cookie, 10)
	ev.Comm, ev.Seen = p.internComm(ev.PID, "", escapeComm(rec.Process.Filename))
	switch ne.Type {
	case "TcpConnectionEstablish":
	case "TcpConnectionClose":
		ev.Dir = netmonCloseDir(local, remote)
		ev.Close = &Close{End: EndUnknown}
	default:
		return Skip, fmt.Errorf("NetMon network_event type %s is not TcpConnectionEstablish, TcpConnectionAccept or TcpConnectionClose", strconv.Quote(ne.Type))
	}
	return EventLine, nil
}

// netmonCloseDir guesses which end a NetMon close is from; it matters only when the
// connection's establish is not in the capture (the accepting end's close, always: its
// accept names the listener, not the connection). The end whose port is the lower one is
// taken for the server: clients' ports are ephemeral, 32768 and up on Linux.
func netmonCloseDir(local, remote netip.AddrPort) Direction {
	if local.Port() < remote.Port() {
		return In
	}
	return Out
}

// jsonAddrPort reads an address and port that a JSON capture gives apart.
func jsonAddrPort(addr string, port uint16) (netip.AddrPort, error) {
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("%s is not an IP address", strconv.Quote(addr))
	}
	return netip.AddrPortFrom(a.Unmap(), port), nil
}

// netmonProc turns NetMon's process object into a Proc. NetMon's args leave out argv[0],
// which is taken from filename; they are one string, split here on spaces.
func netmonProc(np *netmonProcess) (*Proc, error) {
	pr := &Proc{PPID: np.PPID, UID: np.UID, EUID: np.EUID, GID: np.GID, EGID: np.EGID, AUID: np.AUID,
		ExePath: np.BinaryPath, Container: np.ContainerID}
	for _, c := range []struct {
		raw json.RawMessage
		dst *uint64
	}{{np.CapEffective, &pr.CapEffective}, {np.CapPermitted, &pr.CapPermitted}, {np.CapInheritable, &pr.CapInheritable}} {
		n, err := capSet(c.raw)
		if err != nil {
			return nil, err
		}
		*c.dst = n
	}
	pr.SecureExec = truthy(np.SecureExec)
	if np.Filename != "" || np.Args != "" {
		pr.Args = append([]string{np.Filename}, strings.Fields(np.Args)...)
	}
	return pr, nil
}

// capNames are the capabilities by number (linux/capability.h), as NetMon names them
// without their CAP_ prefix.
var capNames = [...]string{"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
	"SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
	"IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN",
	"SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
	"AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND",
	"AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"}

// allCaps is every capability this list knows: NetMon's "ALL_CAPS".
const allCaps = 1<<len(capNames) - 1

// AllCaps is the mask of every capability NetMon names (its "ALL_CAPS"), bits 0 to
// CAP_CHECKPOINT_RESTORE.
const AllCaps uint64 = allCaps

// CapName is capability bit i's name as NetMon prints it ("CAP_NET_RAW"); "" past the
// capabilities NetMon names.
func CapName(i int) string {
	if i < 0 || i >= len(capNames) {
		return ""
	}
	return "CAP_" + capNames[i]
}

// capSet reads a capability set: a number, "" (none), "ALL_CAPS", or names (CAP_NET_RAW or
// NET_RAW) separated by "|", "," or spaces. A name this list does not know is an error.
func capSet(raw json.RawMessage) (uint64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var n uint64
	if err := json.Unmarshal(raw, &n); err == nil {
		return n, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, fmt.Errorf("capability set %s is neither a number nor a string", excerpt(raw))
	}
	var set uint64
	for _, name := range strings.FieldsFunc(s, func(r rune) bool { return r == '|' || r == ',' || r == ' ' }) {
		name = strings.TrimPrefix(strings.ToUpper(name), "CAP_")
		if name == "ALL_CAPS" {
			set |= allCaps
			continue
		}
		i := 0
		for i < len(capNames) && capNames[i] != name {
			i++
		}
		if i == len(capNames) {
			return 0, fmt.Errorf("capability %s is not one this reader knows", strconv.Quote(name))
		}
		set |= 1 << i
	}
	return set, nil
}

// truthy reads NetMon's secureexec: "" or false or 0 is not set; anything else is.
func truthy(raw json.RawMessage) bool {
	switch strings.TrimSpace(string(raw)) {
	case "", `""`, "false", "0", "null":
		return false
	}
	return true
}
