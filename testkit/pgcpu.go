package testkit

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// clockTick is the unit of the times in /proc/<pid>/stat (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// procTimes reads a process's user and system time, and the time of its children that ended
// (waited for), from /proc/<pid>/stat, with its parent's pid.
func procTimes(pid int) (own, children time.Duration, ppid int, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	// The command name, in parentheses, may hold spaces: the fields start after its last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := bytes.Fields(data[i+1:])
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15, cutime 16, cstime 17.
	if len(f) < 15 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	n := func(k int) int64 { v, _ := strconv.ParseInt(string(f[k-3]), 10, 64); return v }
	return time.Duration(n(14)+n(15)) * clockTick, time.Duration(n(16)+n(17)) * clockTick, int(n(4)), nil
}

// serverCPU is the CPU time a local Postgres server has used so far: its postmaster's, that of
// its processes still running (backends, WAL writer, checkpointer…) and that of those that
// ended, which the postmaster waited for. backend is the pid of any of its backends.
func serverCPU(backend int) (time.Duration, error) {
	_, _, postmaster, err := procTimes(backend)
	if err != nil {
		return 0, err
	}
	own, ended, _, err := procTimes(postmaster)
	if err != nil {
		return 0, err
	}
	total := own + ended
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		if err != nil {
			continue
		}
		if cpu, _, ppid, err := procTimes(pid); err == nil && ppid == postmaster {
			total += cpu
		}
	}
	return total, nil
}
