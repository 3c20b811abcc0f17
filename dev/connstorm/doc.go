/*
Connstorm opens and closes TCP connections over loopback as fast as it can, to measure what
a connection tracer costs and whether it drops events.

Usage:

	connstorm [flags]

Connstorm starts a copy of itself as a child process, "connstorm server", which listens on
-addr at a free port (or -port) and accepts every connection and closes it at once. The parent is
the client: -c goroutines dial the server until -n connections have been made (or -timeout
has passed), each waiting for the server's close (so the connection was accepted) before
closing its own end. Client and server are separate processes, so a tracer sees the
connect(2) in one pid and the accept(2) in another, as between real programs.

A traced storm should give exactly two lines per connection: a "→" line from the client
pid with the server's address as remote end, and a "←" line from the server pid with the
server's address as local end. Connstorm prints one summary line to stdout,

	50000 connections in 2.31 s: 21645 connections/s (127.0.0.1, 8 clients, 0 errors)

and, with -facts FILE, writes what a script needs to count the lines, one key=value a line:

	client_pid=4120        the client process (all connects)
	server_pid=4127        the server process (all accepts)
	server_addr=127.0.0.1  as the tracer prints it; IPv6 without brackets
	server_port=41563
	connections=50000      connections made (dial and accept both succeeded)
	errors=0               dials that failed (they may show as failed connects)
	seconds=2.310          wall time of the storm, from first dial to last close
	conns_per_sec=21645

Flags:

	-n N          connections to make (default 50000)
	-c C          concurrent clients (default 8)
	-addr IP      address to listen on and connect to: 127.0.0.1 (default), ::1, or
	              another local address
	-port P       port for the server to listen on (default 0: a free port); a fixed
	              port lets a tracer filter on it before the storm starts
	-timeout D    stop starting connections after D (default 2m); the storm then reports
	              the connections it made
	-facts FILE   write the facts above to FILE

Connstorm never connects anywhere but -addr, and refuses an address that is not on this
host. Each connection leaves a socket in TIME_WAIT on the server side for a minute (the
server closes first), so the client's ephemeral ports stay free for the next connection.

Examples:

	connstorm -n 20000 -c 4
	connstorm -addr ::1 -facts /tmp/storm.facts
*/
package main
