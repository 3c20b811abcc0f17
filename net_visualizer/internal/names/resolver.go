package names

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// DefaultTimeout is the Resolver's time limit per address when NewResolver is given none.
const DefaultTimeout = 2 * time.Second

// PrefetchWorkers bounds how many lookups Prefetch runs at once.
const PrefetchWorkers = 8

// Resolver finds names for addresses by reverse DNS (PTR records; the system resolver also
// reads /etc/hosts), remembering every answer, found or not, for the life of the Resolver.
// It is safe for concurrent use, and asks once per address however many goroutines want it.
type Resolver struct {
	timeout time.Duration
	lookup  func(ctx context.Context, addr string) ([]string, error)

	mu    sync.Mutex
	cache map[netip.Addr]*answer
}

// answer is one address's result; done is closed when name and ok are final.
type answer struct {
	done chan struct{}
	name string
	ok   bool
}

// NewResolver returns a Resolver that gives each address at most timeout (DefaultTimeout
// when timeout <= 0). lookup does the asking, as net.Resolver.LookupAddr does; nil means
// net.DefaultResolver.LookupAddr. lookup should give up when its context ends, but the
// Resolver does not wait for it past timeout either way.
func NewResolver(timeout time.Duration, lookup func(ctx context.Context, addr string) ([]string, error)) *Resolver {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if lookup == nil {
		lookup = net.DefaultResolver.LookupAddr
	}
	return &Resolver{timeout: timeout, lookup: lookup, cache: map[netip.Addr]*answer{}}
}

// Name returns the first usable name for a, without its trailing dot, and whether there was
// one. A lookup that fails or takes longer than the timeout is a miss, and is remembered as
// one: the Resolver never asks twice about an address, so the same input gives the same
// names for the whole run. Name blocks at most about the timeout, including when another
// goroutine is already asking about a. An IPv4-mapped IPv6 address is asked about as IPv4.
//
// Names come from the network and are not trusted: one that is empty, longer than 253
// bytes, or holds anything but printable ASCII without spaces is skipped.
func (r *Resolver) Name(a netip.Addr) (string, bool) {
	if !a.IsValid() {
		return "", false
	}
	a = a.Unmap().WithZone("")
	r.mu.Lock()
	ans, asked := r.cache[a]
	if !asked {
		ans = &answer{done: make(chan struct{})}
		r.cache[a] = ans
	}
	r.mu.Unlock()
	if !asked {
		r.resolve(a, ans)
	}
	<-ans.done // closed by resolve within the timeout
	return ans.name, ans.ok
}

// resolve asks about a, waiting at most the timeout, and closes ans.done.
func (r *Resolver) resolve(a netip.Addr, ans *answer) {
	defer close(ans.done)
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	type result struct {
		names []string
		err   error
	}
	ch := make(chan result, 1) // buffered: a lookup that ignores ctx can still finish and leave
	go func() {
		names, err := r.lookup(ctx, a.String())
		ch <- result{names, err}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			return
		}
		for _, n := range res.names {
			n = strings.TrimSuffix(n, ".")
			if usableName(n) {
				ans.name, ans.ok = n, true
				return
			}
		}
	case <-ctx.Done():
	}
}

// usableName accepts host names as DNS and hosts files write them.
func usableName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// Prefetch resolves addrs with up to PrefetchWorkers lookups at once, so that later calls to
// Name answer from the cache. It returns when every address has an answer, which takes at
// most about ceil(distinct addresses / PrefetchWorkers) timeouts.
func (r *Resolver) Prefetch(addrs []netip.Addr) {
	work := make(chan netip.Addr)
	var wg sync.WaitGroup
	for i := 0; i < PrefetchWorkers && i < len(addrs); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range work {
				r.Name(a)
			}
		}()
	}
	seen := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		if !seen[a] {
			seen[a] = true
			work <- a
		}
	}
	close(work)
	wg.Wait()
}
