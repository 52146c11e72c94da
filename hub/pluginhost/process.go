package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/host"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/health/grpc_health_v1"
)

// process is one running plugin process, as the supervisor sees it. The
// go-plugin implementation is goPluginProcess; tests use fakes.
type process interface {
	// Client calls the plugin (no deadlines of its own).
	Client() host.Capabilities
	// Manifest is what the plugin answered over RPC at start.
	Manifest() sdk.Manifest
	// Protocol is the negotiated protocol version.
	Protocol() int
	// Ping checks that the plugin answers; ctx bounds it.
	Ping(ctx context.Context) error
	// Done is closed when the process has exited.
	Done() <-chan struct{}
	// Kill ends the process and waits for it: gracefully (go-plugin's
	// shutdown, then SIGKILL) or, for a broken one, SIGKILL at once.
	Kill(graceful bool)
	Pid() int
}

// launchSpec is everything needed to start one plugin binary.
type launchSpec struct {
	Name   string
	Path   string
	SHA256 string // go-plugin refuses to start a binary with another checksum
	Env    []string
	Logger hclog.Logger
	// StartTimeout bounds the handshake; RPCTimeout the first Describe.
	StartTimeout, RPCTimeout time.Duration
}

type goPluginProcess struct {
	gp       *plugin.Client
	cmd      *exec.Cmd
	client   *host.Client
	health   grpc_health_v1.HealthClient
	manifest sdk.Manifest
	done     chan struct{}
	killOnce sync.Once
	// cleanup removes the socket directory (once).
	cleanup func()
}

// launchGoPlugin starts the binary over go-plugin (gRPC) and asks it for its
// manifest. A failed handshake on the protocol version or the checksum is a
// refusal: starting the same binary again cannot succeed.
func launchGoPlugin(ctx context.Context, s launchSpec) (process, error) {
	sum, err := hex.DecodeString(s.SHA256)
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("invalid checksum %q", s.SHA256)
	}
	// go-plugin puts the plugin's socket in PLUGIN_UNIX_SOCKET_DIR, else in
	// the temporary directory with the umask's mode (any local user could
	// connect under umask 000). Its own private directory is only made for
	// custom runners, so the hub makes one per process: 0700 whatever the
	// umask, and removed when the process is gone.
	sockDir, err := os.MkdirTemp("", "aurora-"+s.Name+"-")
	if err != nil {
		return nil, fmt.Errorf("creating the plugin's socket directory: %w", err)
	}
	cleanup := sync.OnceFunc(func() { _ = os.RemoveAll(sockDir) })
	cmd := exec.Command(s.Path)
	cmd.Env = append(slices.Clip(s.Env), plugin.EnvUnixSocketDir+"="+sockDir)
	// Own process group, and killed by the kernel if the hub dies without
	// cleaning up (SIGKILL, crash): no orphaned plugins.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	gp := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  host.Handshake(),
		VersionedPlugins: host.Plugins(),
		Cmd:              cmd,
		SkipHostEnv:      true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		// The binary that runs is the one inspected (and pinned): go-plugin
		// hashes it again right before it starts it.
		SecureConfig: &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()},
		// No AutoMTLS: the socket's private directory (above) admits only
		// the hub's own user, the boundary mTLS would protect; TLS on top
		// cost more than half the webhook throughput in `make bench`.
		GRPCDialOptions: host.DialOptions(),
		// The plugin's stderr (its log) goes to the hub's log, tagged.
		Logger:       s.Logger,
		StartTimeout: s.StartTimeout,
	})
	fail := func(err error) (process, error) {
		killGroup(cmd)
		gp.Kill()
		cleanup()
		return nil, err
	}
	rpc, err := gp.Client()
	if err != nil {
		return fail(classifyStartError(err))
	}
	raw, err := rpc.Dispense(host.PluginName)
	if err != nil {
		return fail(fmt.Errorf("dispensing provider: %w", err))
	}
	client, ok := raw.(*host.Client)
	gc, ok2 := rpc.(*plugin.GRPCClient)
	if !ok || !ok2 {
		return fail(fmt.Errorf("plugin is not a gRPC provider"))
	}
	if v := gp.NegotiatedVersion(); !supportsProtocol(v) {
		return fail(refuse("plugin negotiated protocol version %d, this hub speaks %v", v, SupportedProtocols()))
	}
	dctx, cancel := context.WithTimeout(ctx, s.RPCTimeout)
	defer cancel()
	live, err := client.Describe(dctx)
	if err != nil {
		return fail(fmt.Errorf("describing plugin over gRPC: %w", err))
	}
	if live.Name != s.Name {
		return fail(refuse("plugin answered as %q over gRPC", live.Name))
	}
	p := &goPluginProcess{gp: gp, cmd: cmd, client: client, health: grpc_health_v1.NewHealthClient(gc.Conn), manifest: live, done: make(chan struct{}), cleanup: cleanup}
	go p.watch()
	return p, nil
}

// classifyStartError turns go-plugin's handshake errors into refusals where
// retrying cannot help. go-plugin has no typed errors for the version checks,
// so its (stable) messages are matched.
func classifyStartError(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, plugin.ErrChecksumsDoNotMatch):
		return refuse("checksum mismatch: the binary changed after it was inspected")
	case strings.Contains(msg, "incompatible API version"):
		return refuse("protocol version refused at handshake (%s): this hub speaks %v; rebuild the plugin against a matching SDK", firstLine(msg), SupportedProtocols())
	case strings.Contains(msg, "incompatible core API version"):
		return refuse("go-plugin core protocol refused at handshake: %s", firstLine(msg))
	case strings.Contains(msg, "unsupported plugin protocol"):
		return refuse("plugin does not speak gRPC: %s", firstLine(msg))
	}
	return fmt.Errorf("starting plugin: %w", err)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// watch removes the socket directory and closes done when the process has
// exited. go-plugin only offers Exited(); a poll every 100 ms is a mutex read.
func (p *goPluginProcess) watch() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for range t.C {
		if p.gp.Exited() {
			p.cleanup()
			close(p.done)
			return
		}
	}
}

func (p *goPluginProcess) Client() host.Capabilities { return p.client }
func (p *goPluginProcess) Manifest() sdk.Manifest    { return p.manifest }
func (p *goPluginProcess) Protocol() int             { return p.gp.NegotiatedVersion() }
func (p *goPluginProcess) Done() <-chan struct{}     { return p.done }

func (p *goPluginProcess) Pid() int {
	if p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Ping asks go-plugin's gRPC health service. go-plugin's own Ping has no
// deadline, so a frozen plugin would block it forever.
func (p *goPluginProcess) Ping(ctx context.Context) error {
	_, err := p.health.Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: plugin.GRPCServiceName})
	return err
}

func (p *goPluginProcess) Kill(graceful bool) {
	p.killOnce.Do(func() {
		defer p.cleanup()
		if !graceful {
			// go-plugin's Kill asks the plugin to shut down first and waits
			// for its answer without a deadline: a frozen plugin never gives
			// one. Kill the group first; Kill then only cleans up.
			killGroup(p.cmd)
			p.gp.Kill()
			return
		}
		done := make(chan struct{})
		go func() { p.gp.Kill(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			killGroup(p.cmd)
			<-done
		}
	})
}

// killGroup sends SIGKILL to the plugin's process group (it has its own).
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil && cmd.Process.Pid > 0 {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
