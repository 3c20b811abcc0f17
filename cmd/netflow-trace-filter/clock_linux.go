package main

import (
	"syscall"
	"time"
	"unsafe"
)

// clockMonotonic is CLOCK_MONOTONIC (linux/time.h).
const clockMonotonic = 1

// readClock reads CLOCK_MONOTONIC (nanoseconds, the clock of bpftrace's nsecs and of
// task->start_time) and the wall clock back to back.
func readClock() (int64, time.Time) {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0)
	now := time.Now()
	return ts.Nano(), now
}
