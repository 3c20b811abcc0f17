package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netflow/net_visualizer/internal/lifecycle"
	"netflow/net_visualizer/internal/trace"
)

// readCSVSequential is the baseline: the whole file decoded and joined in the reader's
// goroutine with lifecycle.Reader, in batches of 4096 events through the same add. It is
// how the CSV was read before its blocks went to the workers.
func (p *pipeline) readCSVSequential(in *input, r io.Reader, socks *lifecycle.Sockets) error {
	send := submitReady(p)
	rd, err := lifecycle.NewReader(r)
	if err != nil {
		return fmt.Errorf("%s: %w", in.displayName(), err)
	}
	rd.Sockets = socks
	b := &batch{lines: 1}
	var ev trace.Event
	for {
		err := rd.Next(&ev)
		if err == io.EOF {
			break
		}
		var re *lifecycle.RowError
		switch {
		case errors.As(err, &re):
			b.bad = append(b.bad, badLine{in.where(re.Line), re.Err.Error()})
			continue
		case err != nil:
			return fmt.Errorf("%s: %w", in.displayName(), err)
		}
		if err := p.add(b, in, &ev, nil, nil, 0); err != nil {
			return err
		}
		b.lines++
		if len(b.events) >= 4096 {
			send(b)
			b = &batch{}
		}
	}
	send(b)
	return nil
}

// sequential runs the baseline over files that share one socket table.
func sequential(files []input) *pipeline {
	p := &pipeline{order: make(chan chan *batch, 4)}
	go func() {
		defer close(p.order)
		socks := lifecycle.NewSockets()
		for i := range files {
			if err := p.readCSVSequential(&files[i], files[i].r, socks); err != nil {
				submitReady(p)(&batch{err: err})
				return
			}
		}
	}()
	return p
}

// drainAll lists what a pipeline delivers, in order: events as lines, bad rows, lines.
func drainAll(p *pipeline) (events, bad []string, lines uint64, err error) {
	for res := range p.order {
		b := <-res
		for _, e := range b.events {
			events = append(events, string(e.AppendLine(nil)))
		}
		for _, l := range b.bad {
			bad = append(bad, l.String())
		}
		lines += b.lines
		if b.err != nil && err == nil {
			err = b.err
		}
	}
	return
}

// genCSV writes a lifecycle capture of conns connections shaped as scripts/netflow-lifecycle
// writes a busy server's: SOCKET_CREATE, a CONNECT (a third non-blocking: -115, then 0
// from hiredis's second connect), the ACCEPT, two CLOSEs; names with commas and quotes
// (quoted fields), and every bad-th row broken (0: none).
func genCSV(conns, bad int, seed int64) []byte {
	r := rand.New(rand.NewSource(seed))
	var b bytes.Buffer
	b.WriteString(csvHeader)
	names := []string{"nginx", "php-fpm: pool www", `"cli,ent ""x"""`, "postgres", "redis-cli"}
	n := 0
	w := func(ev string, pid int, comm, laddr, raddr, lport, rport string, fd, ret int) {
		n++
		if bad > 0 && n%bad == 0 {
			fmt.Fprintf(&b, "2026-12-01 21:36:10.%06d,%s,%d,%d,%s,AF_INET,SOCK_STREAM,TCP,4,%s,%s,%s,x%s,%d,,1000,%d\n", n%1000000, ev, pid, pid, comm, laddr, raddr, lport, rport, fd, ret)
			return
		}
		fmt.Fprintf(&b, "2026-12-01 21:36:10.%06d,%s,%d,%d,%s,AF_INET,SOCK_STREAM,TCP,4,%s,%s,%s,%s,%d,,%d,%d\n", n%1000000, ev, pid, pid, comm, laddr, raddr, lport, rport, fd, 1000+r.Intn(90000), ret)
	}
	for i := 0; i < conns; i++ {
		cl, sv := 1000+r.Intn(60), 2000+r.Intn(20)
		fd, sfd := 3+r.Intn(8), 10+r.Intn(8)
		lport, sport := fmt.Sprint(32768+i%28000), fmt.Sprint(3000+sv%20)
		cn, sn := names[cl%len(names)], names[sv%len(names)]
		w("SOCKET_CREATE", cl, cn, "", "", "", "", fd, 0)
		if r.Intn(3) == 0 {
			w("CONNECT", cl, cn, "127.0.0.1", "127.0.0.1", lport, sport, fd, -115)
			w("ACCEPT", sv, sn, "127.0.0.1", "127.0.0.1", sport, lport, sfd, 0)
			w("CONNECT", cl, cn, "127.0.0.1", "127.0.0.1", lport, sport, fd, 0)
		} else {
			w("CONNECT", cl, cn, "127.0.0.1", "127.0.0.1", lport, sport, fd, 0)
			w("ACCEPT", sv, sn, "127.0.0.1", "127.0.0.1", sport, lport, sfd, 0)
		}
		w("CLOSE", cl, cn, "127.0.0.1", "127.0.0.1", lport, sport, fd, 0)
		w("CLOSE", sv, sn, "127.0.0.1", "127.0.0.1", sport, lport, sfd, 0)
	}
	return b.Bytes()
}

