package filter

import (
	"net/netip"

	"netflow/net_visualizer/internal/names"
)

// Derive fills the fields of c that follow from the others, so that every caller means the
// same by them: ServerPort (RemotePort for "out", LocalPort for "in", 0 for any other
// direction), Service (names.Service of ServerPort) and Loopback (the remote address is a
// loopback one, 127.0.0.0/8 or ::1, IPv4-mapped ones included: such a connection never left
// the host, whatever its local end says; a failed connect's is 0.0.0.0). The other fields
// are left alone.
func Derive(c *Conn) {
	switch c.Direction {
	case "out":
		c.ServerPort = c.RemotePort
	case "in":
		c.ServerPort = c.LocalPort
	default:
		c.ServerPort = 0
	}
	c.Service = ""
	if c.ServerPort > 0 && c.ServerPort <= 65535 {
		c.Service = names.Service(uint16(c.ServerPort))
	}
	c.Loopback = isLoopback(c.RemoteAddr)
}

func isLoopback(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Unmap().IsLoopback()
}
