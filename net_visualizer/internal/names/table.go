package names

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxLine bounds one line of a names or hosts file; a longer one is an error, not a hang.
const maxLine = 64 << 10

// Table holds labels for addresses and networks. Lookup picks the longest prefix that holds
// an address. The zero Table, and a nil *Table, label nothing. A Table is not changed after
// it is built, so Lookup is safe for concurrent use.
type Table struct {
	labels map[netip.Prefix]string
	lens4  []int // distinct IPv4 prefix lengths present, longest first
	lens6  []int // the same for IPv6
}

// LoadNames reads a names file: one "ADDRESS-OR-NETWORK  LABEL WORDS..." per line, such as
//
//	10.0.0.0/8        office network
//	10.0.0.5          db-primary
//	2001:db8::/32     lab
//
// Everything from a "#" to the end of the line is a comment; blank lines are skipped. The
// label is the rest of the line with runs of white space made single spaces. A network must
// have no bits set past its length (10.1.0.0/16, not 10.1.2.3/16); an IPv4-mapped IPv6
// address or network is taken as IPv4. Errors read "src:line: reason", for an unparsable
// address, a missing label, a label with control characters or that is not UTF-8, or a
// network that was labelled on an earlier line.
func LoadNames(r io.Reader, src string) (*Table, error) {
	t := &Table{labels: map[netip.Prefix]string{}}
	first := map[netip.Prefix]int{}
	err := eachLine(r, src, func(n int, fields []string) error {
		p, err := parseNetwork(fields[0])
		if err != nil {
			return err
		}
		if len(fields) < 2 {
			return fmt.Errorf("%s has no label", p)
		}
		label := strings.Join(fields[1:], " ")
		if err := checkLabel(label); err != nil {
			return err
		}
		if at, dup := first[p]; dup {
			return fmt.Errorf("%s already labelled on line %d", p, at)
		}
		first[p] = n
		t.labels[p] = label
		return nil
	})
	if err != nil {
		return nil, err
	}
	t.index()
	return t, nil
}

// LoadHosts reads a file in hosts(5) format, such as /etc/hosts: "ADDRESS NAME [ALIASES...]"
// per line, "#" comments. An address is labelled with its first name; when an address is on
// several lines, the first line wins, as for the system's resolver. Errors read
// "src:line: reason", for an unparsable address (a network is not allowed here), a missing
// name, or a name with control characters or that is not UTF-8.
func LoadHosts(r io.Reader, src string) (*Table, error) {
	t := &Table{labels: map[netip.Prefix]string{}}
	err := eachLine(r, src, func(n int, fields []string) error {
		a, err := netip.ParseAddr(fields[0])
		if err != nil {
			return fmt.Errorf("bad address %q", fields[0])
		}
		a = a.Unmap().WithZone("")
		if len(fields) < 2 {
			return fmt.Errorf("%s has no name", a)
		}
		if err := checkLabel(fields[1]); err != nil {
			return err
		}
		p := netip.PrefixFrom(a, a.BitLen())
		if _, dup := t.labels[p]; !dup {
			t.labels[p] = fields[1]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	t.index()
	return t, nil
}

// eachLine calls fn with the white-space separated fields of each line that has any, after
// cutting comments, and adds "src:line: " to its error.
func eachLine(r io.Reader, src string, fn func(n int, fields []string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if err := fn(n, fields); err != nil {
			return fmt.Errorf("%s:%d: %w", src, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return fmt.Errorf("%s:%d: line longer than %d bytes", src, n+1, maxLine)
		}
		return fmt.Errorf("%s:%d: %w", src, n+1, err)
	}
	return nil
}

// parseNetwork reads "10.0.0.0/8", "2001:db8::/32" or a single address, as a Prefix whose
// IPv4-mapped form is turned into IPv4.
func parseNetwork(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("bad address %q", s)
		}
		a = a.Unmap().WithZone("")
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad network %q: want an address or a network such as 10.0.0.0/8", s)
	}
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("bad network %q: an IPv4-mapped network needs a length of at least 96", s)
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("network %q has bits set past /%d: did you mean %s?", s, p.Bits(), m)
	}
	return p, nil
}

// checkLabel refuses labels that could disguise themselves or break an output format:
// control characters (newlines, escapes, bidi overrides) and bytes that are not UTF-8.
func checkLabel(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("label %q is not UTF-8", s)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return fmt.Errorf("label %q has a control character %U", s, r)
		}
	}
	return nil
}

// index records which prefix lengths are present, so Lookup tries only those.
func (t *Table) index() {
	seen4, seen6 := map[int]bool{}, map[int]bool{}
	t.lens4, t.lens6 = nil, nil
	for p := range t.labels {
		if p.Addr().Is4() {
			if !seen4[p.Bits()] {
				seen4[p.Bits()] = true
				t.lens4 = append(t.lens4, p.Bits())
			}
		} else if !seen6[p.Bits()] {
			seen6[p.Bits()] = true
			t.lens6 = append(t.lens6, p.Bits())
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(t.lens4)))
	sort.Sort(sort.Reverse(sort.IntSlice(t.lens6)))
}

// Lookup returns the label of the longest prefix that holds a. An IPv4-mapped IPv6 address
// is looked up as IPv4; a zone is ignored.
func (t *Table) Lookup(a netip.Addr) (label string, ok bool) {
	if t == nil || !a.IsValid() {
		return "", false
	}
	a = a.Unmap().WithZone("")
	lens := t.lens6
	if a.Is4() {
		lens = t.lens4
	}
	for _, bits := range lens {
		p, err := a.Prefix(bits)
		if err != nil {
			continue
		}
		if label, ok := t.labels[p]; ok {
			return label, true
		}
	}
	return "", false
}

// Len returns the number of labelled addresses and networks.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return len(t.labels)
}

// Merge returns a Table with the labels of all tables; where two label the same prefix, the
// earlier table wins (pass the user's names file before /etc/hosts). nil tables are skipped;
// the tables given are not changed.
func Merge(tables ...*Table) *Table {
	m := &Table{labels: map[netip.Prefix]string{}}
	for _, t := range tables {
		if t == nil {
			continue
		}
		for p, label := range t.labels {
			if _, taken := m.labels[p]; !taken {
				m.labels[p] = label
			}
		}
	}
	m.index()
	return m
}
