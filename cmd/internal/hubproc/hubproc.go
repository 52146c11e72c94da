// Package hubproc runs aurora-hub as a child process, the way an operator
// runs it (its binary, its environment), for the end-to-end tests and the
// soak test.
package hubproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Options says what to run. Env is the hub's whole environment (nothing is
// inherited from the caller's); it must set HUB_LISTEN.
type Options struct {
	Bin          string // the aurora-hub binary
	Dir          string // working directory
	Env          map[string]string
	Output       io.Writer     // the hub's and its plugins' stdout and stderr
	StartTimeout time.Duration // for /healthz to answer 200 (default 30 s)
	// DieWithParent kills the hub when the process that started it exits
	// (Linux's parent-death signal), so an interrupted bench leaves none.
	DieWithParent bool
}

// Process is a running hub.
type Process struct {
	URL  string
	cmd  *exec.Cmd
	done chan struct{}
}

// ErrExited: the hub exited before /healthz answered 200.
var ErrExited = errors.New("the hub exited during its start")

// Start runs `aurora-hub serve` and waits until its /healthz answers 200.
// A hub that does not is stopped; the error says why.
func Start(ctx context.Context, o Options) (*Process, error) {
	addr := o.Env["HUB_LISTEN"]
	if addr == "" {
		return nil, errors.New("hubproc: HUB_LISTEN is not set")
	}
	cmd := exec.Command(o.Bin, "serve")
	cmd.Dir = o.Dir
	for k, v := range o.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = o.Output, o.Output
	if o.DieWithParent {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", o.Bin, err)
	}
	p := &Process{URL: "http://" + addr, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	timeout := o.StartTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if p.healthy(ctx) {
			return p, nil
		}
		select {
		case <-p.done:
			return nil, ErrExited
		case <-ctx.Done():
			p.Stop(10 * time.Second)
			return nil, fmt.Errorf("the hub did not become healthy: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

func (p *Process) healthy(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/healthz", nil)
	if err != nil {
		return false
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// Pid is the hub's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends the hub sig (SIGHUP: reload the plugins).
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Done is closed once the hub has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the hub has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop ends the hub with SIGTERM (its graceful shutdown) and waits for it,
// killing it after grace.
func (p *Process) Stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
	}
}

// Kill ends the hub with SIGKILL, as a crash would, and waits for it.
func (p *Process) Kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// FreeAddr returns a loopback address no one listens on (for HUB_LISTEN).
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
