package trace

import (
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// bpftraceString decodes a JSON string literal, quotes included, as bpftrace writes it,
// into its bytes. bpftrace v0.17 escapes every byte above 0x7f as a sign-extended
// \uffffffXX (the arrow → is \uffffffe2\uffffff86\uffffff92), which no JSON decoder reads
// as meant: here it is the byte 0xXX. Other escapes are JSON's (a \uXXXX is written as
// UTF-8, a surrogate pair as one character), and raw bytes are kept as they are, valid
// UTF-8 or not, so a name arrives byte for byte.
func bpftraceString(b []byte) ([]byte, error) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return nil, errors.New("not a JSON string")
	}
	b = b[1 : len(b)-1]
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '"' {
			return nil, errors.New("unescaped quote in a JSON string")
		}
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i == len(b) {
			return nil, errors.New("JSON string ends in a backslash")
		}
		switch b[i] {
		case '"', '\\', '/':
			out = append(out, b[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if v, ok := hexN(b[i+1:], 8); ok && v>>8 == 0xffffff && v&0xff >= 0x80 {
				out = append(out, byte(v))
				i += 8
				break
			}
			r, ok := hexN(b[i+1:], 4)
			if !ok {
				return nil, errors.New("bad \\u escape in a JSON string")
			}
			i += 4
			if utf16.IsSurrogate(rune(r)) {
				if i+6 < len(b) && b[i+1] == '\\' && b[i+2] == 'u' {
					if lo, ok := hexN(b[i+3:], 4); ok {
						if d := utf16.DecodeRune(rune(r), rune(lo)); d != utf8.RuneError {
							out = utf8.AppendRune(out, d)
							i += 6
							break
						}
					}
				}
			}
			out = utf8.AppendRune(out, rune(r)) // a lone surrogate becomes U+FFFD
		default:
			return nil, errors.New("bad escape in a JSON string")
		}
	}
	return out, nil
}

// hexN reads n hex digits from the start of b.
func hexN(b []byte, n int) (uint32, bool) {
	if len(b) < n {
		return 0, false
	}
	var v uint32
	for _, c := range b[:n] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint32(c)
	}
	return v, true
}
