package main

import (
	"fmt"
	"math"
	"math/bits"
	"net/netip"
)

// config is what the flags set.
type config struct {
	Connections   int
	Processes     int
	External      int
	ExternalShare float64
	Inbound       float64
	IPv6          float64
	Seed          uint64
	Window        int
	Pad           bool
	Stats         bool // count distinct edges and nodes (costs a map insert per connection)
}

func defaultConfig() config {
	return config{
		Connections:   1_000_000,
		Processes:     60,
		External:      40,
		ExternalShare: 0.20,
		IPv6:          0.10,
		Seed:          1,
		Window:        256,
		Pad:           true,
	}
}

func (c config) check() error {
	share := func(name string, v float64) error {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("-%s %v: want a fraction between 0 and 1", name, v)
		}
		return nil
	}
	switch {
	case c.Connections < 0:
		return fmt.Errorf("-connections %d: want 0 or more", c.Connections)
	case c.Processes < 1:
		return fmt.Errorf("-processes %d: want 1 or more", c.Processes)
	case c.External < 0 || c.External > 4000:
		return fmt.Errorf("-external %d: want 0 to 4000", c.External)
	case c.Window < 0:
		return fmt.Errorf("-shuffle-window %d: want 0 or more", c.Window)
	}
	for _, s := range []struct {
		name string
		v    float64
	}{{"external-share", c.ExternalShare}, {"inbound", c.Inbound}, {"ipv6", c.IPv6}} {
		if err := share(s.name, s.v); err != nil {
			return err
		}
	}
	if c.ExternalShare+c.Inbound > 1 {
		return fmt.Errorf("-external-share %v plus -inbound %v is more than 1", c.ExternalShare, c.Inbound)
	}
	return nil
}

// rng is splitmix64: tiny, fast, and fixed here, so a seed means the same trace on any Go release.
type rng struct{ s uint64 }

func newRNG(seed, stream uint64) *rng {
	r := &rng{seed ^ stream*0xd1342543de82ef95}
	r.next()
	return r
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// intn returns a number in [0, n), n > 0 (Lemire's multiply-shift; the bias is below 2^-40 here).
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int(hi)
}

func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// lognormal returns exp(N(0, sigma²)): a heavy-tailed positive weight.
func (r *rng) lognormal(sigma float64) float64 {
	u1, u2 := r.float(), r.float()
	return math.Exp(sigma * math.Sqrt(-2*math.Log(1-u1)) * math.Cos(2*math.Pi*u2))
}

type bind uint8

const (
	bindLoopback bind = iota // 127.0.0.1 and ::1 only
	bindAny                  // also the host's own addresses
	bindStub                 // 127.0.0.53 only, IPv4 (systemd-resolved's stub listener)
)

// template is one kind of process in the catalogue.
type template struct {
	comm     string  // raw bytes, at most 15, as the kernel keeps them
	uid      int     //
	threads  int     // tid = pid + [0, threads)
	pool     int     // processes of this kind in the first 60
	ports    []int   // listening ports, the first the busiest; none: a client only
	bind     bind    //
	dual     bool    // listens on [::]: IPv4 peers are seen as [::ffff:a.b.c.d]
	mapped   bool    // connects with AF_INET6 sockets (Java): IPv4 peers seen as mapped
	ret      int     // connect(2) return on success: 0 blocking, -115 non-blocking
	activity float64 // how many connections it opens, relative
	local    float64 // chance to use each local service
	ext      float64 // chance to use each external endpoint
	pop      float64 // as a server: how popular, relative
}

