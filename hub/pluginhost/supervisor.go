package pluginhost

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
)

// clock is time as the supervisor sees it; tests use a fake one.
type clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// restartPolicy is exponential backoff with a budget: at most max restarts
// within window, then the plugin is disabled (Mattermost's health check).
// Old restarts leave the window, which also resets the backoff.
type restartPolicy struct {
	max        int
	window     time.Duration
	base, ceil time.Duration
	history    []time.Time // restarts within the window, oldest first
}

// next records a restart at now and returns how long to wait before it; ok
// is false when the budget is spent and the plugin must be disabled.
func (p *restartPolicy) next(now time.Time) (wait time.Duration, ok bool) {
	keep := p.history[:0]
	for _, t := range p.history {
		if now.Sub(t) < p.window {
			keep = append(keep, t)
		}
	}
	p.history = keep
	if len(p.history) >= p.max {
		return 0, false
	}
	wait = p.base
	for i := 0; i < len(p.history) && wait < p.ceil; i++ {
		wait *= 2
	}
	p.history = append(p.history, now)
	return min(wait, p.ceil), true
}

// exitGrace is how long a failed ping waits to see whether the process
// exited (go-plugin notices an exit within about 100 ms).
const exitGrace = 250 * time.Millisecond

// supervisor keeps one plugin running: it notices a process that exited, a
// failed health check or calls that time out, restarts the plugin with
// backoff, and disables it when the restart budget is spent. It publishes
// every change of state as a new Plugin value.
type supervisor struct {
	h      *Host
	name   string
	cand   Candidate
	check  Check // the inspection the plugin was started from
	sums   Sums  // the pins read at start or at the last reload
	log    hclog.Logger
	policy restartPolicy
	stopCh chan struct{}
	done   chan struct{}

	// Owned by the run goroutine; read by stop after done is closed.
	inst     *instance
	restarts int
	lastErr  string
}

func (h *Host) newSupervisor(c Candidate, sums Sums) *supervisor {
	o := h.opts
	return &supervisor{
		h: h, name: c.Name, cand: c, sums: sums, log: o.Logger.With("plugin", c.Name),
		policy: restartPolicy{max: o.MaxRestarts, window: o.RestartWindow, base: o.RestartBackoff, ceil: o.MaxBackoff},
		stopCh: make(chan struct{}), done: make(chan struct{}),
	}
}

// run supervises s.inst; with none (the first start failed with reason)
// it begins by restarting.
func (s *supervisor) run(reason string) {
	defer close(s.done)
	for {
		var dead *instance
		if s.inst != nil {
			reason = s.watch(s.inst)
			if reason == "" {
				return // stopped: the caller drains and kills s.inst
			}
			s.log.Error("plugin failed, restarting it", "reason", reason, "pid", s.inst.proc.Pid())
			dead, s.inst = s.inst, nil
			dead.retire()
		}
		// restart says "restarting" before it kills dead, so that no
		// request sees a running plugin without a process.
		if !s.restart(reason, dead) {
			return
		}
	}
}

// watch returns why inst must be restarted, or "" when stopped.
func (s *supervisor) watch(inst *instance) string {
	o := s.h.opts
	fails := 0
	ping := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), o.HealthTimeout)
		defer cancel()
		if err := inst.proc.Ping(ctx); err != nil {
			// A dead process fails its pings too; say what happened.
			select {
			case <-inst.proc.Done():
				return "plugin process exited"
			case <-time.After(exitGrace):
			}
			fails++
			s.log.Warn("plugin health check failed", "failures", fails, "error", err)
			if fails >= o.FailureThreshold {
				return fmt.Sprintf("health check failed %d times: %v", fails, err)
			}
			return ""
		}
		fails = 0
		return ""
	}
	for {
		select {
		case <-s.stopCh:
			return ""
		case <-inst.proc.Done():
			return "plugin process exited"
		case <-inst.kick:
			if n := int(inst.timeouts.Load()); n >= o.FailureThreshold {
				return fmt.Sprintf("%d calls in a row timed out", n)
			}
			if r := ping(); r != "" {
				return r
			}
		case <-s.h.clock.After(o.HealthInterval):
			if r := ping(); r != "" {
				return r
			}
		}
	}
}

// restart waits out the backoff and starts the plugin again until it runs
// (true), the budget is spent or the binary is refused (false, published),
// or the supervisor is stopped (false). It kills dead, if any, once the
// new state is published.
func (s *supervisor) restart(reason string, dead *instance) bool {
	kill := func() {
		if dead != nil {
			dead.proc.Kill(false)
			dead = nil
		}
	}
	defer kill()
	for {
		s.lastErr = reason
		now := s.h.clock.Now()
		wait, ok := s.policy.next(now)
		if !ok {
			s.log.Error("plugin disabled: too many restarts", "restarts", s.restarts, "window", s.policy.window, "last_error", reason)
			s.publish(StateDisabled, fmt.Sprintf("disabled after %d restarts within %s; last error: %s", s.policy.max, s.policy.window, reason), time.Time{})
			return false
		}
		s.restarts++
		s.log.Warn("restarting plugin", "attempt", s.restarts, "in", wait, "reason", reason)
		s.publish(StateRestarting, reason, now.Add(wait))
		kill()
		select {
		case <-s.stopCh:
			return false
		case <-s.h.clock.After(wait):
		}
		inst, ch, err := s.h.launch(context.Background(), s.cand, s.sums)
		select {
		case <-s.stopCh:
			if inst != nil {
				s.inst = inst // the caller kills it
			}
			return false
		default:
		}
		if err == nil {
			s.check, s.inst = ch, inst
			s.log.Info("plugin restarted", "pid", inst.proc.Pid(), "restarts", s.restarts)
			s.publish(StateRunning, "", time.Time{})
			return true
		}
		if IsRefusal(err) {
			s.check = ch
			s.lastErr = err.Error()
			s.log.Error("plugin refused", "error", err)
			s.publish(StateRefused, err.Error(), time.Time{})
			return false
		}
		reason = err.Error()
	}
}

func (s *supervisor) publish(state, why string, retryAt time.Time) {
	s.h.publish(s, s.snapshot(state, why, retryAt))
}

// snapshot is the Plugin value for the current state.
func (s *supervisor) snapshot(state, why string, retryAt time.Time) *Plugin {
	p := &Plugin{
		Name: s.name, Path: s.cand.Path, State: state, Error: why, Manifest: s.check.Manifest,
		SHA256: s.check.SHA256, Checksum: s.check.Checksum,
		Restarts: s.restarts, LastError: s.lastErr, RetryAt: retryAt, sup: s,
	}
	if state == StateRunning && s.inst != nil {
		p.Manifest = s.inst.proc.Manifest()
		p.ProtocolVersion = s.inst.proc.Protocol()
		p.Pid = s.inst.proc.Pid()
		p.inst = s.inst
		p.Client = &guard{h: s.h, name: s.name, inst: s.inst}
	}
	return p
}

// stop ends supervision and returns the running instance, if any, for the
// caller to drain and kill.
func (s *supervisor) stop() *instance {
	select {
	case <-s.stopCh:
	default:
		close(s.stopCh)
	}
	<-s.done
	inst := s.inst
	s.inst = nil
	return inst
}
