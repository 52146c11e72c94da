// Package pluginhost finds provider plugin binaries, checks and starts each
// one over hashicorp/go-plugin (gRPC), keeps it running, and hands the hub a
// client per provider.
//
// Before a binary runs it is inspected (Inspect): its checksum against the
// directory's SHA256SUMS, then its `describe` manifest (name, protocol
// version, the configuration it asks for). A supervisor per plugin restarts
// a plugin that exited, fails its health check or lets calls time out, with
// exponential backoff, and disables it after too many restarts in a window.
// Reload (SIGHUP) starts new and changed binaries and drains replaced ones.
package pluginhost

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/metrics"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/host"
	"github.com/hashicorp/go-hclog"
)

// BinaryPrefix starts the file name of every plugin binary.
const BinaryPrefix = "aurora-plugin-"

var validName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// reserved names cannot be providers: the hub serves its own routes there.
var reserved = map[string]bool{"healthz": true, "incidents": true, "settings": true, "metrics": true, "api": true, "pipeline": true}

// State of a plugin.
const (
	// StateRunning: the plugin answers calls.
	StateRunning = "running"
	// StateRestarting: the plugin failed and is being started again; its
	// routes answer 503 with Retry-After meanwhile.
	StateRestarting = "restarting"
	// StateDisabled: the plugin failed too often; a reload (SIGHUP) tries again.
	StateDisabled = "disabled"
	// StateRefused: the binary must not run (checksum, protocol version,
	// name or manifest); replacing it and reloading tries again.
	StateRefused = "refused"
	// StateFailed: the binary could not be inspected (describe failed).
	StateFailed = "failed"
)

// Plugin is one provider plugin as the host knows it at one moment. A value
// is never modified: the host publishes a new one on every change, so a
// request keeps a consistent view, and its Client stays usable (calls go to
// the process that is current when they are made).
type Plugin struct {
	Name  string
	Path  string
	State string
	// Error says why the plugin is not running (or what it is recovering from).
	Error    string
	Manifest sdk.Manifest
	// ProtocolVersion is the version negotiated with the running process.
	ProtocolVersion int
	// Client is nil unless State is StateRunning: the plugin process's gRPC
	// client behind deadlines, or an in-process provider (AddLocal).
	Client host.Capabilities
	// SHA256 of the binary, and its status against SHA256SUMS.
	SHA256   string
	Checksum string
	// Restarts counts restarts since the binary was (re)loaded; LastError
	// is the last failure, kept after a successful restart.
	Restarts  int
	LastError string
	// RetryAt is when a restarting plugin is started again.
	RetryAt time.Time
	Pid     int
	Local   bool

	inst *instance
	sup  *supervisor
}

// RetryAfter is what to tell a client of a plugin that is not running.
func (p *Plugin) RetryAfter(now time.Time) time.Duration {
	switch {
	case p.State == StateRestarting && !p.RetryAt.IsZero():
		// The start itself takes a moment after the backoff.
		return max(p.RetryAt.Sub(now), 0) + time.Second
	case p.State == StateRunning:
		// A call failed in the moment before the supervisor noticed.
		return time.Second
	}
	return 30 * time.Second
}

