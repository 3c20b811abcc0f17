package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The test binary doubles as the server child when CONNSTORM_TEST_SERVER is set.
func TestMain(m *testing.M) {
	if os.Getenv("CONNSTORM_TEST_SERVER") == "1" {
		if err := serve(os.Args[1:], os.Stdin, os.Stdout); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func testServer(addr string, port int) (*exec.Cmd, error) {
	cmd := exec.Command(os.Args[0], "-addr", addr, "-port", strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "CONNSTORM_TEST_SERVER=1")
	return cmd, nil
}

func readFacts(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	facts := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, "fact line %q", line)
		facts[k] = v
	}
	return facts
}

func TestStorm(t *testing.T) {
	for _, addr := range []string{"127.0.0.1", "::1"} {
		t.Run(addr, func(t *testing.T) {
			if ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0")); err != nil {
				t.Skipf("no %s here: %v", addr, err)
			} else {
				ln.Close()
			}
			facts := filepath.Join(t.TempDir(), "facts")
			var out bytes.Buffer
			err := run([]string{"-n", "300", "-c", "3", "-addr", addr, "-facts", facts}, testServer, &out, io.Discard)
			require.NoError(t, err)
			assert.Regexp(t, `^300 connections in [0-9.]+ s: [0-9]+ connections/s \(`+strings.ReplaceAll(addr, ".", `\.`)+`, 3 clients, 0 errors\)\n$`, out.String())

			f := readFacts(t, facts)
			assert.Equal(t, strconv.Itoa(os.Getpid()), f["client_pid"])
			assert.Equal(t, addr, f["server_addr"])
			assert.Equal(t, "300", f["connections"])
			assert.Equal(t, "0", f["errors"])
			for _, k := range []string{"server_pid", "server_port", "seconds", "conns_per_sec"} {
				assert.NotEmpty(t, f[k], k)
			}
			serverPID, err := strconv.Atoi(f["server_pid"])
			require.NoError(t, err)
			assert.NotEqual(t, os.Getpid(), serverPID, "the server is a separate process")
			assert.True(t, errors.Is(syscall.Kill(serverPID, 0), syscall.ESRCH), "the server child is gone")
			port, err := strconv.Atoi(f["server_port"])
			require.NoError(t, err)
			_, err = net.Dial("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
			assert.Error(t, err, "nothing listens on the port any more")
		})
	}
}

func TestFixedPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	facts := filepath.Join(t.TempDir(), "facts")
	require.NoError(t, run([]string{"-n", "50", "-port", strconv.Itoa(port), "-facts", facts}, testServer, io.Discard, io.Discard))
	assert.Equal(t, strconv.Itoa(port), readFacts(t, facts)["server_port"])
}

func TestUsage(t *testing.T) {
	never := func(string, int) (*exec.Cmd, error) {
		t.Fatal("no server may start on a usage error")
		return nil, nil
	}
	for _, args := range [][]string{
		{"-n", "0"}, {"-c", "0"}, {"-timeout", "0s"}, {"-addr", "nonsense"},
		{"-addr", "192.0.2.1"}, {"-port", "70000"}, {"-bogus"}, {"extra"},
	} {
		err := run(args, never, io.Discard, io.Discard)
		assert.True(t, errors.As(err, new(usageError)), "%v: %v", args, err)
	}
	var stderr bytes.Buffer
	err := run([]string{"-h"}, never, io.Discard, &stderr)
	assert.True(t, errors.Is(err, flag.ErrHelp))
	for _, f := range []string{"-n N", "-c C", "-addr IP", "-port P", "-timeout D", "-facts FILE", "client_pid", "server_port"} {
		assert.Contains(t, stderr.String(), f)
	}
}
