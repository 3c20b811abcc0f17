package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"testing"
)

// benchTrace builds a trace shaped like netflow-gen's default (both lines of local
// connections, a share of external peers, a share of IPv6, padded names with spaces).
func benchTrace(conns int) []byte {
	r := rand.New(rand.NewSource(1))
	var b bytes.Buffer
	names := []string{`nginx\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00`, `php-fpm: pool www`, `postgres\x00\x00\x00\x00\x00\x00\x00\x00`, `java\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00`}
	port := 32768
	for i := 0; i < conns; i++ {
		port++
		if port > 60999 {
			port = 32768
		}
		cl, sv := r.Intn(60), r.Intn(60)
		srvPort := 3000 + sv
		if r.Intn(5) == 0 {
			fmt.Fprintf(&b, "198.51.100.%d:443→10.0.2.15:%d|pid=%d tid=%d uid=33 ret=0 comm=%s\n", r.Intn(40), port, 1000+cl, 1000+cl, names[cl%4])
			continue
		}
		a := "127.0.0.1"
		if r.Intn(10) == 0 {
			a = "[::1]"
		}
		fmt.Fprintf(&b, "%s:%d→%s:%d|pid=%d tid=%d uid=33 ret=0 comm=%s\n", a, srvPort, a, port, 1000+cl, 1000+cl, names[cl%4])
		fmt.Fprintf(&b, "%s:%d←%s:%d|pid=%d tid=%d uid=106 comm=%s\n", a, port, a, srvPort, 2000+sv, 2000+sv, names[sv%4])
	}
	return b.Bytes()
}

func BenchmarkPipeline(b *testing.B) {
	in := benchTrace(200000)
	lines := bytes.Count(in, []byte{'\n'})
	b.SetBytes(int64(len(in)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if code := Main(context.Background(), []string{"-q"}, bytes.NewReader(in), io.Discard, io.Discard); code != 0 {
			b.Fatal(code)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
