// Command aurora-hub runs Aurora Hub: the provider-integration service that
// loads provider plugins and serves the hub API.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/app"
	"github.com/aurora-hub/aurora-hub/hub/config"
	"github.com/aurora-hub/aurora-hub/hub/pluginhost"
	"github.com/hashicorp/go-hclog"
)

const usage = `usage: aurora-hub <command>

commands:
  serve          run the hub (default)
  plugins list   list the plugins in HUB_PLUGIN_DIR with their manifests
  version        print the version

Configuration comes from the environment and a .env file; see README.md.`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve()
	case "plugins":
		err = pluginsCmd(args[1:])
	case "version":
		fmt.Println("aurora-hub", version)
	case "help", "-h", "--help":
		fmt.Println(usage)
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "aurora-hub:", err)
		os.Exit(1)
	}
}

func newLogger(cfg *config.Config) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name: "hub", Level: hclog.LevelFromString(cfg.LogLevel), JSONFormat: cfg.LogFormat == "json",
		Output: os.Stderr, TimeFormat: time.RFC3339Nano,
	})
}

func serve() error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	log := newLogger(cfg)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	a, err := app.New(ctx, cfg, app.Options{Logger: log})
	if err != nil {
		return err
	}
	log.Info("starting", "version", version)
	serveErr := a.Serve(ctx)
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	a.Close(sctx)
	return serveErr
}

func pluginsCmd(args []string) error {
	if len(args) == 0 || args[0] != "list" {
		return errors.New("usage: aurora-hub plugins list")
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	cands, err := pluginhost.Discover(cfg.PluginDir)
	if err != nil {
		return err
	}
	if len(cands) == 0 {
		fmt.Printf("no plugins in %s\n", cfg.PluginDir)
		return nil
	}
	for _, c := range cands {
		m, err := pluginhost.Describe(context.Background(), c.Path)
		if err != nil {
			fmt.Printf("%-16s %-10s %s\n", c.Name, "broken", err)
			continue
		}
		fmt.Printf("%-16s %-10s protocol %d  capabilities %v  %s\n", m.Name, m.Version, m.ProtocolVersion, m.Capabilities, c.Path)
	}
	return nil
}
