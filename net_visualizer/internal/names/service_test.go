package names

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestService(t *testing.T) {
	tests := []struct {
		port uint16
		want string
	}{
		{22, "ssh"},
		{25, "smtp"},
		{53, "domain"},
		{80, "http"},
		{443, "https"},
		{3306, "mysql"},
		{5432, "postgresql"},
		{6379, "redis"},
		{1, "tcpmux"}, // first entry of the table
		{0, ""},
		{2, ""},
		{40312, ""}, // an ephemeral port
		{65535, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.port), func(t *testing.T) {
			assert.Equal(t, tt.want, Service(tt.port))
		})
	}
}

// TestServiceTable checks the generated table's invariants that Service relies on.
func TestServiceTable(t *testing.T) {
	assert.Greater(t, len(services), 100, "table looks truncated")
	for i, s := range services {
		assert.NotEmpty(t, s.name, "port %d", s.port)
		assert.True(t, validTableName(s.name), "port %d: name %q", s.port, s.name)
		if i > 0 {
			assert.Less(t, services[i-1].port, s.port, "not sorted or duplicate port at index %d", i)
		}
		assert.Equal(t, s.name, Service(s.port), "binary search misses port %d", s.port)
	}
}

func validTableName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '+' || c == '/') {
			return false
		}
	}
	return s != ""
}
