package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGeneratedScriptsUpToDate regenerates the four scripts and compares them with the
// committed ones: a script edited by hand, or a template edited without regenerating, fails.
func TestGeneratedScriptsUpToDate(t *testing.T) {
	files, err := generate(keys)
	require.NoError(t, err)
	require.Len(t, files, 4)
	for _, f := range files {
		committed, err := os.ReadFile(filepath.Join("..", f.name))
		require.NoError(t, err)
		assert.True(t, string(committed) == string(f.text),
			"ebpf_netflow_tracer/%s differs from what %s generates: edit the template, not the script, and run: go generate ./ebpf_netflow_tracer",
			f.name, sourceName)
	}
}

// withKey is keys with k added before comm=, which stays last.
func withKey(k key) []key {
	ks := append([]key(nil), keys[:len(keys)-1]...)
	return append(ks, k, keys[len(keys)-1])
}

var printfCall = regexp.MustCompile(`(?s)printf\("([^"]*)",\s*(.*?)\);`)

// TestAddKey adds a key to the generator's data, as a new field of the line would be added,
// and checks that every variant prints it: every printf of a line, in the right place, with
// its value (kept per socket for a connect printed later), and the aggregate maps' keys,
// named in their "# keys" line for the filter.
func TestAddKey(t *testing.T) {
	files, err := generate(withKey(key{Name: "fake", Fmt: "%d", Expr: "gid", Agg: true}))
	require.NoError(t, err)
	byName := map[string]string{}
	for _, f := range files {
		byName[f.name] = string(f.text)
	}

	for _, name := range []string{"netflow.bt", "netflow_tp.bt"} {
		t.Run(name, func(t *testing.T) {
			text := byName[name]
			lines, closes := 0, 0
			for _, m := range printfCall.FindAllStringSubmatch(text, -1) {
				format, args := m[1], splitArgs(m[2])
				if strings.HasPrefix(format, "c ") {
					// A close is a record the filter expands into the close line, with
					// the keys of its open line (cmd/netflow-trace-filter): no new key.
					closes++
					assert.Regexp(t, `^c %lx-%lx (%s|never) %lu (%lu|0) (%lu|0) %u( %lu)?\\n$`, format)
					continue
				}
				if !strings.Contains(format, "comm=") {
					continue
				}
				lines++
				// The new key, before comm=, after conn= and reconnect=1 (on → lines, in
				// one of the two printfs of each).
				assert.Regexp(t, ` cgroup=%llu conn=%lx-%lx (reconnect=1 )?fake=%d comm=`, format, "printf(%q)", format)
				// The argument before comm's is the fake key's value: gid, or its copy in
				// the socket's @syn entry, the fifth of the plain keys.
				require.GreaterOrEqual(t, len(args), 2)
				assert.Contains(t, []string{"gid", "$i.4"}, args[len(args)-2], "printf(%q, %s)", format, m[2])
			}
			// Per variant: 3 connect and 4 accept printfs (netflow.bt: 3 for IPv4, 3 for IPv6)
			// and the six late-outcome blocks.
			assert.GreaterOrEqual(t, lines, 12, "printfs of a line")
			assert.GreaterOrEqual(t, closes, 4, "printfs of a close record")
			assert.Contains(t, text, "@syn[$key] = (pid, tid, uid, cgroup, gid, $cls, $ct, $rcn);")
			assert.Contains(t, text, "@syn[(uint64)args->skaddr].5 == PLAIN")
			assert.NotContains(t, text, "@syn[(uint64)args->skaddr].4 ==")
		})
	}
	for _, name := range []string{"netflow_agg.bt", "netflow_tp_agg.bt"} {
		t.Run(name, func(t *testing.T) {
			text := byName[name]
			assert.Contains(t, text, `printf("# keys out: pid uid ret fake\n# keys in: pid uid fake\n");`)
			for _, gen := range []string{"0", "1"} {
				assert.Contains(t, text, "@out"+gen+"[$r, $rport, $l, pid, uid, $ret, gid] = count();")
				assert.Contains(t, text, "@in"+gen+"[$r, $l, $lport, pid, uid, gid] = count();")
			}
		})
	}
	// The scripts with the new key still compile, where bpftrace can run.
	t.Run("compile", func(t *testing.T) {
		if _, err := exec.LookPath("bpftrace"); err != nil || os.Geteuid() != 0 {
			t.Skip("needs root and bpftrace: the committed scripts are compiled by scripts/check-bt")
		}
		dir := t.TempDir()
		for _, f := range files {
			src := filepath.Join(dir, f.name)
			require.NoError(t, os.WriteFile(src, f.text, 0o644))
			out, err := exec.Command("bpftrace", "--emit-elf", src+".o", src).CombinedOutput()
			assert.NoError(t, err, "%s:\n%s", f.name, out)
		}
	})
}

// splitArgs splits a printf's arguments at the commas outside parentheses.
func splitArgs(s string) []string {
	var args []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				args = append(args, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(args, strings.TrimSpace(s[start:]))
}