// catalogue lists 60 processes (pools counted), ordered so that a short prefix still has
// servers and clients. Activity, appetites and popularity shape the graph; ext was tuned so
// the defaults give about 17,500 distinct edges.
var catalogue = []template{
	{comm: "nginx", uid: 33, threads: 1, pool: 4, ports: []int{443, 80}, bind: bindAny, dual: true, ret: -115, activity: 3, local: 0.5, ext: 0.05, pop: 3},
	{comm: "curl", uid: 1000, threads: 1, pool: 1, ret: -115, activity: 1, local: 0.3, ext: 0.5},
	{comm: "postgres", uid: 999, threads: 1, pool: 1, ports: []int{5432}, bind: bindLoopback, ret: 0, activity: 0.2, local: 0.05, ext: 0.05, pop: 2},
	{comm: "python3", uid: 1000, threads: 3, pool: 2, ret: 0, activity: 1, local: 0.4, ext: 0.6},
	{comm: "php-fpm: pool w", uid: 33, threads: 1, pool: 3, ports: []int{9000}, bind: bindLoopback, ret: 0, activity: 2, local: 0.3, ext: 0.2, pop: 2},
	{comm: "Web Content", uid: 1000, threads: 30, pool: 2, ret: -115, activity: 2, local: 0.2, ext: 0.9},
	{comm: "redis-server", uid: 107, threads: 4, pool: 1, ports: []int{6379}, bind: bindLoopback, ret: -115, activity: 0.1, local: 0.05, ext: 0.02, pop: 3},
	{comm: "java", uid: 1001, threads: 80, pool: 2, ports: []int{8080, 8443}, bind: bindAny, dual: true, mapped: true, ret: -115, activity: 2, local: 0.4, ext: 0.5, pop: 2},
	{comm: "mysqld", uid: 106, threads: 40, pool: 1, ports: []int{3306}, bind: bindAny, dual: true, ret: 0, activity: 0.1, local: 0.05, ext: 0.05, pop: 2},
	{comm: "Socket Thread", uid: 1000, threads: 1, pool: 1, ret: -115, activity: 2, local: 0.1, ext: 0.9},
	{comm: "gunicorn: worke", uid: 1000, threads: 1, pool: 3, ports: []int{8000}, bind: bindLoopback, ret: 0, activity: 1, local: 0.3, ext: 0.3, pop: 1},
	{comm: "memcached", uid: 108, threads: 5, pool: 1, ports: []int{11211}, bind: bindLoopback, ret: 0, activity: 0, local: 0, ext: 0, pop: 1.5},
	{comm: "node", uid: 1000, threads: 11, pool: 2, ports: []int{3000}, bind: bindAny, dual: true, ret: -115, activity: 1.5, local: 0.4, ext: 0.6, pop: 1},
	{comm: "systemd-resolve", uid: 101, threads: 1, pool: 1, ports: []int{53}, bind: bindStub, ret: -115, activity: 0.5, local: 0, ext: 0.1, pop: 0.3},
	{comm: "prometheus", uid: 65534, threads: 12, pool: 1, ports: []int{9090}, bind: bindAny, ret: -115, activity: 1, local: 0.9, ext: 0.3, pop: 0.3},
	{comm: "node_exporter", uid: 65534, threads: 6, pool: 1, ports: []int{9100}, bind: bindAny, ret: -115, activity: 0, local: 0, ext: 0, pop: 0.5},
	{comm: "envoy", uid: 101, threads: 8, pool: 2, ports: []int{10000, 15001}, bind: bindAny, dual: true, ret: -115, activity: 2, local: 0.5, ext: 0.5, pop: 2},
	{comm: "app=api|v2", uid: 1002, threads: 4, pool: 1, ports: []int{7000}, bind: bindLoopback, ret: -115, activity: 1, local: 0.4, ext: 0.4, pop: 1},
	{comm: "puma 5.6.4 (tcp", uid: 1003, threads: 5, pool: 2, ports: []int{3002}, bind: bindLoopback, ret: 0, activity: 1, local: 0.3, ext: 0.3, pop: 1},
	{comm: "caf\xc3\xa9-srv", uid: 1004, threads: 2, pool: 1, ports: []int{7443}, bind: bindAny, ret: -115, activity: 0.5, local: 0.2, ext: 0.3, pop: 0.5},
	{comm: "Chrome_IOThread", uid: 1000, threads: 1, pool: 1, ret: -115, activity: 2, local: 0.1, ext: 0.9},
	{comm: "DNS Res~ver #3", uid: 1000, threads: 1, pool: 1, ret: -115, activity: 0.5, local: 0.1, ext: 0.2},
	{comm: "Isolated Web Co", uid: 1000, threads: 20, pool: 1, ret: -115, activity: 1, local: 0.1, ext: 0.8},
	{comm: "consul", uid: 100, threads: 10, pool: 1, ports: []int{8500, 8300}, bind: bindAny, ret: -115, activity: 1, local: 0.3, ext: 0.3, pop: 1},
	{comm: "beam.smp", uid: 110, threads: 30, pool: 1, ports: []int{5672}, bind: bindAny, dual: true, ret: -115, activity: 0.3, local: 0.1, ext: 0.1, pop: 1},
	{comm: "clickhouse-serv", uid: 111, threads: 40, pool: 1, ports: []int{8123, 9440}, bind: bindAny, ret: -115, activity: 0.3, local: 0.1, ext: 0.2, pop: 0.5},
	{comm: "etcd", uid: 112, threads: 10, pool: 1, ports: []int{2379, 2380}, bind: bindAny, ret: -115, activity: 0.5, local: 0.1, ext: 0.2, pop: 1},
	{comm: "kubelet", uid: 0, threads: 20, pool: 1, ports: []int{10250}, bind: bindAny, ret: -115, activity: 1, local: 0.3, ext: 0.4, pop: 0.5},
	{comm: "containerd", uid: 0, threads: 15, pool: 1, ret: -115, activity: 0.5, local: 0.1, ext: 0.3},
	{comm: "dockerd", uid: 0, threads: 15, pool: 1, ports: []int{2375}, bind: bindLoopback, ret: -115, activity: 0.5, local: 0.1, ext: 0.3, pop: 0.3},
	{comm: "sshd", uid: 0, threads: 1, pool: 1, ports: []int{22}, bind: bindAny, ret: 0, activity: 0, local: 0, ext: 0, pop: 0.2},
	{comm: "ssh", uid: 1000, threads: 1, pool: 1, ret: 0, activity: 0.2, local: 0.05, ext: 0.2},
	{comm: "wget", uid: 1000, threads: 1, pool: 1, ret: 0, activity: 0.3, local: 0.1, ext: 0.3},
	{comm: "git-remote-http", uid: 1000, threads: 2, pool: 1, ret: -115, activity: 0.3, local: 0.05, ext: 0.2},
	{comm: "backup.sh", uid: 0, threads: 1, pool: 1, ret: 0, activity: 0.1, local: 0.1, ext: 0.1},
	{comm: "rsync", uid: 0, threads: 1, pool: 1, ret: 0, activity: 0.2, local: 0.05, ext: 0.2},
	{comm: "http", uid: 42, threads: 1, pool: 1, ret: -115, activity: 0.3, local: 0, ext: 0.2},
	{comm: "pg_dump", uid: 999, threads: 1, pool: 1, ret: 0, activity: 0.1, local: 0.1, ext: 0.05},
	{comm: "psql", uid: 1000, threads: 1, pool: 1, ret: 0, activity: 0.2, local: 0.1, ext: 0.05},
	{comm: "redis-cli", uid: 1000, threads: 1, pool: 1, ret: 0, activity: 0.2, local: 0.1, ext: 0.05},
	{comm: "filebeat", uid: 0, threads: 8, pool: 1, ret: -115, activity: 0.5, local: 0.2, ext: 0.3},
	{comm: "telegraf", uid: 113, threads: 8, pool: 1, ret: -115, activity: 0.5, local: 0.5, ext: 0.2},
	{comm: "vault", uid: 114, threads: 10, pool: 1, ports: []int{8200}, bind: bindAny, ret: -115, activity: 0.5, local: 0.2, ext: 0.3, pop: 0.5},
	{comm: "sidekiq 6.5.1 a", uid: 1003, threads: 10, pool: 1, ret: -115, activity: 1, local: 0.4, ext: 0.4},
	{comm: "kube-proxy", uid: 0, threads: 6, pool: 1, ports: []int{10256}, bind: bindAny, ret: -115, activity: 0.5, local: 0.1, ext: 0.3, pop: 0.2},
	{comm: "haproxy", uid: 115, threads: 2, pool: 2, ports: []int{5000, 8404}, bind: bindAny, dual: true, ret: -115, activity: 1, local: 0.4, ext: 0.2, pop: 1},
}

