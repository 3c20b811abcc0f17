package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Header is the v3 nw_conn header, in column order.
var Header = []string{
	"Timestamp", "Event Type", "PID", "TID", "Command", "Domain", "Socket Type",
	"Protocol", "IP Version", "Local Address", "Remote Address", "Local Port",
	"Remote Port", "File Descriptor", "Backlog", "Latency", "Return Value",
}

// TimeLayout is the Timestamp column's layout: YYYY-MM-DD HH:MM:SS.ffffff.
const TimeLayout = "2006-01-02 15:04:05.000000"

// rawEvent is one tracer line; see the input grammar in doc.go.
type rawEvent struct {
	Mono                uint64
	Event               string
	PID, TID            uint64
	Family, Type, Proto int64
	LAddr, RAddr        netip.Addr
	LPort, RPort        uint16
	FD, Arg, Lat, Ret   int64
	Comm                string
}

const rawFields = 16

var events = map[string]bool{
	"SOCKET_CREATE": true, "BIND": true, "LISTEN": true, "ACCEPT": true,
	"CONNECT": true, "SHUTDOWN": true, "CLOSE": true,
}

// parseRaw parses one line (without its newline).
func parseRaw(line string) (rawEvent, error) {
	var e rawEvent
	f := strings.SplitN(line, " ", rawFields)
	if len(f) != rawFields {
		return e, fmt.Errorf("%d fields, want %d", len(f), rawFields)
	}
	if !events[f[1]] {
		return e, fmt.Errorf("unknown event %q", f[1])
	}
	e.Event = f[1]
	var err error
	u := func(s, name string, bits int) uint64 {
		v, perr := strconv.ParseUint(s, 10, bits)
		if perr != nil && err == nil {
			err = fmt.Errorf("%s %q: not a number", name, s)
		}
		return v
	}
	i := func(s, name string) int64 {
		v, perr := strconv.ParseInt(s, 10, 64)
		if perr != nil && err == nil {
			err = fmt.Errorf("%s %q: not a number", name, s)
		}
		return v
	}
	a := func(s, name string) netip.Addr {
		v, perr := netip.ParseAddr(s)
		if perr != nil && err == nil {
			err = fmt.Errorf("%s %q: not an IP address", name, s)
		}
		return v
	}
	e.Mono = u(f[0], "MONO_NS", 64)
	e.PID = u(f[2], "PID", 32)
	e.TID = u(f[3], "TID", 32)
	e.Family = i(f[4], "FAMILY")
	e.Type = i(f[5], "TYPE")
	e.Proto = i(f[6], "PROTO")
	e.LAddr = a(f[7], "LADDR")
	e.LPort = uint16(u(f[8], "LPORT", 16))
	e.RAddr = a(f[9], "RADDR")
	e.RPort = uint16(u(f[10], "RPORT", 16))
	e.FD = i(f[11], "FD")
	e.Arg = i(f[12], "ARG")
	e.Lat = i(f[13], "LAT_NS")
	e.Ret = i(f[14], "RET")
	e.Comm = trimComm(f[15])
	return e, err
}

// trimComm drops the \x00 padding that %r prints after the name.
func trimComm(s string) string {
	for strings.HasSuffix(s, `\x00`) {
		s = s[:len(s)-len(`\x00`)]
	}
	return s
}

const (
	afUnix    = 1
	afInet    = 2
	afInet6   = 10
	afNetlink = 16
	afPacket  = 17
)

var domainNames = map[int64]string{
	afUnix: "AF_UNIX", afInet: "AF_INET", afInet6: "AF_INET6",
	afNetlink: "AF_NETLINK", afPacket: "AF_PACKET",
}

var typeNames = map[int64]string{
	1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 5: "SOCK_SEQPACKET",
}

var protoNames = map[int64]string{6: "TCP", 17: "UDP"}

var howNames = map[int64]string{0: "SHUT_RD", 1: "SHUT_WR", 2: "SHUT_RDWR"}

func name(names map[int64]string, v int64) string {
	if v < 0 {
		return ""
	}
	if s, ok := names[v]; ok {
		return s
	}
	return strconv.FormatInt(v, 10)
}

// record returns e's CSV row; the wall clock is MONO_NS + offset, in loc.
func (e *rawEvent) record(offset int64, loc *time.Location) []string {
	isIP := e.Family == afInet || e.Family == afInet6
	r := make([]string, 0, len(Header))
	ts := time.Unix(0, int64(e.Mono)+offset).In(loc)
	r = append(r, ts.Format(TimeLayout), e.Event,
		strconv.FormatUint(e.PID, 10), strconv.FormatUint(e.TID, 10), e.Comm,
		name(domainNames, e.Family), name(typeNames, e.Type))
	proto, ipver := "", ""
	if isIP {
		if e.Proto > 0 {
			proto = name(protoNames, e.Proto)
		}
		ipver = "4"
		if e.Family == afInet6 {
			ipver = "6"
		}
	}
	r = append(r, proto, ipver)
	laddr, raddr, lport, rport := "", "", "", ""
	if isIP {
		laddr = addr(e.LAddr, e.LPort)
		raddr = addr(e.RAddr, e.RPort)
		lport = port(e.LPort)
		rport = port(e.RPort)
	}
	r = append(r, laddr, raddr, lport, rport)
	fd := ""
	if e.FD >= 0 {
		fd = strconv.FormatInt(e.FD, 10)
	}
	arg, lat := "", ""
	switch e.Event {
	case "LISTEN":
		arg = strconv.FormatInt(e.Arg, 10)
	case "SHUTDOWN":
		arg = name(howNames, e.Arg)
	case "ACCEPT", "CONNECT":
		if e.Lat >= 0 {
			lat = strconv.FormatInt(e.Lat, 10)
		}
	}
	return append(r, fd, arg, lat, strconv.FormatInt(e.Ret, 10))
}

// addr is a's text, or "" for an end that is not there: no port and no address.
func addr(a netip.Addr, p uint16) string {
	if p == 0 && a.IsUnspecified() {
		return ""
	}
	return a.String()
}

func port(p uint16) string {
	if p == 0 {
		return ""
	}
	return strconv.Itoa(int(p))
}
