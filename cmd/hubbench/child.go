package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aurora-hub/aurora-hub/cmd/internal/hubproc"
	"github.com/aurora-hub/aurora-hub/cmd/internal/procstat"
)

// child is a server running in a process of its own: this binary with
// -child (cmd), or aurora-hub itself (hub).
type child struct {
	cmd *exec.Cmd
	hub *hubproc.Process
	url string
	dir string
	// prof is where a hub serves its profiles (HUB_PPROF), and the files
	// the run asked for.
	prof *hubProfiles

	mu      sync.Mutex
	peakRSS int64 // bytes: the largest sum of the child's and its children's RSS sampled
	// peakOwn, peakKids: the largest RSS of the child alone and of its
	// children (the plugin) alone.
	peakOwn, peakKids int64
	heapProfile       bool          // the child writes a heap profile on SIGUSR1
	heapWritten       chan struct{} // and then prints heapWrittenLine
	stopRSS           chan struct{}
	rssDone           chan struct{}
}

// startChild starts this binary as a server of cc.Kind and waits until it
// takes requests. The child dies with the parent (Pdeathsig).
func startChild(cc childConfig) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if cc.Dir == "" {
		if cc.Dir, err = os.MkdirTemp("", "hubbench-"); err != nil {
			return nil, err
		}
	}
	if cc.PluginDir, err = pagerDutyOnly(cc.PluginDir, cc.Dir); err != nil {
		return nil, err
	}
	arg, _ := json.Marshal(cc)
	cmd := exec.Command(self, "-child", string(arg))
	cmd.Stderr = os.Stderr
	if cc.Env != "" {
		cmd.Env = append(os.Environ(), strings.Split(cc.Env, ",")...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, dir: cc.Dir, heapProfile: cc.HeapProfile != "", heapWritten: make(chan struct{}, 1),
		stopRSS: make(chan struct{}), rssDone: make(chan struct{})}
	ready := make(chan string, 1)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			switch line := sc.Text(); {
			case strings.HasPrefix(line, "READY "):
				ready <- strings.TrimPrefix(line, "READY ")
			case line == heapWrittenLine:
				select { // one kept; a late one after a timeout is dropped
				case c.heapWritten <- struct{}{}:
				default:
				}
			}
		}
	}()
	select {
	case c.url = <-ready:
	case <-exited:
		c.stop()
		return nil, fmt.Errorf("%s server exited before it took requests", cc.Kind)
	case <-time.After(90 * time.Second):
		c.stop()
		return nil, fmt.Errorf("%s server did not start within 90 s", cc.Kind)
	}
	go c.sampleRSS()
	return c, nil
}

// sampleRSS records the peak of the child's and its children's (the
// plugin's) resident memory, every 100 ms.
func (c *child) sampleRSS() {
	defer close(c.rssDone)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if own, kids := procstat.TreeRSS(c.pid()); own > 0 {
			c.mu.Lock()
			c.peakRSS = max(c.peakRSS, own+kids)
			c.peakOwn, c.peakKids = max(c.peakOwn, own), max(c.peakKids, kids)
			c.mu.Unlock()
		}
		select {
		case <-c.stopRSS:
			return
		case <-t.C:
		}
	}
}

// resetPeak starts the peak RSS over (at the start of a measurement).
func (c *child) resetPeak() {
	c.mu.Lock()
	c.peakRSS, c.peakOwn, c.peakKids = 0, 0, 0
	c.mu.Unlock()
}

// peak returns the peak RSS of the child with its children, of the child
// alone, and of its children alone.
func (c *child) peak() (total, own, kids int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peakRSS, c.peakOwn, c.peakKids
}

// pid is the server's process id.
func (c *child) pid() int {
	if c.hub != nil {
		return c.hub.Pid()
	}
	return c.cmd.Process.Pid
}

// snapshotHeap writes the server's heap profile, if it was asked for: a
// hub's from its /debug/pprof/heap; another child writes its own on SIGUSR1
// and says when it has (waited for at most 10 s).
func (c *child) snapshotHeap() {
	if c.hub != nil {
		c.prof.heap()
		return
	}
	if !c.heapProfile {
		return
	}
	c.cmd.Process.Signal(syscall.SIGUSR1)
	select {
	case <-c.heapWritten:
	case <-time.After(10 * time.Second):
		fmt.Fprintln(os.Stderr, "  warning: the server wrote no heap profile within 10 s")
	}
}

// stop asks the child to shut down (SIGTERM: it writes its CPU profile)
// and waits for it, killing it after 60 s.
func (c *child) stop() {
	select {
	case <-c.stopRSS:
	default:
		close(c.stopRSS)
	}
	if c.hub != nil {
		c.prof.wait() // a profile or trace of the phase still being written
		c.hub.Stop(60 * time.Second)
		os.RemoveAll(c.dir)
		return
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
}

// pagerDutyOnly returns a plugin directory under dir holding only the
// PagerDuty plugin of pluginDir (a hard link, or a copy across file
// systems): the hub starts every plugin it finds, and the figures are of
// the hub with the PagerDuty plugin, the only one the workloads use.
func pagerDutyOnly(pluginDir, dir string) (string, error) {
	const name = "aurora-plugin-pagerduty"
	out := filepath.Join(dir, "plugins")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	src, dst := filepath.Join(pluginDir, name), filepath.Join(out, name)
	if err := os.Link(src, dst); err == nil {
		return out, nil
	}
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("plugin binary: %w", err)
	}
	defer in.Close()
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, in); err != nil {
		f.Close()
		return "", fmt.Errorf("copying the plugin binary: %w", err)
	}
	return out, f.Close()
}
