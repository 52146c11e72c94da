// Package procstat reads a process's resident memory and CPU time from
// Linux's /proc, for the load tools (hubbench, hubsoak) that watch the hub
// and its plugin processes.
package procstat

import (
	"errors"
	"fmt"
	"io/fs"
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

// children lists pid's direct children: from each of its threads'
// children file (a Go process forks from whichever thread runs the
// goroutine), or, where the kernel has none, by reading every process's
// parent. The scan opened every process's stat file ten times a second in
// hubbench's memory sampler, about 700 files a second on a quiet machine,
// in the load generator that shares the machine with the hub.
func children(pid int) []int {
	if kids, ok := threadChildren(pid); ok {
		return kids
	}
	return scanChildren(pid)
}

// scanChildren finds pid's children by every process's parent.
func scanChildren(pid int) []int {
	var out []int
	for _, p := range pids() {
		if ppid(p) == pid {
			out = append(out, p)
		}
	}
	return out
}

// threadChildren reads /proc/pid/task/*/children (Linux 3.5 and later,
// with CONFIG_PROC_CHILDREN); ok is false where there is none.
func threadChildren(pid int) (kids []int, ok bool) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil, false
	}
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(fmt.Sprintf("/proc/%d/task/%s", pid, t.Name())); serr == nil {
				return nil, false // the kernel has no children files
			}
			continue // the thread has exited
		}
		if err != nil {
			return nil, false
		}
		for _, f := range strings.Fields(string(b)) {
			if p, err := strconv.Atoi(f); err == nil {
				kids = append(kids, p)
			}
		}
	}
	return kids, true
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
