// Package sdktest runs a provider in-process over real gRPC and checks it against the plugin contract, so plugin tests are plain go test.
package sdktest

import (
	"context"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/host"
	"github.com/aurora-hub/aurora-hub/sdk/internal/protocol"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// Client is the hub's client of a plugin (sdk/host.Client): what Start
// returns and ErrorCase.Call receives.
type Client = host.Client

// startTimeout bounds how long Start waits for the in-process server.
const startTimeout = 10 * time.Second

// Start serves p in-process through go-plugin's test mode (no subprocess,
// but the real gRPC server, client and error encoding the hub uses) and
// returns the hub-side client. The server stops when the test ends. The
// plugin logs to logger, if given (default: nowhere).
func Start(t testing.TB, p sdk.Provider, logger ...hclog.Logger) *Client {
	t.Helper()
	if p == nil {
		t.Fatal("sdktest.Start: nil provider")
	}
	if err := sdk.Check(p); err != nil {
		t.Fatalf("sdktest.Start: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	reattach := make(chan *plugin.ReattachConfig, 1)
	closed := make(chan struct{})
	log := hclog.NewNullLogger()
	if len(logger) > 0 && logger[0] != nil {
		log = logger[0]
	}
	go protocol.ServeTest(p, log, &plugin.ServeTestConfig{Context: ctx, ReattachConfigCh: reattach, CloseCh: closed})
	var rc *plugin.ReattachConfig
	select {
	case rc = <-reattach:
	case <-closed:
		cancel()
		t.Fatal("sdktest.Start: the plugin server stopped before it started")
	case <-time.After(startTimeout):
		cancel()
		t.Fatalf("sdktest.Start: the plugin server did not start within %v", startTimeout)
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: host.Handshake(),
		// go-plugin ignores VersionedPlugins when reattaching; it takes Plugins.
		Plugins:          host.Plugins()[sdk.ProtocolVersion],
		Reattach:         rc,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		GRPCDialOptions:  host.DialOptions(),
		Logger:           hclog.NewNullLogger(),
	})
	t.Cleanup(func() {
		client.Kill()
		cancel()
		select {
		case <-closed:
		case <-time.After(startTimeout):
			t.Errorf("sdktest: the plugin server did not stop within %v", startTimeout)
		}
	})
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("sdktest.Start: connecting to the plugin: %v", err)
	}
	raw, err := rpc.Dispense(host.PluginName)
	if err != nil {
		t.Fatalf("sdktest.Start: dispensing the provider: %v", err)
	}
	c, ok := raw.(*Client)
	if !ok {
		t.Fatalf("sdktest.Start: dispensed %T, want *host.Client", raw)
	}
	return c
}