// Options configure a Host.
type Options struct {
	Dir    string
	Logger hclog.Logger
	// Env is the hub's environment; each plugin gets only the keys its
	// manifest declares.
	Env map[string]string
	// RequireChecksum refuses binaries that SHA256SUMS does not pin
	// (HUB_PLUGIN_REQUIRE_CHECKSUM). A pinned binary that does not match is
	// refused either way.
	RequireChecksum bool
	// StartTimeout bounds a plugin's start (handshake).
	StartTimeout time.Duration
	// HealthInterval and HealthTimeout: the supervisor pings each plugin
	// this often, with this deadline.
	HealthInterval time.Duration
	HealthTimeout  time.Duration
	// FailureThreshold consecutive failed pings, or calls in a row that
	// time out, restart the plugin.
	FailureThreshold int
	// WebhookTimeout bounds a webhook call, CallTimeout every other one.
	WebhookTimeout time.Duration
	CallTimeout    time.Duration
	// RestartBackoff is the wait before the first restart; it doubles for
	// each further restart within RestartWindow, up to MaxBackoff.
	RestartBackoff time.Duration
	MaxBackoff     time.Duration
	// MaxRestarts within RestartWindow disable the plugin.
	MaxRestarts   int
	RestartWindow time.Duration
	// DrainTimeout bounds how long a replaced or stopped plugin's calls in
	// flight may take before it is killed anyway.
	DrainTimeout time.Duration
	// Metrics times every call to a plugin (nil: not timed).
	Metrics *metrics.Metrics
	// GoMaxProcs is the GOMAXPROCS each plugin process is started with
	// (HUB_PLUGIN_GOMAXPROCS), unless its manifest declares GOMAXPROCS and
	// the hub's environment sets it. By default half of the hub's, rounded
	// up: a plugin shares the machine with the hub, and does about a third
	// of a delivery's work. With as many as the hub's, the PagerDuty
	// plugin's idle processors spun looking for work: on two cores, one
	// cost 11 to 22% less CPU per delivery at 1,000 webhooks/s and 9 to 24%
	// less under full load, and 3 MB less memory
	// (docs/performance-history.md, round 11).
	GoMaxProcs int
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.StartTimeout, 30*time.Second)
	def(&o.HealthInterval, 5*time.Second)
	def(&o.HealthTimeout, 2*time.Second)
	def(&o.WebhookTimeout, 5*time.Second)
	def(&o.CallTimeout, 30*time.Second)
	def(&o.RestartBackoff, time.Second)
	def(&o.MaxBackoff, time.Minute)
	def(&o.RestartWindow, 10*time.Minute)
	def(&o.DrainTimeout, 30*time.Second)
	if o.FailureThreshold <= 0 {
		o.FailureThreshold = 2
	}
	if o.MaxRestarts <= 0 {
		o.MaxRestarts = 5
	}
	if o.GoMaxProcs <= 0 {
		o.GoMaxProcs = (runtime.GOMAXPROCS(0) + 1) / 2
	}
}

// OptionsFromEnv reads the plugin host's settings from the hub's
// environment: HUB_PLUGIN_REQUIRE_CHECKSUM (true/false) and the durations
// HUB_PLUGIN_HEALTH_INTERVAL, HUB_PLUGIN_HEALTH_TIMEOUT,
// HUB_PLUGIN_WEBHOOK_TIMEOUT, HUB_PLUGIN_CALL_TIMEOUT,
// HUB_PLUGIN_RESTART_BACKOFF, HUB_PLUGIN_RESTART_WINDOW,
// HUB_PLUGIN_DRAIN_TIMEOUT, and the counts HUB_PLUGIN_MAX_RESTARTS and
// HUB_PLUGIN_FAILURE_THRESHOLD. Unset means the default.
func OptionsFromEnv(env map[string]string) (Options, error) {
	var o Options
	if v := strings.TrimSpace(env["HUB_PLUGIN_REQUIRE_CHECKSUM"]); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return o, fmt.Errorf("HUB_PLUGIN_REQUIRE_CHECKSUM: %q is neither true nor false", v)
		}
		o.RequireChecksum = b
	}
	for k, d := range map[string]*time.Duration{
		"HUB_PLUGIN_HEALTH_INTERVAL": &o.HealthInterval, "HUB_PLUGIN_HEALTH_TIMEOUT": &o.HealthTimeout,
		"HUB_PLUGIN_WEBHOOK_TIMEOUT": &o.WebhookTimeout, "HUB_PLUGIN_CALL_TIMEOUT": &o.CallTimeout,
		"HUB_PLUGIN_RESTART_BACKOFF": &o.RestartBackoff, "HUB_PLUGIN_RESTART_WINDOW": &o.RestartWindow,
		"HUB_PLUGIN_DRAIN_TIMEOUT": &o.DrainTimeout,
	} {
		if v := strings.TrimSpace(env[k]); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil || x <= 0 {
				return o, fmt.Errorf("%s: %q is not a positive duration (like 5s)", k, v)
			}
			*d = x
		}
	}
	for k, n := range map[string]*int{"HUB_PLUGIN_MAX_RESTARTS": &o.MaxRestarts, "HUB_PLUGIN_FAILURE_THRESHOLD": &o.FailureThreshold, "HUB_PLUGIN_GOMAXPROCS": &o.GoMaxProcs} {
		if v := strings.TrimSpace(env[k]); v != "" {
			x, err := strconv.Atoi(v)
			if err != nil || x <= 0 {
				return o, fmt.Errorf("%s: %q is not a positive number", k, v)
			}
			*n = x
		}
	}
	return o, nil
}

