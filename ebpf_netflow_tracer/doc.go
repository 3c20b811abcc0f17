// Package tracer holds the bpftrace scripts that trace TCP connects and accepts, and their
// live tests. netflow.bt, netflow_tp.bt, netflow_agg.bt and netflow_tp_agg.bt are generated
// from one template, gen/netflow.bt.tmpl: edit it, then run go generate ./ebpf_netflow_tracer.
// netflow_lifecycle.bt is written by hand.
package tracer

//go:generate go run ./gen
