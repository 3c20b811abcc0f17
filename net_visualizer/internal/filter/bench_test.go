package filter

import "testing"

func BenchmarkMatch(b *testing.B) {
	benches := []struct{ name, expr string }{
		{"field", `pid == 812`},
		{"shortcuts", Shortcuts(812, "php-fpm: pool www", 5432, true)},
		{"regexp", `comm matches "^php-fpm" && direction == "out"`},
		{"in_cidr", `in_cidr(remote_addr, "10.0.0.0/8") && !in_cidr(remote_addr, "10.9.0.0/16")`},
		{"typical", And(Shortcuts(0, "", 0, true), `service in ["postgresql", "mysql"] && !failed`)},
	}
	c := pg()
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			f, err := Compile(bb.expr)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := f.Match(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMatchParallel(b *testing.B) {
	f, err := Compile(`in_cidr(remote_addr, "10.0.0.0/8") && comm startsWith "php"`)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := pg()
		for pb.Next() {
			if _, err := f.Match(c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