// Host runs the plugins of one directory.
type Host struct {
	opts  Options
	clock clock
	// start inspects and starts one binary; tests replace it.
	start func(ctx context.Context, c Candidate, sums Sums) (process, Check, error)

	mu      sync.RWMutex
	plugins map[string]*Plugin

	// lifecycle serialises Start, Reload and Close.
	lifecycle sync.Mutex
	closed    bool
	// draining tracks supervisors being stopped and processes being drained.
	draining sync.WaitGroup
}

// New returns a Host; Start launches the plugins.
func New(opts Options) *Host {
	opts.defaults()
	h := &Host{opts: opts, clock: realClock{}, plugins: map[string]*Plugin{}}
	h.start = h.inspectAndStart
	return h
}

// Start discovers, checks and starts every plugin in the directory. A plugin
// that fails is recorded (see Plugins) and logged; it does not stop the
// others. A malformed SHA256SUMS stops everything: its pins are unknown.
func (h *Host) Start(ctx context.Context) error {
	n, err := h.Reload(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		h.opts.Logger.Warn("no plugins found", "dir", h.opts.Dir)
	}
	return nil
}

// Reload makes the running plugins match the directory, without disturbing
// the others: new binaries are started; a binary whose SHA-256 changed (or
// that was refused, failed or disabled) is started anew and swapped in, the
// old process drained, then killed; the plugin of a removed binary is
// drained and stopped. It returns the number of plugin binaries found.
func (h *Host) Reload(ctx context.Context) (int, error) {
	h.lifecycle.Lock()
	defer h.lifecycle.Unlock()
	if h.closed {
		return 0, fmt.Errorf("plugin host is closed")
	}
	cands, err := Discover(h.opts.Dir)
	if err != nil {
		return 0, err
	}
	sums, err := ReadSums(h.opts.Dir)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", filepath.Join(h.opts.Dir, SumsFile), err)
	}
	seen := map[string]bool{}
	for _, c := range cands {
		seen[c.Name] = true
		cur, ok := h.Get(c.Name)
		if ok && cur.Local {
			continue
		}
		if ok && h.unchanged(cur, c, sums) {
			continue
		}
		if ok {
			h.opts.Logger.Info("plugin binary changed, starting it anew", "plugin", c.Name, "was", cur.State)
		}
		h.startSlot(ctx, c, sums)
	}
	h.mu.Lock()
	var removed []*Plugin
	for name, p := range h.plugins {
		if !seen[name] && !p.Local {
			delete(h.plugins, name)
			removed = append(removed, p)
		}
	}
	h.mu.Unlock()
	for _, p := range removed {
		h.opts.Logger.Info("plugin binary removed, stopping the plugin after its calls in flight", "plugin", p.Name)
		h.retireAsync(p)
	}
	return len(cands), nil
}

