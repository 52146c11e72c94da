package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/host"
)

// fakeClock moves only when the test says so.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	d  time.Duration
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), d: d, ch: ch})
	return ch
}

// Advance moves time on and fires the timers due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	keep := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.ch <- c.now
		} else {
			keep = append(keep, t)
		}
	}
	c.timers = keep
}

// waitTimer waits until someone waits for a timer of duration d.
func (c *fakeClock) waitTimer(t *testing.T, d time.Duration) {
	t.Helper()
	eventually(t, fmt.Sprintf("a %s timer", d), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, tm := range c.timers {
			if tm.d == d {
				return true
			}
		}
		return false
	})
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// fakeProc is a plugin process the test controls.
type fakeProc struct {
	id       int
	provider sdk.Provider
	done     chan struct{}
	exitOnce sync.Once
	mu       sync.Mutex
	pingErr  error
	killed   bool
	graceful bool
}

func (p *fakeProc) Client() host.Capabilities { return host.NewLocal(p.provider) }
func (p *fakeProc) Manifest() sdk.Manifest    { return sdk.ManifestOf(p.provider) }
func (p *fakeProc) Protocol() int             { return sdk.ProtocolVersion }
func (p *fakeProc) Done() <-chan struct{}     { return p.done }
func (p *fakeProc) Pid() int                  { return p.id }
func (p *fakeProc) exit()                     { p.exitOnce.Do(func() { close(p.done) }) }

func (p *fakeProc) Ping(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pingErr
}

func (p *fakeProc) Kill(graceful bool) {
	p.mu.Lock()
	p.killed, p.graceful = true, graceful
	p.mu.Unlock()
	p.exit()
}

func (p *fakeProc) wasKilled() (bool, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.killed, p.graceful
}

// testProvider answers webhooks; block (if set) holds HandleWebhook until closed.
type testProvider struct {
	name  string
	block chan struct{}
}

func (p *testProvider) Manifest() sdk.Manifest {
	return sdk.Manifest{Name: p.name, Version: "1.0.0"}
}

func (p *testProvider) HandleWebhook(ctx context.Context, _ *sdk.WebhookRequest) (*sdk.WebhookResult, error) {
	if p.block != nil {
		select {
		case <-p.block:
		case <-ctx.Done():
			return nil, &sdk.Error{Code: sdk.CodeUnavailable, Message: "cancelled"}
		}
	}
	return &sdk.WebhookResult{Verified: true}, nil
}

// fakeStarter hands out fake processes; failStart makes the next starts fail.
type fakeStarter struct {
	mu        sync.Mutex
	procs     []*fakeProc
	failStart error
	provider  sdk.Provider
}

func (f *fakeStarter) start(_ context.Context, c Candidate, _ Sums) (process, Check, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := Check{Name: c.Name, Path: c.Path, SHA256: "abc", Checksum: ChecksumUnpinned, Manifest: sdk.ManifestOf(f.provider)}
	if f.failStart != nil {
		return nil, ch, f.failStart
	}
	p := &fakeProc{id: len(f.procs) + 100, provider: f.provider, done: make(chan struct{})}
	f.procs = append(f.procs, p)
	return p, ch, nil
}

func (f *fakeStarter) last() *fakeProc {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.procs[len(f.procs)-1]
}

func (f *fakeStarter) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.procs)
}

func (f *fakeStarter) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failStart = err
}

const day = 24 * time.Hour

func newTestHost(t *testing.T, o Options) (*Host, *fakeClock, *fakeStarter) {
	t.Helper()
	if o.HealthInterval == 0 {
		o.HealthInterval = day // pings only when the test kicks
	}
	h := New(o)
	clk := newFakeClock()
	fs := &fakeStarter{provider: &testProvider{name: "fake"}}
	h.clock, h.start = clk, fs.start
	h.startSlot(context.Background(), Candidate{Name: "fake", Path: "/plugins/aurora-plugin-fake"}, Sums{})
	t.Cleanup(h.Close)
	return h, clk, fs
}

func state(h *Host) *Plugin {
	p, _ := h.Get("fake")
	return p
}

func waitState(t *testing.T, h *Host, want string) *Plugin {
	t.Helper()
	eventually(t, "state "+want, func() bool { return state(h).State == want })
	return state(h)
}

func TestRestartPolicy(t *testing.T) {
	p := restartPolicy{max: 5, window: 10 * time.Minute, base: time.Second, ceil: 10 * time.Second}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var waits []time.Duration
	at := t0
	for i := 0; i < 5; i++ {
		w, ok := p.next(at)
		if !ok {
			t.Fatalf("restart %d refused", i+1)
		}
		waits = append(waits, w)
		at = at.Add(time.Minute)
	}
	if fmt.Sprint(waits) != "[1s 2s 4s 8s 10s]" {
		t.Fatalf("backoff = %v", waits)
	}
	// The sixth failure within ten minutes disables the plugin.
	if _, ok := p.next(t0.Add(9 * time.Minute)); ok {
		t.Fatal("sixth restart within the window allowed")
	}
	// Once the first restarts leave the window, there is budget again and
	// the backoff starts lower.
	w, ok := p.next(t0.Add(12*time.Minute + time.Second))
	if !ok || w != 4*time.Second {
		t.Fatalf("after the window: %v %v", w, ok)
	}
	w, ok = p.next(t0.Add(time.Hour))
	if !ok || w != time.Second {
		t.Fatalf("after a quiet hour: %v %v", w, ok)
	}
}

