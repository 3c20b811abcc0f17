package trace

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIsPrettyJSON(t *testing.T) {
	for head, want := range map[string]bool{
		"{\n  \"type\": 1\n}":                 true,
		"\xef\xbb\xbf\n\n  {  \r\n  ":         true,
		`{"type":"NetworkEvent"}`:             false,
		"1.2.3.4:80→5.6.7.8:1|pid=1 comm={\n": false,
		"{":                                   false, // no newline seen: not known to be pretty
		"":                                    false,
	} {
		assert.Equal(t, want, IsPrettyJSON([]byte(head)), "%q", head)
	}
}

// Newlines inside an object become spaces, others stay; braces, quotes and escapes inside
// strings are followed, even when a read ends in the middle of one.
func TestJoinJSON(t *testing.T) {
	in := "{\n \"a\": \"}{ \\\" \\\\\",\n \"b\": [\n 1\n ]\n}\n{\n\"c\": \"\\n\"\n}\n"
	want := "{  \"a\": \"}{ \\\" \\\\\",  \"b\": [  1  ] }\n{ \"c\": \"\\n\" }\n"
	got, err := io.ReadAll(JoinJSON(iotest.OneByteReader(strings.NewReader(in))))
	require.NoError(t, err)
	assert.Equal(t, want, string(got))
}