// unchanged: the slot runs (or is recovering) the same binary with the same pin.
func (h *Host) unchanged(p *Plugin, c Candidate, sums Sums) bool {
	if p.State != StateRunning && p.State != StateRestarting {
		return false
	}
	sum, err := FileSHA256(c.Path)
	if err != nil || sum != p.SHA256 || p.sup == nil {
		return false
	}
	pinned, ok := sums[filepath.Base(c.Path)]
	was, wasOK := p.sup.sums[filepath.Base(c.Path)]
	return pinned == was && ok == wasOK
}

// startSlot inspects and starts c, publishes it in place of what ran under
// its name, and drains the old process in the background.
func (h *Host) startSlot(ctx context.Context, c Candidate, sums Sums) {
	log := h.opts.Logger.With("plugin", c.Name)
	sup := h.newSupervisor(c, sums)
	inst, ch, err := h.launch(ctx, c, sums)
	sup.check = ch
	var p *Plugin
	switch {
	case err == nil:
		sup.inst = inst
		p = sup.snapshot(StateRunning, "", time.Time{})
		if ch.Checksum == ChecksumUnpinned {
			log.Warn("plugin binary is not pinned in "+SumsFile, "sha256", ch.SHA256)
		}
		log.Info("plugin started", "version", p.Manifest.Version, "protocol", p.ProtocolVersion,
			"capabilities", p.Manifest.Capabilities, "checksum", ch.Checksum, "pid", p.Pid)
	case IsRefusal(err):
		sup.lastErr = err.Error()
		p = sup.snapshot(StateRefused, err.Error(), time.Time{})
		p.sup = nil
		log.Error("plugin refused", "error", err, "path", c.Path)
	case ch.Manifest.Name == "":
		// Not even describe worked: the binary is broken until replaced.
		sup.lastErr = err.Error()
		p = sup.snapshot(StateFailed, err.Error(), time.Time{})
		p.sup = nil
		log.Error("plugin not started", "error", err, "path", c.Path)
	default:
		// It described itself but did not start: the supervisor retries
		// with backoff.
		log.Error("plugin did not start", "error", err)
		sup.lastErr = err.Error()
		p = sup.snapshot(StateRestarting, err.Error(), time.Time{})
	}
	h.swap(c.Name, p)
	if p.sup != nil {
		go sup.run(sup.lastErr) // "" when running: it starts by watching
	}
}

// launch runs the start function and wraps the process.
func (h *Host) launch(ctx context.Context, c Candidate, sums Sums) (*instance, Check, error) {
	proc, ch, err := h.start(ctx, c, sums)
	if err != nil {
		return nil, ch, err
	}
	return newInstance(proc), ch, nil
}

// inspectAndStart is the real start: Inspect, then go-plugin.
func (h *Host) inspectAndStart(ctx context.Context, c Candidate, sums Sums) (process, Check, error) {
	ch := Inspect(ctx, c, sums, h.opts.RequireChecksum)
	if ch.Err != nil {
		return nil, ch, ch.Err
	}
	proc, err := launchGoPlugin(ctx, launchSpec{
		Name: c.Name, Path: c.Path, SHA256: ch.SHA256, Env: h.pluginEnv(ch.Manifest.ConfigKeys),
		// Every line the plugin logs is re-logged tagged plugin=<name>,
		// whatever the plugin calls itself.
		Logger:       h.opts.Logger.Named(c.Name).With("plugin", c.Name),
		StartTimeout: h.opts.StartTimeout, RPCTimeout: h.opts.CallTimeout,
	})
	return proc, ch, err
}

// pluginEnv is a plugin's environment: the keys its manifest declares that
// the hub's environment sets, and GOMAXPROCS (Options.GoMaxProcs).
func (h *Host) pluginEnv(keys []string) []string {
	env := []string{}
	procs := false
	for _, k := range keys {
		if forbiddenConfigKey(k) != "" {
			continue // refused by Inspect already; never passed
		}
		if v, ok := h.opts.Env[k]; ok {
			env = append(env, k+"="+v)
			procs = procs || k == "GOMAXPROCS"
		}
	}
	if !procs {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(h.opts.GoMaxProcs))
	}
	return env
}

