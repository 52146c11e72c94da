package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// listeningSocket is the path of the unix socket process pid listens on
// (its socket file descriptors matched against /proc/net/unix).
func listeningSocket(t *testing.T, pid int) string {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir("/proc/" + itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		link, err := os.Readlink("/proc/" + itoa(pid) + "/fd/" + fd.Name())
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	table, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		t.Fatal(err)
	}
	// Num RefCount Protocol Flags Type St Inode Path
	for _, line := range strings.Split(string(table), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) == 8 && inodes[f[6]] {
			return f[7]
		}
	}
	t.Fatalf("plugin %d listens on no unix socket", pid)
	return ""
}

// TestPluginSocketIsPrivate: even under umask 000, each plugin's socket sits
// in a directory of its own, mode 0700 and owned by the hub's user, so no
// other local user can connect (the channel has no TLS); the directory is
// removed when the plugin exits, crashed or stopped with the hub.
func TestPluginSocketIsPrivate(t *testing.T) {
	tmp := t.TempDir()
	old := syscall.Umask(0) // inherited by the hub, and by it by its plugins
	h := startHub(t, startSim(t), hubOpts{backend: "sqlite", env: map[string]string{"TMPDIR": tmp}})
	syscall.Umask(old)

	private := func(pid int) string {
		t.Helper()
		dir := filepath.Dir(listeningSocket(t, pid))
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if !fi.IsDir() || fi.Mode().Perm() != 0o700 || fi.Mode()&(os.ModeSticky|os.ModeSetgid) != 0 || int(st.Uid) != os.Getuid() {
			t.Fatalf("socket directory %s: mode %v, owner %d (hub runs as %d)", dir, fi.Mode(), st.Uid, os.Getuid())
		}
		if filepath.Dir(dir) != tmp {
			t.Fatalf("socket directory %s is not in the hub's temporary directory %s", dir, tmp)
		}
		return dir
	}
	pids := h.pluginPIDs()
	if len(pids) != 1 {
		t.Fatalf("plugin processes = %v", pids)
	}
	first := private(pids[0])

	// A crashed plugin's directory goes; its successor gets a new one.
	syscall.Kill(pids[0], syscall.SIGKILL)
	var next []int
	waitFor(t, "plugin restart", 20*time.Second, func() bool {
		next = h.pluginPIDs()
		return len(next) == 1 && next[0] != pids[0] && h.health("pagerduty")["state"] == "running"
	})
	second := private(next[0])
	if second == first {
		t.Fatalf("the restarted plugin reuses %s", first)
	}
	waitFor(t, "the crashed plugin's socket directory to go", 5*time.Second, func() bool {
		_, err := os.Stat(first)
		return os.IsNotExist(err)
	})

	// Shutdown removes the last one: nothing is left behind.
	h.stop()
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("left in the hub's temporary directory after shutdown: %v", left)
	}
}
