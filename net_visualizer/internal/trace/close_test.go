package trace

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The close lines of docs/line-format.md, version 2.
const (
	specClientClose = "close 127.0.0.1:8080→127.0.0.1:51044|pid=4012 uid=1000 conn=ffff8881045b3e00-1a2b3c4d end=local dur_us=1532 sent=12345 recv=54321 retrans=0 connect_us=85 comm=curl"
	specServerClose = "close 127.0.0.1:51044←127.0.0.1:8080|pid=3977 uid=0 conn=ffff888104d21a00-1a2b4f10 end=peer dur_us=1449 sent=54321 recv=12345 retrans=0 comm=nginx"
)

func TestParseCloseLines(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Event
	}{
		{"the spec's client close", specClientClose,
			Event{Dir: Out, Remote: ap("127.0.0.1:8080"), Local: ap("127.0.0.1:51044"), PID: 4012, Comm: "curl", Count: 1,
				Conn: "ffff8881045b3e00-1a2b3c4d", Close: &Close{End: EndLocal, DurUS: 1532, HasDur: true, Sent: 12345, Recv: 54321, ConnectUS: 85, HasConnect: true},
				Attrs: []Attr{{"uid", "1000"}}}},
		{"the spec's server close", specServerClose,
			Event{Dir: In, Remote: ap("127.0.0.1:51044"), Local: ap("127.0.0.1:8080"), PID: 3977, Comm: "nginx", Count: 1,
				Conn: "ffff888104d21a00-1a2b4f10", Close: &Close{End: EndPeer, DurUS: 1449, HasDur: true, Sent: 54321, Recv: 12345},
				Attrs: []Attr{{"uid", "0"}}}},
		{"every end", "close 1.2.3.4:80->5.6.7.8:1|pid=1 conn=a end=reset-sent retrans=3 comm=x",
			Event{Dir: Out, Remote: ap("1.2.3.4:80"), Local: ap("5.6.7.8:1"), PID: 1, Comm: "x", Count: 1,
				Conn: "a", Close: &Close{End: EndResetSent, Retrans: 3}}},
		{"reset received", "close 1.2.3.4:80->5.6.7.8:1|pid=1 conn=r end=reset-recv comm=x",
			Event{Dir: Out, Remote: ap("1.2.3.4:80"), Local: ap("5.6.7.8:1"), PID: 1, Comm: "x", Count: 1, Conn: "r", Close: &Close{End: EndResetRecv}}},
		{"timeout", "close 1.2.3.4:80->5.6.7.8:1|pid=1 conn=t end=timeout comm=x",
			Event{Dir: Out, Remote: ap("1.2.3.4:80"), Local: ap("5.6.7.8:1"), PID: 1, Comm: "x", Count: 1, Conn: "t", Close: &Close{End: EndTimeout}}},
		{"never established", "close 1.2.3.4:80->5.6.7.8:0|pid=1 conn=b end=never dur_us=1000 sent=0 recv=0 retrans=2 comm=x",
			Event{Dir: Out, Remote: ap("1.2.3.4:80"), Local: ap("5.6.7.8:0"), PID: 1, Comm: "x", Count: 1,
				Conn: "b", Close: &Close{End: EndNever, DurUS: 1000, HasDur: true, Retrans: 2}}},
		{"aggregated close", "close 127.0.0.1:5432→127.0.0.1:0|pid=8 count=40 end=local sent=400 recv=800 comm=php",
			Event{Dir: Out, Remote: ap("127.0.0.1:5432"), Local: ap("127.0.0.1:0"), PID: 8, Comm: "php", Count: 40, Close: &Close{End: EndLocal, Sent: 400, Recv: 800}}},
		{"an open line with conn= and reconnect=1", "127.0.0.1:8080→127.0.0.1:51044|pid=4012 conn=c0ffee reconnect=1 comm=curl",
			Event{Dir: Out, Remote: ap("127.0.0.1:8080"), Local: ap("127.0.0.1:51044"), PID: 4012, Comm: "curl", Count: 1,
				Conn: "c0ffee", Reconnect: true}},
		{"reconnect=0", "127.0.0.1:8080→127.0.0.1:51044|pid=4012 reconnect=0 comm=curl",
			Event{Dir: Out, Remote: ap("127.0.0.1:8080"), Local: ap("127.0.0.1:51044"), PID: 4012, Comm: "curl", Count: 1}},
		{"close keys on an open line are kept as attributes", "1.2.3.4:80->5.6.7.8:1|pid=1 end=local sent=5 comm=x",
			Event{Dir: Out, Remote: ap("1.2.3.4:80"), Local: ap("5.6.7.8:1"), PID: 1, Comm: "x", Count: 1,
				Attrs: []Attr{{"end", "local"}, {"sent", "5"}}}},
		{"a hostile name on a close line", "close 1.2.3.4:80->5.6.7.8:1|pid=1 conn=h end=local comm=x\"}]; end=peer <b>&amp;",
			Event{Dir: Out, Remote: ap("1.2.3.4:80"), Local: ap("5.6.7.8:1"), PID: 1, Comm: "x\"}]; end=peer <b>&amp;", Count: 1, Conn: "h", Close: &Close{End: EndLocal}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Parser
			var ev Event
			kind, err := p.Parse([]byte(tt.line), &ev)
			require.NoError(t, err)
			require.Equal(t, EventLine, kind)
			if len(ev.Attrs) == 0 {
				ev.Attrs = nil
			}
			assert.Equal(t, tt.want, ev)

			// It prints back to a line that parses to the same event.
			again := ev.AppendLine(nil)
			var ev2 Event
			var p2 Parser
			_, err = p2.Parse(again, &ev2)
			require.NoError(t, err, "%s", again)
			if len(ev2.Attrs) == 0 {
				ev2.Attrs = nil
			}
			assert.Equal(t, tt.want, ev2, "%s", again)
		})
	}
}

