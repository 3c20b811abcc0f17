/*
Netflow-lifecycle-csv turns the raw lines of ebpf_netflow_tracer/netflow_lifecycle.bt
into the 17-column socket-lifecycle CSV files (the nw_conn files of cacheMon/io-tracer-linux,
layout "v3"), rotating them by size.

Usage:

	bpftrace netflow_lifecycle.bt | netflow-lifecycle-csv [flags]

scripts/netflow-lifecycle runs exactly that pipeline, as root.

Flags:

	-d DIR            root of the output tree (default ".")
	-max-bytes N      start a new file before one would grow past N bytes (default 67108864)
	-machine-id ID    machine id in the output path (default: the contents of /etc/machine-id)
	-utc              write timestamps (and the session directory name) in UTC, not local time
	-clock-offset NS  wall clock = MONO_NS + NS (default: CLOCK_REALTIME - CLOCK_MONOTONIC,
	                  measured once at start); for replaying a saved raw trace
	-ready-fd N       fd given to close(2) to ask the tracer whether its probes are attached
	                  (default -1234567, the tracer's READY_FD); 0 turns the handshake off

Files are written to

	DIR/linux_trace_v3_test/MACHINE_ID/YYYYMMDD_HHMMSS_mmm/nw_conn/nw_conn_0001.csv

where the timestamp is the start of the command; nw_conn_0002.csv follows once the next row
would take nw_conn_0001.csv past -max-bytes, and so on. Every file starts with the header

	Timestamp,Event Type,PID,TID,Command,Domain,Socket Type,Protocol,IP Version,Local Address,Remote Address,Local Port,Remote Port,File Descriptor,Backlog,Latency,Return Value

and holds whole rows only. Fields are quoted as RFC 4180 says (encoding/csv), so a process
name with a comma, a quote or a space never shifts a column.

Input grammar, one line per traced syscall, fields separated by one space, COMM last:

	MONO_NS EVENT PID TID FAMILY TYPE PROTO LADDR LPORT RADDR RPORT FD ARG LAT_NS RET COMM

Lines starting with "#" are comments. Two of them matter. bpftrace runs BEGIN before it
attaches the probes, so the command calls close(2) on -ready-fd (it fails: EBADF) every 50ms
until the tracer's last-attached probe answers "# ready"; only then does it print one line on
stderr saying the probes are attached. The answer is followed by 4 KiB of comment lines, which
push bpftrace's output buffer (-B full) through, so the command keeps calling it once a second:
rows reach the files within about a second. "# netflow_lifecycle:" (the tracer's BEGIN) counts
as attached when the handshake is off (-ready-fd 0). bpftrace's "Attaching N probes..." banner
and blank lines are skipped; "Lost N events" is added up and reported on stderr (at the first
loss, whenever the total gains a digit, and at the end); any other malformed line is reported
(the first ten) and skipped.

How each CSV column is made from a line:

	Timestamp        MONO_NS + clock offset, as YYYY-MM-DD HH:MM:SS.ffffff
	Event Type       EVENT (SOCKET_CREATE BIND LISTEN ACCEPT CONNECT SHUTDOWN CLOSE)
	PID, TID         PID, TID
	Command          COMM without its trailing \x00 padding; other bytes that are not
	                 printable ASCII stay escaped as \xNN, as bpftrace printed them
	Domain           AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET, another FAMILY as its
	                 number, empty when FAMILY is -1 (the fd was not a socket)
	Socket Type      SOCK_STREAM SOCK_DGRAM SOCK_RAW SOCK_SEQPACKET, else the number
	Protocol         TCP (6), UDP (17), another IP protocol as its number; empty for
	                 protocol 0 and for sockets that are not AF_INET/AF_INET6
	IP Version       4 for AF_INET, 6 for AF_INET6, else empty
	Local Address    LADDR; empty when LPORT is 0 and LADDR is 0.0.0.0 or :: (not bound),
	                 and for sockets that are not AF_INET/AF_INET6
	Remote Address   RADDR; empty when RPORT is 0 and RADDR is unspecified (no peer)
	Local Port       LPORT, empty when 0
	Remote Port      RPORT, empty when 0
	File Descriptor  FD, empty when -1
	Backlog          ARG for LISTEN; for SHUTDOWN the how argument as SHUT_RD, SHUT_WR or
	                 SHUT_RDWR (the v3 layout has no column of its own for it); else empty
	Latency          LAT_NS for ACCEPT and CONNECT, else empty
	Return Value     RET: 0 on success, else the negative errno

On SIGINT or SIGTERM, or at the end of its input, the command writes the rows it has read
completely, flushes and closes the current file, and exits 0. The rows on disk are flushed
whenever the input has nothing more waiting, so a file can be read while it grows.
*/
package main
