// Package pluginhost finds provider plugin binaries, starts each one over
// hashicorp/go-plugin (gRPC), and hands the hub a client per provider.
package pluginhost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// BinaryPrefix starts the file name of every plugin binary.
const BinaryPrefix = "aurora-plugin-"

var validName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// reserved names cannot be providers: the hub serves its own routes there.
var reserved = map[string]bool{"healthz": true, "incidents": true, "settings": true, "metrics": true, "api": true}

// State of a plugin.
const (
	StateRunning = "running"
	StateRefused = "refused"
	StateFailed  = "failed"
)

// Plugin is one provider plugin known to the host.
type Plugin struct {
	Name     string
	Path     string
	State    string
	Error    string
	Manifest sdk.Manifest
	// Client is nil unless State is StateRunning: the plugin process's gRPC
	// client, or an in-process provider (AddLocal).
	Client sdk.Capabilities

	gp *plugin.Client
}

// Options configure a Host.
type Options struct {
	Dir    string
	Logger hclog.Logger
	// Env is the hub's environment; each plugin gets only the keys its
	// manifest declares.
	Env          map[string]string
	StartTimeout time.Duration
}

// Host runs the plugins of one directory.
type Host struct {
	opts    Options
	mu      sync.RWMutex
	plugins map[string]*Plugin
}

// New returns a Host; Start launches the plugins.
func New(opts Options) *Host {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 30 * time.Second
	}
	return &Host{opts: opts, plugins: map[string]*Plugin{}}
}

// Candidate is a plugin binary found in the plugin directory.
type Candidate struct {
	Name string
	Path string
}

// Discover lists the plugin binaries in dir: executable regular files named
// aurora-plugin-<name>, sorted by name.
func Discover(dir string) ([]Candidate, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading plugin directory: %w", err)
	}
	var out []Candidate
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), BinaryPrefix)
		if !ok {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
			continue
		}
		out = append(out, Candidate{Name: name, Path: filepath.Join(dir, e.Name())})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Describe runs `<binary> describe` with an empty environment and returns
// the manifest it prints, without starting RPC.
func Describe(ctx context.Context, path string) (sdk.Manifest, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "describe")
	cmd.Env = []string{}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return sdk.Manifest{}, fmt.Errorf("running %s describe: %w (%s)", filepath.Base(path), err, strings.TrimSpace(stderr.String()))
	}
	var m sdk.Manifest
	if err := json.Unmarshal(stdout.Bytes(), &m); err != nil {
		return sdk.Manifest{}, fmt.Errorf("%s describe printed no manifest: %w", filepath.Base(path), err)
	}
	return m, nil
}

// Start discovers and starts every plugin in the directory. A plugin that
// fails is recorded (see Plugins) and logged; it does not stop the others.
func (h *Host) Start(ctx context.Context) error {
	cands, err := Discover(h.opts.Dir)
	if err != nil {
		return err
	}
	if len(cands) == 0 {
		h.opts.Logger.Warn("no plugins found", "dir", h.opts.Dir)
	}
	for _, c := range cands {
		p := h.start(ctx, c)
		h.mu.Lock()
		h.plugins[p.Name] = p
		h.mu.Unlock()
	}
	return nil
}

func (h *Host) start(ctx context.Context, c Candidate) *Plugin {
	log := h.opts.Logger.With("plugin", c.Name)
	p := &Plugin{Name: c.Name, Path: c.Path}
	fail := func(state string, err error) *Plugin {
		p.State, p.Error = state, err.Error()
		log.Error("plugin not started", "state", state, "error", err)
		return p
	}
	if !validName.MatchString(c.Name) || reserved[c.Name] {
		return fail(StateRefused, fmt.Errorf("invalid or reserved provider name %q", c.Name))
	}
	m, err := Describe(ctx, c.Path)
	if err != nil {
		return fail(StateFailed, err)
	}
	if m.Name != c.Name {
		return fail(StateRefused, fmt.Errorf("binary %s describes itself as %q", filepath.Base(c.Path), m.Name))
	}
	if m.ProtocolVersion != sdk.ProtocolVersion {
		return fail(StateRefused, fmt.Errorf("plugin speaks protocol version %d, this hub speaks %d", m.ProtocolVersion, sdk.ProtocolVersion))
	}

	cmd := exec.Command(c.Path)
	cmd.Env = h.pluginEnv(m.ConfigKeys)
	// Own process group, and killed by the kernel if the hub dies without
	// cleaning up (SIGKILL, crash): no orphaned plugins.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	gp := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.HostPlugins(),
		Cmd:              cmd,
		SkipHostEnv:      true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		// The plugin's socket lives in a fresh 0700 directory that go-plugin
		// creates (UnixSocketConfig), so only the hub's own user can connect
		// to it. That is the boundary AutoMTLS would protect; TLS on top cost
		// more than half the webhook throughput in `make bench`.
		UnixSocketConfig: &plugin.UnixSocketConfig{},
		GRPCDialOptions:  sdk.HostDialOptions(),
		Logger:           h.opts.Logger.Named(c.Name),
		StartTimeout:     h.opts.StartTimeout,
	})
	rpc, err := gp.Client()
	if err != nil {
		gp.Kill()
		return fail(StateFailed, fmt.Errorf("starting plugin: %w", err))
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		gp.Kill()
		return fail(StateFailed, fmt.Errorf("dispensing provider: %w", err))
	}
	client := raw.(*sdk.Client)
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	live, err := client.Describe(dctx)
	if err != nil {
		gp.Kill()
		return fail(StateFailed, fmt.Errorf("describing plugin over gRPC: %w", err))
	}
	if live.Name != m.Name {
		gp.Kill()
		return fail(StateRefused, fmt.Errorf("plugin answered as %q over gRPC", live.Name))
	}
	p.State, p.Manifest, p.Client, p.gp = StateRunning, live, client, gp
	log.Info("plugin started", "version", live.Version, "protocol", gp.NegotiatedVersion(), "capabilities", live.Capabilities)
	return p
}

func (h *Host) pluginEnv(keys []string) []string {
	env := []string{}
	for _, k := range keys {
		if v, ok := h.opts.Env[k]; ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// AddLocal serves p in the hub's own process, without gRPC: for
// benchmarks that measure what the process boundary costs, and for tests.
func (h *Host) AddLocal(p sdk.Provider) {
	m := sdk.ManifestOf(p)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.plugins[m.Name] = &Plugin{Name: m.Name, Path: "(in-process)", State: StateRunning, Manifest: m, Client: sdk.NewLocal(p)}
}

// Get returns the running plugin named name.
func (h *Host) Get(name string) (*Plugin, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	p, ok := h.plugins[name]
	return p, ok
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

// Ping checks that every running plugin still answers.
func (h *Host) Ping() map[string]error {
	out := map[string]error{}
	for _, p := range h.Plugins() {
		if p.gp == nil {
			continue
		}
		rpc, err := p.gp.Client()
		if err == nil {
			err = rpc.Ping()
		}
		out[p.Name] = err
	}
	return out
}

// Close stops every plugin process.
func (h *Host) Close() {
	for _, p := range h.Plugins() {
		if p.gp != nil {
			p.gp.Kill()
		}
	}
}
