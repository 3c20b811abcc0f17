/*
Netflow-gen writes a synthetic but realistic TCP connection trace to stdout, in the line
format of docs/line-format.md, for benchmarking and testing net_visualizer.

Usage:

	netflow-gen [flags] > trace.txt

The trace describes one host. Its processes talk to each other over loopback and the
host's own addresses (local connections) and to hosts elsewhere (external connections):

  - A local connection gives two lines with the same 4-tuple: "→" from the client, with the
    client's pid, and "←" from the server, with the server's pid.
  - An external connection gives one "→" line: its remote end is not on this host.
  - With -inbound, a connection from an external host to a local server gives one "←" line.

So lines = 2×local + external + inbound, and the same seed gives the same bytes.

Flags:

	-connections N      connections to generate (default 1000000)
	-processes P        processes (pid+comm pairs) on the host (default 60)
	-external E         external hosts (default 40)
	-external-share F   share of connections that go to external hosts (default 0.20)
	-inbound F          share of connections that come in from external hosts (default 0)
	-ipv6 F             share of connections over IPv6 (default 0.10)
	-seed S             random seed; same seed and flags, same output (default 1)
	-shuffle-window W   the two lines of a local connection are at most W lines apart,
	                    either one first; below 3 they stay adjacent, → first (default 256)
	-pad                print comm as the repo's tracers do, padded with \x00 to 16 bytes
	                    (default true; -pad=false prints the bare name)
	-stats              print the shape of the trace to stderr when done

The processes come from a catalogue of real-world daemons and clients, including worker
pools that share a name and listening ports (four nginx workers accept on 443 and 80),
names with spaces and punctuation ("Web Content", "php-fpm: pool w", "puma 5.6.4 (tcp",
"app=api|v2"), and a non-ASCII name printed as \xNN. Names are at most 15 bytes, as the
kernel keeps them. Beyond the catalogue's 60 processes, further processes join the pools
of the catalogue's entries under new pids.

Which client talks to which server, and to which external ip:port, is drawn once from the
seed; the connections are then spread over those pairs with a heavy-tailed weight, plus a
uniform share that makes every pair appear in a long trace. Other realistic details:
servers listening on [::] see IPv4 peers as [::ffff:a.b.c.d], so do Java clients;
systemd-resolve listens on 127.0.0.53 while its clients connect from 127.0.0.1; ephemeral
ports advance per source address over 32768-60999, so a 4-tuple comes back only after
thousands of connections; connect lines carry ret=0 or ret=-115 (non-blocking connect).
No connect fails.

With the defaults, the trace has 1,000,000 connections in 1,800,119 lines (210 MB, 117
bytes a line, a third of it comm padding): 800,119 local and 199,881 external connections,
9.9% over IPv6; 60 processes and 40 external hosts (604 external ip:port endpoints, five
hosts being Kubernetes nodes); 17,630 distinct edges as net_visualizer and dev/baseline
count them (client process → server process, and process → external ip:port, the IPv4
and IPv6 addresses of one external host being different nodes), 15,800 to 18,700 with
other seeds. -stats prints these numbers. netflow-gen writes them in about 0.3 s.

Examples:

	netflow-gen -connections 1000 -seed 7 | head
	netflow-gen -stats > /tmp/trace.txt
	netflow-gen -connections 200000 -shuffle-window 10000 | net_visualizer > graph.dot
*/
package main