func TestParseCloseErrors(t *testing.T) {
	tests := []struct{ line, want string }{
		{"close 1.2.3.4:80->5.6.7.8:1|pid=1 conn=a end=local sent=12x comm=x", "sent=\"12x\" is not a number"},
		{"close 1.2.3.4:80->5.6.7.8:1|pid=1 end=local recv=-1 comm=x", "recv=\"-1\" is not a number"},
		{"close 1.2.3.4:80->5.6.7.8:1|pid=1 end=local dur_us= comm=x", "dur_us=\"\" is not a number"},
		{"close 1.2.3.4:80->5.6.7.8:1|pid=1 end=local retrans=99999999999999999999 comm=x", "retrans=\"99999999999999999999\" is not a number"},
		{"close 1.2.3.4:80->5.6.7.8:1|pid=1 end=local connect_us=1.5 comm=x", "connect_us=\"1.5\" is not a number"},
		{"close 1.2.3.4:80->5.6.7.8:1|pid=1 end=sideways comm=x", "end=\"sideways\" is not"},
		{"close 1.2.3.4:80->5.6.7.8:1|pid=1 comm=x", "close line has no end="},
		{"close 1.2.3.4:80->5.6.7.8:1|pid=1 end=local comm=x", "close line has no conn="},
		{"close 1.2.3.4:80->5.6.7.8:1|1 curl", "close line has no end="},
		{"1.2.3.4:80->5.6.7.8:1|pid=1 reconnect=yes comm=x", "reconnect=\"yes\" is not 0 or 1"},
		{"1.2.3.4:80->5.6.7.8:1|pid=1 conn= comm=x", "conn= is empty"},
		{"1.2.3.4:80->5.6.7.8:1|pid=1 conn=ab\x01 comm=x", "conn=\"ab\\x01\" is not"},
		{"close|pid=1 end=local comm=x", "no arrow"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			var p Parser
			var ev Event
			_, err := p.Parse([]byte(tt.line), &ev)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestParseVersionLine(t *testing.T) {
	for line, want := range map[string]uint64{"# line format 1": 1, "# line format 2": 2, "# line format 3": 3, "  # line format 12\r": 12} {
		var p Parser
		var ev Event
		kind, err := p.Parse([]byte(line), &ev)
		require.NoError(t, err, line)
		assert.Equal(t, Version, kind, line)
		assert.Equal(t, want, ev.Count, line)
	}
	for _, line := range []string{"# line format", "# line format x", "# line formats 2", "# line format 2 3"} {
		var p Parser
		var ev Event
		kind, err := p.Parse([]byte(line), &ev)
		require.NoError(t, err, line)
		assert.Equal(t, Skip, kind, "%q is a comment", line)
	}
}

func TestParseBpftraceJSONClose(t *testing.T) {
	// bpftrace v0.17 -f json, the arrow as it writes bytes above 0x7f.
	line := `{"type": "printf", "data": "close 127.0.0.1:8080\uffffffe2\uffffff86\uffffff92127.0.0.1:51044|pid=4012 conn=ab-1 end=reset-recv dur_us=7 sent=1 recv=2 retrans=1 connect_us=5 comm=curl\n"}`
	var p Parser
	var ev Event
	kind, err := p.Parse([]byte(line), &ev)
	require.NoError(t, err)
	require.Equal(t, EventLine, kind)
	require.NotNil(t, ev.Close)
	assert.Equal(t, Out, ev.Dir)
	assert.Equal(t, EndResetRecv, ev.Close.End)
	assert.Equal(t, "ab-1", ev.Conn)
	c := ev.Close
	assert.Equal(t, [5]uint64{7, 1, 2, 1, 5}, [5]uint64{c.DurUS, c.Sent, c.Recv, c.Retrans, c.ConnectUS})
}

func TestParseCloseLazyAttrs(t *testing.T) {
	p := Parser{LazyAttrs: true}
	var ev Event
	_, err := p.Parse([]byte(specClientClose), &ev)
	require.NoError(t, err)
	p.DecodeAttrs(&ev)
	assert.Equal(t, []Attr{{"uid", "1000"}}, ev.Attrs, "the typed keys are fields, not attributes")
	assert.Equal(t, uint64(12345), ev.Close.Sent)
}
