package filter

import (
	"net/netip"

	"netflow/net_visualizer/internal/names"
)

// Derive fills the fields of c that follow from the others, so that every caller means the
// same by them: ServerPort (RemotePort for "out", LocalPort for "in", 0 for any other
// direction), Service (names.Service of ServerPort) and Loopback (both addresses parse and
// are loopback, IPv4-mapped ones included). The other fields are left alone.
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
	c.Loopback = isLoopback(c.LocalAddr) && isLoopback(c.RemoteAddr)
}

func isLoopback(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Unmap().IsLoopback()
}