// splitFiles cuts a capture into files of one directory, each with the header, so that
// sockets straddle files.
func splitFiles(csv []byte, parts int) []input {
	rows := strings.SplitAfter(strings.TrimPrefix(string(csv), csvHeader), "\n")
	var files []input
	per := (len(rows) + parts - 1) / parts
	for i := 0; i < len(rows); i += per {
		body := strings.Join(rows[i:min(i+per, len(rows))], "")
		files = append(files, input{name: filepath.Join("cap", "nw_conn", fmt.Sprintf("nw_conn_%04d.csv", len(files)+1)), r: strings.NewReader(csvHeader + body)})
	}
	return files
}

// TestCSVBlocksMatchSequential: a capture of several files in one directory, its rows cut
// into blocks as small as 100 bytes (so that a socket's rows are in different blocks and
// files), gives exactly what the sequential reader gives: the same events in the same
// order, the same bad rows with their file and line, the same line count.
func TestCSVBlocksMatchSequential(t *testing.T) {
	csv := genCSV(3000, 97, 1)
	files := func() []input { return splitFiles(csv, 3) }
	wantEv, wantBad, wantLines, err := drainAll(sequential(files()))
	require.NoError(t, err)
	require.NotEmpty(t, wantBad)
	require.Greater(t, len(wantEv), 4000)
	saved := chunkSize
	defer func() { chunkSize = saved }()
	for _, size := range []int{100, 1000, 64 << 10, saved} {
		chunkSize = size
		open := func(in input) (io.Reader, func(), error) { return in.r, func() {}, nil }
		ev, bad, lines, err := drainAll(startPipeline(files(), open, nil))
		require.NoError(t, err)
		assert.Equal(t, wantEv, ev, "blocks of %d bytes", size)
		assert.Equal(t, wantBad, bad, "blocks of %d bytes", size)
		assert.Equal(t, wantLines, lines, "blocks of %d bytes", size)
	}
	assert.Regexp(t, `^cap/nw_conn/nw_conn_0001.csv:[0-9]+: Remote Port "x[0-9]+": not a port$`, wantBad[0])
	assert.Regexp(t, `^cap/nw_conn/nw_conn_0003.csv:`, wantBad[len(wantBad)-1], "bad rows of every file, named by file and line")
}

// BenchmarkCSV: the sequential baseline beside the pipeline, on a generated capture of
// 200,000 connections (1,066,667 rows, 116 MB) in one file, delivered in order.
func BenchmarkCSV(b *testing.B) {
	csv := genCSV(200000, 0, 1)
	rows := bytes.Count(csv, []byte{'\n'})
	one := func() []input { return []input{{name: "nw_conn_0001.csv", r: bytes.NewReader(csv)}} }
	open := func(in input) (io.Reader, func(), error) { return in.r, func() {}, nil }
	for _, bc := range []struct {
		name string
		run  func() *pipeline
	}{
		{"sequential", func() *pipeline { return sequential(one()) }},
		{"pipeline", func() *pipeline { return startPipeline(one(), open, nil) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(csv)))
			for i := 0; i < b.N; i++ {
				n := 0
				for res := range bc.run().order {
					n += len((<-res).events)
				}
				if n == 0 {
					b.Fatal("no events")
				}
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
