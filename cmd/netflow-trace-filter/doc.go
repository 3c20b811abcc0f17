// Command netflow-trace-filter turns what bpftrace prints for the TCP tracer scripts into
// trace lines and status messages. scripts/netflow-trace runs it between bpftrace and its
// own stdout; it is not meant to be run by hand.
//
// Usage:
//
//	bpftrace ... | netflow-trace-filter [-aggregate] [-status TEXT] [-bpf-proc DIR]
//	                                   [-list-open [-pid PID] [-comm NAME] [-port PORT] [-proc DIR]]
//
// It reads bpftrace's stdout and writes:
//
//   - trace lines (a line starting with a digit or "[", or a close line, "close ..."), and
//     the scripts' "# line format N" line, as they are, to stdout;
//   - for the "# tracing ..." line the scripts print once their probes are attached,
//     TEXT as a line on stderr;
//   - for bpftrace's "Lost N events", "# lost N events" on stdout and a line saying why
//     on stderr;
//   - nothing for the other "#" lines (the scripts' padding), but what it has written so
//     far is flushed: with bpftrace -B full the padding is what pushes lines through;
//   - for the line scripts' "# lost-close N" (N connections whose close they could not
//     track: their map of open connections was full), "# lost N events" on stdout and a
//     line saying why on stderr, added up until the next "#" line or the end;
//   - with -bpf-proc /proc/PID (bpftrace's), at every "#" line, "# lost N events" on stdout
//     and a line saying why on stderr when the BPF programs of that process skipped N more
//     runs (the largest recursion_misses of their fdinfo): the kernel does not run a
//     tracepoint's program while another BPF program runs on that CPU (a softirq's
//     sock:inet_sock_set_state interrupting one), and that event is lost;
//   - for the line scripts' close records, "c CONN END DUR SENT RECV RETRANS [CONNECT]",
//     the close line of docs/line-format.md, with the ends, pid=, uid= and comm= of the open
//     line with conn=CONN (kept per conn= until its close, at most 2^18); a record that
//     comes before its open line is printed after it, and one whose open line never came
//     is reported at the end as lost events, "# lost N events";
//   - with -list-open (not with -aggregate), at the "# tracing ..." line, the connections
//     already established (docs/line-format.md, preexisting=1): see below;
//   - for the line scripts' process records ("p", "pg", "pe", "pa": PROC in their
//     template), the proc line of docs/line-format.md, once the last record of that thread
//     has come: the %rx buffers decoded, exe_path= and args= escaped as the contract says,
//     container= from the cgroup's name or its parent's (docker-, cri-containerd-, crio-,
//     libpod-<64 hex>.scope, or <64 hex> under docker); a record it cannot read, to stderr;
//   - "# clock monotonic=N realtime=RFC3339" (UTC, CLOCK_MONOTONIC and the wall clock read
//     back to back), once: right after the "# line format N" line, or before the first
//     event when there is none;
//   - nothing for blank lines (bpftrace prints one per map at exit);
//   - any other line to stderr, prefixed "netflow-trace: bpftrace: ".
//
// With -aggregate (netflow_agg.bt, netflow_tp_agg.bt) it reads the maps those scripts print
// every interval instead: @out0/@out1[remote, rport, local, keys...]: count for connects,
// @in0/@in1[remote, local, lport, keys...]: count for accepts, @name0/@name1[pid]: comm.
// At each "# interval" and at "# end" it prints one line per map entry (docs/line-format.md):
//
//	127.0.0.1:5432→127.0.0.1:0|pid=812 uid=33 count=40 comm=php-fpm
//	127.0.0.1:0←127.0.0.1:5432|pid=901 uid=105 count=40 comm=postgres
//
// The keys after the endpoints are named by the scripts' "# keys out: ..." and
// "# keys in: ..." lines (pid uid ret and pid uid when there are none); ret= is left out
// when it is 0. comm= is the pid's @name with its \x00 padding dropped, "?" when there is
// none. At "# end" it compares @sent, what the kernel counted, with the total of the counts
// printed: a full map drops new keys silently, and the difference is reported as lost.
//
// # Connections already open
//
// With -list-open, at the "# tracing ..." marker (every probe is attached) it lists the
// established TCP sockets of every network namespace: the namespaces of the processes under
// -proc (default /proc; /proc/PID/ns/net, each once by inode) and those /run/netns holds,
// each dumped with the kernel's sock_diag (github.com/vishvananda/netlink, its netlink socket
// opened inside the namespace on a locked OS thread). A kernel without that dump (no
// inet_diag or tcp_diag module) has its namespaces read from /proc/net/tcp and tcp6 instead,
// on a thread moved into each; those carry no socket cookie, so their lines have no conn=,
// and stderr says so once (-list-from diag or proc chooses one source; default auto). A socket is joined to the process
// holding it through /proc/PID/fd ("socket:[INODE]"); one held by several processes (a
// parent and the children it forked) is listed with the lowest pid, and one no process holds
// (waiting in a listener's queue, or the kernel's own) is not listed. A socket whose local
// address and port are those of a LISTEN socket of its namespace (or the port of one on
// 0.0.0.0 or [::]) is the accepted end, ←; any other the connecting end, →. Each is one line,
// with pid=, uid= (the real uid of /proc/PID/status), exe= and cgroup= (as the scripts write
// them), conn=COOKIE-0 (the socket's cookie, hexadecimal; none from /proc/net), netns= (the namespace's inode),
// preexisting=1 and comm= (/proc/PID/comm, escaped as the scripts escape names). -pid,
// -comm and -port keep only the lines the scripts' filters of the same names would.
//
// Those lines come before every traced line: from the marker the filter holds what it would
// print until 6 more "#" lines (two rounds of the scripts' padding, half a second apart) or
// the end, then prints the listed lines, but those of a connection end that a held traced
// line reported (the same ends and arrow: a connection made while the list was taken), then
// what it held.
//
// From a pipe it reads in batches: after a read that fills less than half its buffer it
// waits 40 ms, with the pipe enlarged to 1 MiB to hold what arrives meanwhile (10 ms if it
// could not be), so that a storm of bpftrace's 4 KiB writes does not cost a wakeup each. Lines still leave at the
// next padding, at most about a second after bpftrace printed them.
//
// SIGINT, SIGTERM and SIGHUP are ignored: it ends when its input ends, so that it passes
// on everything bpftrace prints while it stops.
package main