// swap publishes p under its name and retires what was there.
func (h *Host) swap(name string, p *Plugin) {
	h.mu.Lock()
	old := h.plugins[name]
	h.plugins[name] = p
	h.mu.Unlock()
	if old != nil {
		h.retireAsync(old)
	}
}

// publish replaces the plugin of sup's name, unless sup no longer owns it
// (it was replaced or removed meanwhile).
func (h *Host) publish(sup *supervisor, p *Plugin) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cur, ok := h.plugins[p.Name]; ok && cur.sup == sup {
		h.plugins[p.Name] = p
	}
}

// retireAsync stops p's supervisor, waits for its calls in flight (at most
// DrainTimeout) and kills its process, in the background.
func (h *Host) retireAsync(p *Plugin) {
	h.draining.Add(1)
	go func() {
		defer h.draining.Done()
		h.retire(p)
	}()
}

func (h *Host) retire(p *Plugin) {
	inst := p.inst
	if p.sup != nil {
		if i := p.sup.stop(); i != nil {
			inst = i
		}
	}
	if inst == nil {
		return
	}
	log := h.opts.Logger.With("plugin", p.Name, "pid", inst.proc.Pid())
	select {
	case <-inst.retire():
	case <-time.After(h.opts.DrainTimeout):
		log.Warn("calls still in flight after the drain timeout; killing the plugin anyway", "in_flight", inst.inFlight())
	}
	inst.proc.Kill(true)
	log.Info("plugin stopped")
}

// AddLocal serves p in the hub's own process, without gRPC: for
// benchmarks that measure what the process boundary costs, and for tests.
func (h *Host) AddLocal(p sdk.Provider) {
	m := sdk.ManifestOf(p)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.plugins[m.Name] = &Plugin{Name: m.Name, Path: "(in-process)", State: StateRunning, Manifest: m,
		ProtocolVersion: m.ProtocolVersion, Client: host.NewLocal(p), Local: true}
}

// Get returns the plugin named name as it is now.
func (h *Host) Get(name string) (*Plugin, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	p, ok := h.plugins[name]
	return p, ok
}

// Acquire is Get for a request: while the request holds the plugin (until
// release), a replaced process is not killed. release must be called.
func (h *Host) Acquire(name string) (p *Plugin, release func(), ok bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	p, ok = h.plugins[name]
	if ok && p.inst != nil && p.inst.acquire() {
		return p, p.inst.release, true
	}
	return p, func() {}, ok
}

func (h *Host) retryAfter(name string) time.Duration {
	if p, ok := h.Get(name); ok {
		return p.RetryAfter(h.clock.Now())
	}
	return h.opts.RestartBackoff
}

// Plugins returns every plugin the host knows, sorted by name.
func (h *Host) Plugins() []*Plugin {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*Plugin, 0, len(h.plugins))
	for _, p := range h.plugins {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Close stops supervising, waits for the calls in flight (at most
// DrainTimeout; the API has drained already when the hub shuts down) and
// stops every plugin process.
func (h *Host) Close() {
	h.lifecycle.Lock()
	defer h.lifecycle.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	h.mu.Lock()
	all := h.plugins
	h.plugins = map[string]*Plugin{}
	h.mu.Unlock()
	for _, p := range all {
		if !p.Local {
			h.retireAsync(p)
		}
	}
	h.draining.Wait()
}

// states are every state a plugin can be in.
var states = []string{StateRunning, StateRestarting, StateDisabled, StateRefused, StateFailed}

// MetricsSource lists the plugins for the plugin gauges (metrics.PluginSource).
func (h *Host) MetricsSource() ([]metrics.PluginStatus, []string) {
	ps := h.Plugins()
	out := make([]metrics.PluginStatus, len(ps))
	for i, p := range ps {
		out[i] = metrics.PluginStatus{Name: p.Name, State: p.State, Restarts: p.Restarts}
	}
	return out, states
}