func TestSupervisorRestartsCrashedPlugin(t *testing.T) {
	h, clk, fs := newTestHost(t, Options{RestartBackoff: time.Second})
	running := waitState(t, h, StateRunning)
	first := fs.last()
	if running.Pid != first.id || running.Client == nil {
		t.Fatalf("running plugin = %+v", running)
	}
	first.exit() // crash

	p := waitState(t, h, StateRestarting)
	if p.Client != nil || p.Restarts != 1 || p.LastError != "plugin process exited" {
		t.Fatalf("restarting plugin = %+v", p)
	}
	if ra := p.RetryAfter(clk.Now()); ra != 2*time.Second {
		t.Fatalf("Retry-After = %v, want backoff + 1s", ra)
	}
	// A call on the Plugin value handed out before the crash answers
	// unavailable with a retry hint.
	_, err := running.Client.HandleWebhook(context.Background(), &sdk.WebhookRequest{})
	var se *sdk.Error
	if !errors.As(err, &se) || se.Code != sdk.CodeUnavailable || se.RetryAfter <= 0 {
		t.Fatalf("call while restarting = %v", err)
	}
	if killed, graceful := first.wasKilled(); !killed || graceful {
		t.Fatalf("crashed process killed=%v graceful=%v", killed, graceful)
	}

	clk.waitTimer(t, time.Second)
	clk.Advance(time.Second)
	p = waitState(t, h, StateRunning)
	if fs.count() != 2 || p.Pid != fs.last().id || p.Restarts != 1 || p.LastError != "plugin process exited" {
		t.Fatalf("restarted plugin = %+v (%d starts)", p, fs.count())
	}
	if _, err := p.Client.HandleWebhook(context.Background(), &sdk.WebhookRequest{}); err != nil {
		t.Fatalf("call after restart: %v", err)
	}
}

func TestSupervisorDisablesAfterRepeatedFailures(t *testing.T) {
	h, clk, fs := newTestHost(t, Options{RestartBackoff: time.Second, MaxBackoff: time.Hour, MaxRestarts: 3, RestartWindow: 10 * time.Minute})
	waitState(t, h, StateRunning)
	fs.setFail(errors.New("plugin exited before we could connect"))
	fs.last().exit()
	// Three restarts, 1 s, 2 s and 4 s apart, all fail; the fourth failure
	// within the window disables the plugin.
	for i, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		p := waitState(t, h, StateRestarting)
		if p.Restarts != i+1 {
			t.Fatalf("restarts = %d, want %d", p.Restarts, i+1)
		}
		clk.waitTimer(t, wait)
		clk.Advance(wait)
		eventually(t, "the start attempt", func() bool {
			p := state(h)
			return p.State == StateDisabled || p.Restarts == i+2
		})
	}
	p := waitState(t, h, StateDisabled)
	if p.Restarts != 3 || !strings.Contains(p.Error, "disabled after 3 restarts") || p.LastError != "plugin exited before we could connect" {
		t.Fatalf("disabled plugin = %+v", p)
	}
	if fs.count() != 1 {
		t.Fatalf("%d processes started", fs.count())
	}
}

func TestSupervisorRestartsUnresponsivePlugin(t *testing.T) {
	h, clk, fs := newTestHost(t, Options{HealthInterval: 5 * time.Second, FailureThreshold: 2, RestartBackoff: time.Second})
	waitState(t, h, StateRunning)
	first := fs.last()
	first.mu.Lock()
	first.pingErr = errors.New("context deadline exceeded")
	first.mu.Unlock()
	// One failed ping is tolerated, the second restarts.
	clk.waitTimer(t, 5*time.Second)
	clk.Advance(5 * time.Second)
	clk.waitTimer(t, 5*time.Second)
	if state(h).State != StateRunning {
		t.Fatal("restarted after one failed ping")
	}
	clk.Advance(5 * time.Second)
	p := waitState(t, h, StateRestarting)
	if !strings.Contains(p.LastError, "health check failed 2 times") {
		t.Fatalf("last error = %q", p.LastError)
	}
	clk.waitTimer(t, time.Second)
	clk.Advance(time.Second)
	waitState(t, h, StateRunning)
	if fs.count() != 2 {
		t.Fatalf("%d processes started", fs.count())
	}
}

