package filter

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDerive(t *testing.T) {
	tests := []struct {
		name string
		in   Conn
		want Conn // only ServerPort, Service and Loopback are compared
	}{
		{"out takes the remote port", Conn{Direction: "out", LocalAddr: "10.0.0.2", RemoteAddr: "10.0.0.5", LocalPort: 40312, RemotePort: 5432},
			Conn{ServerPort: 5432, Service: "postgresql"}},
		{"in takes the local port", Conn{Direction: "in", LocalAddr: "::1", RemoteAddr: "::1", LocalPort: 443, RemotePort: 51044},
			Conn{ServerPort: 443, Service: "https", Loopback: true}},
		{"mapped loopback", Conn{Direction: "out", LocalAddr: "::ffff:127.0.0.1", RemoteAddr: "127.0.0.5", RemotePort: 40000},
			Conn{ServerPort: 40000, Loopback: true}},
		{"one end loopback is not loopback", Conn{Direction: "out", LocalAddr: "127.0.0.1", RemoteAddr: "10.0.0.1", RemotePort: 22},
			Conn{ServerPort: 22, Service: "ssh"}},
		{"a failed connect to loopback has an unspecified local end", Conn{Direction: "out", LocalAddr: "0.0.0.0", RemoteAddr: "127.0.0.1", RemotePort: 81, Failed: true, Ret: -111},
			Conn{ServerPort: 81, Loopback: true}},
		{"any of 127.0.0.0/8", Conn{Direction: "out", LocalAddr: "0.0.0.0", RemoteAddr: "127.3.2.1", RemotePort: 81},
			Conn{ServerPort: 81, Loopback: true}},
		{"a failed connect to ::1", Conn{Direction: "out", LocalAddr: "::", RemoteAddr: "::1", RemotePort: 81},
			Conn{ServerPort: 81, Loopback: true}},
		{"a failed connect to mapped loopback", Conn{Direction: "out", LocalAddr: "::", RemoteAddr: "::ffff:127.0.0.1", RemotePort: 81},
			Conn{ServerPort: 81, Loopback: true}},
		{"a connect to loopback whatever the local end", Conn{Direction: "out", LocalAddr: "", RemoteAddr: "127.0.0.1", RemotePort: 81},
			Conn{ServerPort: 81, Loopback: true}},
		{"a failed connect elsewhere", Conn{Direction: "out", LocalAddr: "0.0.0.0", RemoteAddr: "192.0.2.9", RemotePort: 81},
			Conn{ServerPort: 81}},
		{"unknown direction", Conn{Direction: "?", LocalPort: 80, RemotePort: 80, Service: "stale", ServerPort: 9},
			Conn{}},
		{"port out of range", Conn{Direction: "out", RemotePort: 65536 + 443},
			Conn{ServerPort: 65536 + 443}},
		{"addresses that do not parse", Conn{Direction: "in", LocalAddr: "", RemoteAddr: "localhost", LocalPort: 22},
			Conn{ServerPort: 22, Service: "ssh"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.in
			Derive(&c)
			assert.Equal(t, tt.want.ServerPort, c.ServerPort, "server_port")
			assert.Equal(t, tt.want.Service, c.Service, "service")
			assert.Equal(t, tt.want.Loopback, c.Loopback, "loopback")
			assert.Equal(t, tt.in.Direction, c.Direction)
			assert.Equal(t, tt.in.LocalPort, c.LocalPort)
			assert.Equal(t, tt.in.RemotePort, c.RemotePort)
		})
	}
}
