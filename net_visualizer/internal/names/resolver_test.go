package names

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeDNS answers from a map and counts the questions it was asked.
type fakeDNS struct {
	mu    sync.Mutex
	calls map[string]int
	names map[string][]string
}

func newFakeDNS(names map[string][]string) *fakeDNS {
	return &fakeDNS{calls: map[string]int{}, names: names}
}

func (f *fakeDNS) lookup(ctx context.Context, addr string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[addr]++
	if n, ok := f.names[addr]; ok {
		return n, nil
	}
	return nil, errors.New("no such host")
}

func (f *fakeDNS) count(addr string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[addr]
}

func TestResolverName(t *testing.T) {
	dns := newFakeDNS(map[string][]string{
		"192.0.2.1":   {"db.example.org."},
		"192.0.2.2":   {"web.example.org"},
		"2001:db8::1": {"v6.example.org."},
		"192.0.2.3":   {"", ".", "evil\x1b[2J.example.org.", "has space.example.org", strings.Repeat("a", 254), "good.example.org."},
		"192.0.2.4":   {"bad\nname"},
		"192.0.2.5":   {},
	})
	r := NewResolver(time.Second, dns.lookup)
	tests := []struct {
		addr, want string
		ok         bool
		asked      string // what the lookup func must have been given
	}{
		{"192.0.2.1", "db.example.org", true, "192.0.2.1"}, // trailing dot removed
		{"192.0.2.2", "web.example.org", true, "192.0.2.2"},
		{"::ffff:192.0.2.1", "db.example.org", true, "192.0.2.1"}, // mapped asks as IPv4
		{"2001:db8::1", "v6.example.org", true, "2001:db8::1"},
		{"192.0.2.3", "good.example.org", true, "192.0.2.3"}, // unusable names skipped
		{"192.0.2.4", "", false, "192.0.2.4"},                // no usable name
		{"192.0.2.5", "", false, "192.0.2.5"},                // empty answer
		{"192.0.2.9", "", false, "192.0.2.9"},                // lookup error
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			for i := 0; i < 3; i++ {
				got, ok := r.Name(netip.MustParseAddr(tt.addr))
				assert.Equal(t, tt.ok, ok)
				assert.Equal(t, tt.want, got)
			}
			assert.Equal(t, 1, dns.count(tt.asked), "hits and misses are both cached")
		})
	}
	got, ok := r.Name(netip.Addr{})
	assert.False(t, ok)
	assert.Empty(t, got)
}

func TestResolverTimeout(t *testing.T) {
	tests := []struct {
		name   string
		lookup func(ctx context.Context, addr string) ([]string, error)
	}{
		{"lookup honours ctx", func(ctx context.Context, addr string) ([]string, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}},
		{"lookup ignores ctx", func(ctx context.Context, addr string) ([]string, error) {
			time.Sleep(2 * time.Second)
			return []string{"late.example.org"}, nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const timeout = 50 * time.Millisecond
			var calls atomic.Int32
			r := NewResolver(timeout, func(ctx context.Context, addr string) ([]string, error) {
				calls.Add(1)
				return tt.lookup(ctx, addr)
			})
			a := netip.MustParseAddr("192.0.2.1")

			// Several goroutines ask at once: none waits much past the timeout, one lookup runs.
			const askers = 5
			var wg sync.WaitGroup
			took := make([]time.Duration, askers)
			oks := make([]bool, askers)
			for i := 0; i < askers; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					start := time.Now()
					_, oks[i] = r.Name(a)
					took[i] = time.Since(start)
				}(i)
			}
			wg.Wait()
			for i := range took {
				assert.False(t, oks[i])
				assert.Less(t, took[i], timeout+500*time.Millisecond, "asker %d blocked too long", i)
			}

			// The miss is cached: no second lookup, an immediate answer, even after the slow one ends.
			start := time.Now()
			_, ok := r.Name(a)
			assert.False(t, ok)
			assert.Less(t, time.Since(start), 20*time.Millisecond)
			assert.Equal(t, int32(1), calls.Load())
		})
	}
}

func TestResolverDefaultTimeout(t *testing.T) {
	r := NewResolver(0, nil)
	assert.Equal(t, DefaultTimeout, r.timeout)
	assert.NotNil(t, r.lookup)
}

func TestPrefetch(t *testing.T) {
	var mu sync.Mutex
	active, maxActive := 0, 0
	dns := newFakeDNS(nil)
	lookup := func(ctx context.Context, addr string) ([]string, error) {
		mu.Lock()
		active++
		if active > maxActive {
			maxActive = active
		}
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		active--
		mu.Unlock()
		dns.lookup(ctx, addr) // counts the call
		return []string{"host-" + strings.ReplaceAll(addr, ".", "-") + "."}, nil
	}
	r := NewResolver(time.Second, lookup)

	var addrs []netip.Addr
	for i := 0; i < 40; i++ {
		addrs = append(addrs, netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", i)))
	}
	addrs = append(addrs, addrs[:10]...)                           // duplicates
	addrs = append(addrs, netip.MustParseAddr("::ffff:192.0.2.1")) // a duplicate in disguise

	start := time.Now()
	r.Prefetch(addrs)
	took := time.Since(start)

	assert.LessOrEqual(t, maxActive, PrefetchWorkers, "too many lookups at once")
	assert.Greater(t, maxActive, 1, "lookups did not run in parallel")
	assert.Less(t, took, 40*20*time.Millisecond, "no faster than one at a time")
	for i := 0; i < 40; i++ {
		addr := fmt.Sprintf("192.0.2.%d", i)
		assert.Equal(t, 1, dns.count(addr), addr)
	}
	// Everything is cached now: Name does not ask again.
	got, ok := r.Name(netip.MustParseAddr("192.0.2.7"))
	assert.True(t, ok)
	assert.Equal(t, "host-192-0-2-7", got)
	assert.Equal(t, 1, dns.count("192.0.2.7"))

	r.Prefetch(nil) // nothing to do, returns
}

// TestResolverSystem resolves 127.0.0.1 through the real resolver. Go answers a PTR question
// for an address in /etc/hosts from that file, without asking DNS, so the test runs only when
// /etc/hosts lists 127.0.0.1, and never leaves the machine.
func TestResolverSystem(t *testing.T) {
	data, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Skip("no /etc/hosts")
	}
	var names []string
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "127.0.0.1" {
			names = append(names, f[1:]...)
		}
	}
	if len(names) == 0 {
		t.Skip("/etc/hosts has no 127.0.0.1 entry; a lookup would go to DNS")
	}
	r := NewResolver(5*time.Second, nil)
	got, ok := r.Name(netip.MustParseAddr("127.0.0.1"))
	require.True(t, ok, "no name for 127.0.0.1, though /etc/hosts lists %q", names)
	assert.Contains(t, names, got)
}
