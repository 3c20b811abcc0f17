package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func edges(t *testing.T, trace string) string {
	t.Helper()
	var out bytes.Buffer
	require.NoError(t, run([]string{"-edges"}, strings.NewReader(trace), &out, &bytes.Buffer{}))
	return out.String()
}

func TestEdges(t *testing.T) {
	for _, tc := range []struct {
		name, trace, want string
	}{
		{
			name: "matched pair, either order",
			trace: "127.0.0.1:8080→127.0.0.1:51044|pid=10 tid=11 uid=0 ret=0 comm=curl\n" +
				"127.0.0.1:51044←127.0.0.1:8080|pid=20 tid=20 uid=0 comm=nginx\n" +
				"127.0.0.1:51045←127.0.0.1:8080|pid=20 tid=20 uid=0 comm=nginx\n" +
				"127.0.0.1:8080→127.0.0.1:51045|pid=10 tid=11 uid=0 ret=-115 comm=curl\n",
			want: "10/curl\t20/nginx\t2\n",
		},
		{
			name: "unmatched connect and accept become external nodes",
			trace: "10.0.0.5:5432→10.0.0.2:40312|pid=812 tid=815 uid=33 ret=0 comm=php-fpm: pool www\n" +
				"[2001:db8::7]:51044←[2001:db8::2]:22|pid=77 tid=77 uid=0 comm=sshd\n",
			want: "812/php-fpm: pool www\text:10.0.0.5:5432\t1\n" +
				"ext:2001:db8::7\t77/sshd\t1\n",
		},
		{
			name: "IPv4-mapped matches IPv4, padding dropped, ASCII arrows, CRLF",
			trace: "[::ffff:127.0.0.1]:9000→[::ffff:127.0.0.1]:40000|pid=1 tid=1 uid=0 comm=java\\x00\\x00\r\n" +
				"127.0.0.1:40000<-127.0.0.1:9000|pid=2 tid=2 uid=0 comm=php\\x00\n",
			want: "1/java\t2/php\t1\n",
		},
		{
			name:  "IPv6 external keeps brackets with the port",
			trace: "[2001:db8::1]:443->[2001:db8::2]:40000|pid=5 tid=5 uid=0 comm=curl\n",
			want:  "5/curl\text:[2001:db8::1]:443\t1\n",
		},
		{
			name:  "free-form metadata",
			trace: "127.0.0.1:80→127.0.0.1:40000|42 my app\n127.0.0.1:40000←127.0.0.1:80|43 web\n",
			want:  "42/my app\t43/web\t1\n",
		},
		{
			name: "failed connect never matches",
			trace: "127.0.0.1:9090→127.0.0.1:0|pid=3 tid=3 uid=0 ret=-111 comm=nc\n" +
				"127.0.0.1:9090→127.0.0.1:0|pid=3 tid=3 uid=0 ret=-111 comm=nc\n",
			want: "3/nc\tfailed:127.0.0.1:9090\t2\n",
		},
		{
			name: "a reused 4-tuple pairs first with first",
			trace: "127.0.0.1:80→127.0.0.1:40000|pid=1 comm=a\n" +
				"127.0.0.1:80→127.0.0.1:40000|pid=2 comm=b\n" +
				"127.0.0.1:40000←127.0.0.1:80|pid=3 comm=c\n" +
				"127.0.0.1:40000←127.0.0.1:80|pid=4 comm=d\n",
			want: "1/a\t3/c\t1\n2/b\t4/d\t1\n",
		},
		{
			name: "comm runs to the end of the line, keys kept",
			trace: "127.0.0.1:80→127.0.0.1:40000|pid=1 x=y comm=a=b c|d\n" +
				"127.0.0.1:40000←127.0.0.1:80|uid=5 pid=3 comm=comm=\n",
			want: "1/a=b c|d\t3/comm=\t1\n",
		},
		{
			name:  "non-event lines are skipped",
			trace: "Attaching 3 probes...\n\n# comment\nLost 5 events\n# lost 2 events\n",
			want:  "",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, edges(t, tc.trace))
		})
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct{ trace, want string }{
		{"127.0.0.1:80→127.0.0.1:1|pid=1 comm=a\nnonsense\n", "line 2: not a trace line"},
		{"127.0.0.1:70000→127.0.0.1:1|pid=1 comm=a\n", "line 1: remote endpoint: port 70000 out of range"},
		{"127.0.0.1:80→127.0.0.1:1|pid=1 tid=2\n", "line 1: no comm="},
		{"127.0.0.1:80→127.0.0.1:1|tid=2 comm=x\n", "line 1: no pid="},
		{"1.2.3:80→127.0.0.1:1|pid=1 comm=x\n", "line 1: remote endpoint"},
	} {
		err := run(nil, strings.NewReader(tc.trace), &bytes.Buffer{}, &bytes.Buffer{})
		require.Error(t, err, tc.trace)
		assert.Contains(t, err.Error(), tc.want)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"extra"}} {
		err := run(args, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
		assert.True(t, errors.As(err, new(usageError)), "%v: %v", args, err)
	}
}

func TestDOT(t *testing.T) {
	trace := "127.0.0.1:8080→127.0.0.1:51044|pid=10 tid=11 uid=0 ret=0 comm=say \"hi\"\n" +
		"127.0.0.1:51044←127.0.0.1:8080|pid=20 tid=20 uid=0 comm=nginx\n" +
		"10.0.0.5:5432→10.0.0.2:40312|pid=10 comm=say \"hi\"\n" +
		"10.0.0.6:1→10.0.0.2:0|pid=10 ret=-111 comm=say \"hi\"\n" +
		"Lost 3 events\n"
	var a, b bytes.Buffer
	require.NoError(t, run(nil, strings.NewReader(trace), &a, &bytes.Buffer{}))
	require.NoError(t, run(nil, strings.NewReader(trace), &b, &bytes.Buffer{}))
	assert.Equal(t, a.String(), b.String(), "same input, same bytes")
	out := a.String()
	assert.True(t, strings.HasPrefix(out, "digraph"))
	assert.Contains(t, out, `label="say \"hi\"\npid 10"`, "names are quoted")
	assert.Contains(t, out, `label="10.0.0.5:5432",shape="box"`)
	assert.Contains(t, out, "4 lines, 3 connections, 3 edges, 3 events lost")
	assert.Equal(t, 3, strings.Count(out, "->"))
	assert.Equal(t, 1, strings.Count(out, `style="dashed"`))
}
