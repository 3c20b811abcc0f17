package trace

import (
	"bytes"
	"testing"
)

var benchLines = [][]byte{
	[]byte(`127.0.0.1:3000→127.0.0.1:54518|pid=2365 tid=2365 uid=33 ret=0 comm=nginx\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00`),
	[]byte(`127.0.0.1:54518←127.0.0.1:3000|pid=7788 tid=7824 uid=106 comm=mysqld\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00`),
	[]byte(`[::1]:6379→[::1]:41000|pid=200 tid=202 uid=33 ret=0 comm=php-fpm: pool www`),
	[]byte(`198.51.100.7:443→10.0.2.15:39874|pid=6849 tid=6925 uid=1001 ret=-115 comm=java\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00`),
}

func BenchmarkParse(b *testing.B) {
	p := Parser{LazyAttrs: true}
	var ev Event
	n := 0
	for _, l := range benchLines {
		n += len(l) + 1
	}
	b.SetBytes(int64(n))
	for i := 0; i < b.N; i++ {
		for _, l := range benchLines {
			if _, err := p.Parse(l, &ev); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(benchLines))/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkParseClose parses version 2 lines: opens with conn=, and close lines.
func BenchmarkParseClose(b *testing.B) {
	lines := [][]byte{
		[]byte(`127.0.0.1:8080→127.0.0.1:51044|pid=4012 tid=4012 uid=1000 ret=0 conn=ffff8881045b3e00-1a2b3c4d comm=curl`),
		[]byte(`127.0.0.1:51044←127.0.0.1:8080|pid=3977 tid=3977 uid=0 conn=ffff888104d21a00-1a2b4f10 comm=nginx`),
		[]byte(`close 127.0.0.1:8080→127.0.0.1:51044|pid=4012 uid=1000 conn=ffff8881045b3e00-1a2b3c4d end=local dur_us=1532 sent=12345 recv=54321 retrans=0 connect_us=85 comm=curl`),
		[]byte(`close 127.0.0.1:51044←127.0.0.1:8080|pid=3977 uid=0 conn=ffff888104d21a00-1a2b4f10 end=peer dur_us=1449 sent=54321 recv=12345 retrans=0 comm=nginx`),
	}
	p := Parser{LazyAttrs: true}
	var ev Event
	n := 0
	for _, l := range lines {
		n += len(l) + 1
	}
	b.SetBytes(int64(n))
	for i := 0; i < b.N; i++ {
		for _, l := range lines {
			if _, err := p.Parse(l, &ev); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(lines))/b.Elapsed().Seconds(), "lines/s")
}

func BenchmarkLineReader(b *testing.B) {
	var buf bytes.Buffer
	for buf.Len() < 8<<20 {
		for _, l := range benchLines {
			buf.Write(l)
			buf.WriteByte('\n')
		}
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		lr := NewLineReader(bytes.NewReader(data))
		for {
			if _, _, _, err := lr.Next(); err != nil {
				break
			}
		}
	}
}
