// Package names gives addresses and ports the names people recognise: IANA service names for
// ports (Service), user labels for addresses and networks from a names file or a hosts file
// (Table), reverse DNS with a cache and a timeout (Resolver), and grouping of addresses into
// networks (Collapse).
package names