// process is one pid on the host.
type process struct {
	t       *template
	tmpl    int // index into catalogue: processes of one template form one pool
	pid     int
	meta    []byte // "|pid=... " up to "tid=", then the line goes on per event
	tail    []byte // " uid=N comm=NAME" for ← lines
	tailOut []byte // " uid=N ret=R comm=NAME" for → lines
}

// service is a listening port group: the pool of processes of one template.
type service struct {
	t       *template
	members []int // indexes into procs
}

// endpoint is an external host's open port.
type endpoint struct {
	host int
	port int
}

type extHost struct {
	v4, v6 netip.Addr
	v4s    string // "a.b.c.d"
	v4m    string // "[::ffff:a.b.c.d]"
	v6s    string // "[v6]"
	ports  []int
}

// edgePlan is one pair that talks: a client and a local service, or a client and an external endpoint.
type edgePlan struct {
	client int // index into procs
	target int // index into services or endpoints
}

// world is the host, its neighbours and who talks to whom, all drawn from the seed.
type world struct {
	procs     []process
	services  []service
	hosts     []extHost
	endpoints []endpoint
	local     []edgePlan
	localCum  []float64 // cumulative weights of local
	ext       []edgePlan
	extCum    []float64
	inbound   []int // services reachable from outside (bind any)
}