func TestCallTimeoutsRestartPlugin(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	h := New(Options{HealthInterval: day, WebhookTimeout: 20 * time.Millisecond, FailureThreshold: 2, RestartBackoff: time.Second})
	clk := newFakeClock()
	fs := &fakeStarter{provider: &testProvider{name: "fake", block: block}}
	h.clock, h.start = clk, fs.start
	h.startSlot(context.Background(), Candidate{Name: "fake", Path: "/p/aurora-plugin-fake"}, Sums{})
	t.Cleanup(h.Close)
	p := waitState(t, h, StateRunning)
	for i := 0; i < 2; i++ {
		start := time.Now()
		_, err := p.Client.HandleWebhook(context.Background(), &sdk.WebhookRequest{})
		var se *sdk.Error
		if !errors.As(err, &se) || se.Code != sdk.CodeUnavailable || se.RetryAfter != time.Second || se.Message != MsgUnavailable || !strings.Contains(se.Error(), "did not answer within 20ms") {
			t.Fatalf("hung call = %v", err)
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("the deadline did not bound the call")
		}
	}
	p = waitState(t, h, StateRestarting)
	if p.LastError != "2 calls in a row timed out" {
		t.Fatalf("last error = %q", p.LastError)
	}
}

func TestUnimplementedIsAbsentCapability(t *testing.T) {
	h, _, _ := newTestHost(t, Options{})
	p := waitState(t, h, StateRunning)
	_, err := p.Client.CreateWebhookSubscription(context.Background(), &sdk.SubscriptionRequest{})
	var se *sdk.Error
	if !errors.As(err, &se) || se.Code != sdk.CodeUnimplemented || se.Message != "Provider fake does not implement provisioning" {
		t.Fatalf("unimplemented call = %v", err)
	}
}

// TestReplaceDrainsOldProcess: a reload swaps in a new process at once, and
// the old one is killed only when the request holding it has finished.
func TestReplaceDrainsOldProcess(t *testing.T) {
	h, _, fs := newTestHost(t, Options{})
	waitState(t, h, StateRunning)
	old := fs.last()
	held, release, ok := h.Acquire("fake")
	if !ok || held.Pid != old.id {
		t.Fatalf("acquire = %+v %v", held, ok)
	}
	h.startSlot(context.Background(), Candidate{Name: "fake", Path: "/plugins/aurora-plugin-fake"}, Sums{})
	p := waitState(t, h, StateRunning)
	if p.Pid == old.id {
		t.Fatal("not swapped")
	}
	// The old value still works while held.
	if _, err := held.Client.HandleWebhook(context.Background(), &sdk.WebhookRequest{}); err != nil {
		t.Fatalf("call on the held plugin: %v", err)
	}
	time.Sleep(20 * time.Millisecond)
	if killed, _ := old.wasKilled(); killed {
		t.Fatal("old process killed while a request held it")
	}
	release()
	eventually(t, "old process killed", func() bool { k, _ := old.wasKilled(); return k })
	if _, graceful := old.wasKilled(); !graceful {
		t.Fatal("drained process not stopped gracefully")
	}
	// A stale value's calls go to the current process.
	if _, err := held.Client.HandleWebhook(context.Background(), &sdk.WebhookRequest{}); err != nil {
		t.Fatalf("call on a stale plugin value: %v", err)
	}
}

func TestOptionsFromEnv(t *testing.T) {
	o, err := OptionsFromEnv(map[string]string{"HUB_PLUGIN_REQUIRE_CHECKSUM": "true", "HUB_PLUGIN_WEBHOOK_TIMEOUT": "2s", "HUB_PLUGIN_MAX_RESTARTS": "7", "HUB_PLUGIN_GOMAXPROCS": "4"})
	if err != nil || !o.RequireChecksum || o.WebhookTimeout != 2*time.Second || o.MaxRestarts != 7 || o.GoMaxProcs != 4 {
		t.Fatalf("options = %+v, %v", o, err)
	}
	for _, env := range []map[string]string{
		{"HUB_PLUGIN_REQUIRE_CHECKSUM": "yes please"}, {"HUB_PLUGIN_HEALTH_INTERVAL": "5"}, {"HUB_PLUGIN_MAX_RESTARTS": "-1"}, {"HUB_PLUGIN_GOMAXPROCS": "0"}, {"HUB_PLUGIN_GOMAXPROCS": "half"},
	} {
		if _, err := OptionsFromEnv(env); err == nil {
			t.Errorf("%v accepted", env)
		}
	}
}

func TestFirstStartFailureIsRetried(t *testing.T) {
	h := New(Options{HealthInterval: day, RestartBackoff: time.Second})
	clk := newFakeClock()
	fs := &fakeStarter{provider: &testProvider{name: "fake"}, failStart: errors.New("timeout while waiting for plugin to start")}
	h.clock, h.start = clk, fs.start
	h.startSlot(context.Background(), Candidate{Name: "fake", Path: "/p/aurora-plugin-fake"}, Sums{})
	t.Cleanup(h.Close)
	p := waitState(t, h, StateRestarting)
	if p.Client != nil || p.LastError != "timeout while waiting for plugin to start" {
		t.Fatalf("plugin = %+v", p)
	}
	if _, release, ok := h.Acquire("fake"); !ok {
		t.Fatal("a restarting plugin is unknown")
	} else {
		release()
	}
	fs.setFail(nil)
	clk.waitTimer(t, time.Second)
	clk.Advance(time.Second)
	if p := waitState(t, h, StateRunning); p.Restarts != 1 {
		t.Fatalf("plugin = %+v", p)
	}
}
