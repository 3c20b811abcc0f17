package cli

import (
	"context"
	"io"
	"os"
	"testing"
)

func TestProfileBig(t *testing.T) {
	f := os.Getenv("BIGTRACE")
	if f == "" {
		t.Skip()
	}
	Main(context.Background(), []string{"-q", f}, nil, io.Discard, io.Discard)
}