// extKinds are the port sets of external hosts: web servers, databases, brokers, ...
var extKinds = [][]int{
	{443, 80}, {443}, {443}, {443, 80}, {5432}, {3306}, {6379}, {9092, 9093},
	{9200, 9300}, {25, 587, 993}, {53, 853}, {22, 443}, {443, 5000}, {389, 636},
	{4317, 4318}, {27017}, {8080}, {11211},
}

const (
	hostV4 = "10.0.2.15"
	hostV6 = "2001:db8:0:2::15"
)

func buildWorld(cfg config) *world {
	r := newRNG(cfg.Seed, 1) // the world has its own stream: -connections does not change it
	w := &world{}

	// Processes: the catalogue expanded by pool, cycled past its end.
	var order []int
	for i := range catalogue {
		for range catalogue[i].pool {
			order = append(order, i)
		}
	}
	pid := 280 + r.intn(400)
	svcOf := make(map[int]int) // template → service index
	for i := range cfg.Processes {
		ti := order[i%len(order)]
		t := &catalogue[ti]
		p := process{t: t, tmpl: ti, pid: pid}
		pid += t.threads + 1 + r.intn(900)
		p.meta = fmt.Appendf(nil, "|pid=%d tid=", p.pid)
		name := commText(t.comm, cfg.Pad)
		p.tail = fmt.Appendf(nil, " uid=%d comm=%s\n", t.uid, name)
		p.tailOut = fmt.Appendf(nil, " uid=%d ret=%d comm=%s\n", t.uid, t.ret, name)
		w.procs = append(w.procs, p)
		if len(t.ports) > 0 {
			si, ok := svcOf[ti]
			if !ok {
				si = len(w.services)
				svcOf[ti] = si
				w.services = append(w.services, service{t: t})
				if t.bind == bindAny {
					w.inbound = append(w.inbound, si)
				}
			}
			w.services[si].members = append(w.services[si].members, i)
		}
	}

	// External hosts and their open ports.
	for h := range cfg.External {
		var ports []int
		if h%8 == 7 {
			// One host in eight is a Kubernetes node with many NodePorts.
			seen := map[int]bool{}
			for range 60 + r.intn(80) {
				port := 30000 + r.intn(2768)
				if !seen[port] {
					seen[port] = true
					ports = append(ports, port)
				}
			}
		} else {
			ports = extKinds[r.intn(len(extKinds))]
		}
		var v4 netip.Addr
		switch h % 4 {
		case 0, 1:
			v4 = netip.AddrFrom4([4]byte{10, 0, byte(3 + h/200), byte(10 + h%200)})
		case 2:
			v4 = netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + h%250)})
		default:
			v4 = netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + h%250)})
		}
		v6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(0x10 + h/256), 0, byte(h), 14: byte(h >> 8), 15: byte(1 + h%250)})
		w.hosts = append(w.hosts, extHost{v4: v4, v6: v6, v4s: v4.String(), v4m: mappedText(v4.String()), v6s: "[" + v6.String() + "]", ports: ports})
		for _, port := range ports {
			w.endpoints = append(w.endpoints, endpoint{host: h, port: port})
		}
	}

	// Who talks to whom. Each pair gets a heavy-tailed weight.
	var localW, extW []float64
	for ci := range w.procs {
		t := w.procs[ci].t
		if t.activity == 0 {
			continue
		}
		chosen := 0
		for si := range w.services {
			s := &w.services[si]
			if len(s.members) == 1 && s.members[0] == ci {
				continue // would only talk to itself
			}
			if r.float() < t.local*math.Min(1, s.t.pop) {
				w.local = append(w.local, edgePlan{ci, si})
				localW = append(localW, t.activity*s.t.pop*r.lognormal(1.5))
				chosen++
			}
		}
		if chosen == 0 && t.local > 0 && len(w.services) > 0 {
			if si := r.intn(len(w.services)); !(len(w.services[si].members) == 1 && w.services[si].members[0] == ci) {
				w.local = append(w.local, edgePlan{ci, si})
				localW = append(localW, t.activity*w.services[si].t.pop*r.lognormal(1.5))
			}
		}
		for ei := range w.endpoints {
			if r.float() < t.ext*extAppetite {
				w.ext = append(w.ext, edgePlan{ci, ei})
				extW = append(extW, t.activity*r.lognormal(1.5))
			}
		}
	}
	w.localCum = cumulative(localW)
	w.extCum = cumulative(extW)
	return w
}

