// Package procstat reads a process's resident memory and CPU time from
// Linux's /proc, for the load tools (hubbench, hubsoak) that watch the hub
// and its plugin processes.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// RSS is pid's resident memory in bytes (0 when it has exited).
func RSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TreeRSS is the resident memory of pid and of its direct children, in
// bytes.
func TreeRSS(pid int) (own, kids int64) {
	own = RSS(pid)
	if own == 0 {
		return 0, 0
	}
	for _, p := range children(pid) {
		kids += RSS(p)
	}
	return own, kids
}

// CPUTime is the CPU time (user + system) pid has used.
func CPUTime(pid int) time.Duration {
	f := statFields(pid)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * clockTick
}

// TreeCPU is the CPU time of pid and of its direct children.
func TreeCPU(pid int) (own, kids time.Duration) {
	own = CPUTime(pid)
	for _, p := range children(pid) {
		kids += CPUTime(p)
	}
	return own, kids
}

// CommandCPU is the CPU time of every process whose command is name (the
// PostgreSQL server's processes: other clients of it are counted too).
func CommandCPU(name string) time.Duration {
	var total time.Duration
	for _, p := range pids() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p))
		if err == nil && strings.TrimSpace(string(b)) == name {
			total += CPUTime(p)
		}
	}
	return total
}

// clockTick is the unit of utime and stime (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// pids lists the running processes.
func pids() []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		if p, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// children lists pid's direct children.
func children(pid int) []int {
	var out []int
	for _, p := range pids() {
		if ppid(p) == pid {
			out = append(out, p)
		}
	}
	return out
}

func ppid(pid int) int {
	f := statFields(pid)
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// statFields are the fields of /proc/pid/stat after the command name:
// state, ppid, ... (comm may hold spaces, so they are read after ')').
func statFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}
