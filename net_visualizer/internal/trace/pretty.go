package trace

import (
	"bytes"
	"io"
)

// IsPrettyJSON reports whether an input that starts with head is pretty-printed JSON: its
// first line that is not blank holds nothing but "{" (as NetMon's documentation and
// `jq .` print events).
func IsPrettyJSON(head []byte) bool {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	head = bytes.TrimLeft(head, " \t\r\n")
	if len(head) == 0 || head[0] != '{' {
		return false
	}
	rest := bytes.TrimLeft(head[1:], " \t\r")
	return len(rest) > 0 && rest[0] == '\n'
}

// JoinJSON returns a reader of r in which every newline inside a JSON value becomes a space,
// so that each top-level object of a pretty-printed stream is one line for the decoders. It
// follows strings and escapes, so a brace or newline escape inside a string changes nothing,
// and keeps no more than one read's bytes: an object cut short runs into what follows, up
// to the line limit.
func JoinJSON(r io.Reader) io.Reader { return &jsonJoiner{r: r} }

type jsonJoiner struct {
	r             io.Reader
	depth         int
	inString, esc bool
}

func (j *jsonJoiner) Read(b []byte) (int, error) {
	n, err := j.r.Read(b)
	for i, c := range b[:n] {
		switch {
		case j.esc:
			j.esc = false
		case j.inString:
			switch c {
			case '\\':
				j.esc = true
			case '"':
				j.inString = false
			}
		case c == '"':
			j.inString = true
		case c == '{' || c == '[':
			j.depth++
		case c == '}' || c == ']':
			if j.depth > 0 {
				j.depth--
			}
		}
		if c == '\n' && (j.depth > 0 || j.inString) {
			b[i] = ' '
		}
	}
	return n, err
}
