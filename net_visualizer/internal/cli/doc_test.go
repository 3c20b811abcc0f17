package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The line grammar has one home, docs/line-format.md; the manual (-h) must work offline, so
// it carries a copy. These markers open the grammar block in each: the block is the indented
// lines that follow the marker line (blank lines before it skipped), up to the first line
// that is not indented.
const (
	lineFormatDoc         = "../../../docs/line-format.md"
	lineFormatMarker      = "## Grammar"
	lineFormatIndent      = "    " // a markdown code block
	manualGrammarMarker   = "Input lines (the grammar of docs/line-format.md):"
	manualGrammarIndent   = "\t"
	grammarVersionPattern = `^; the trace line, version [1-9][0-9]*$`
)

// grammarBlock returns the block that follows the one line equal to marker, each line without
// its indent.
func grammarBlock(text, marker, indent string) ([]string, error) {
	lines := strings.Split(text, "\n")
	at := -1
	for i, l := range lines {
		if l == marker {
			if at >= 0 {
				return nil, fmt.Errorf("the marker %q appears twice (lines %d and %d)", marker, at+1, i+1)
			}
			at = i
		}
	}
	if at < 0 {
		return nil, fmt.Errorf("no line is the marker %q", marker)
	}
	i := at + 1
	for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
		i++
	}
	var block []string
	for ; i < len(lines); i++ {
		l, ok := strings.CutPrefix(lines[i], indent)
		if !ok || strings.TrimSpace(l) == "" {
			break
		}
		block = append(block, strings.TrimRight(l, " \t"))
	}
	if len(block) == 0 {
		return nil, fmt.Errorf("no %q-indented block follows the marker %q", indent, marker)
	}
	return block, nil
}

// TestManualGrammarMatchesLineFormat: the manual's grammar block is the contract's, line for
// line, version included, so the two cannot drift.
func TestManualGrammarMatchesLineFormat(t *testing.T) {
	data, err := os.ReadFile(filepath.FromSlash(lineFormatDoc))
	require.NoError(t, err)
	contract, err := grammarBlock(string(data), lineFormatMarker, lineFormatIndent)
	require.NoError(t, err, "docs/line-format.md")
	manual, err := grammarBlock(Doc, manualGrammarMarker, manualGrammarIndent)
	require.NoError(t, err, "doc.txt")

	assert.Regexp(t, grammarVersionPattern, contract[0], "the grammar opens with its version")
	assert.Equal(t, strings.Join(contract, "\n"), strings.Join(manual, "\n"),
		"doc.txt's grammar block must be docs/line-format.md's, line for line (indent aside)")
	for _, l := range manual {
		// The manual is read in an 80-column terminal, its blocks indented by a tab.
		assert.LessOrEqual(t, len([]rune(l)), 72, "grammar line too wide for the manual: %q", l)
	}
}

// TestGrammarBlock: the extraction the test above relies on finds what it should, and reports
// a missing or repeated marker instead of comparing nothing.
func TestGrammarBlock(t *testing.T) {
	doc := "intro\n## Grammar\n\n    a = b\n    c = d  \n\ntext\n    not this\n"
	got, err := grammarBlock(doc, "## Grammar", "    ")
	require.NoError(t, err)
	assert.Equal(t, []string{"a = b", "c = d"}, got)

	_, err = grammarBlock("## Grammar\n\ntext\n", "## Grammar", "    ")
	assert.ErrorContains(t, err, "no")
	_, err = grammarBlock("nothing here\n", "## Grammar", "    ")
	assert.ErrorContains(t, err, "no line is the marker")
	_, err = grammarBlock("## Grammar\n    a\n## Grammar\n    a\n", "## Grammar", "    ")
	assert.ErrorContains(t, err, "twice")
	assert.True(t, regexp.MustCompile(grammarVersionPattern).MatchString("; the trace line, version 12"))
}