// extAppetite scales every template's ext: the knob that sets the number of external
// edges, which are most of the edges (1.0 gives 17,630 with the default flags).
const extAppetite = 1.0

// uniformShare of the draws ignore the weights, so that every planned pair shows up.
const uniformShare = 0.2

func cumulative(ws []float64) []float64 {
	cum := make([]float64, len(ws))
	sum := 0.0
	for i, w := range ws {
		sum += w
		cum[i] = sum
	}
	return cum
}

// pick draws an index by weight, or uniformly for uniformShare of the draws.
func pick(r *rng, cum []float64) int {
	n := len(cum)
	if r.float() < uniformShare {
		return r.intn(n)
	}
	x := r.float() * cum[n-1]
	lo, hi := 0, n-1
	for lo < hi {
		mid := (lo + hi) / 2
		if cum[mid] <= x {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// commText prints a name as bpftrace's %r prints buf(comm, 16): printable ASCII as is,
// other bytes as \xNN, then (if pad) the \x00 bytes that fill the 16-byte buffer.
func commText(comm string, pad bool) string {
	var b []byte
	for i := 0; i < len(comm); i++ {
		c := comm[i]
		if c >= 0x20 && c < 0x7f {
			b = append(b, c)
		} else {
			b = fmt.Appendf(b, `\x%02x`, c)
		}
	}
	if pad {
		for range 16 - len(comm) {
			b = append(b, `\x00`...)
		}
	}
	return string(b)
}
