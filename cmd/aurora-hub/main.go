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

	"github.com/aurora-hub/aurora-hub/hub/config"
	"github.com/aurora-hub/aurora-hub/hub/connections"
	"github.com/aurora-hub/aurora-hub/hub/httpapi"
	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/pluginhost"
	"github.com/aurora-hub/aurora-hub/hub/secrets"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/webhooks"
	"github.com/hashicorp/go-hclog"
	"github.com/riverqueue/river"
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

	st, err := store.Open(ctx, store.Options{Driver: cfg.Driver, SQLitePath: cfg.SQLitePath, URL: cfg.DatabaseURL})
	if err != nil {
		return fmt.Errorf("HUB_DATABASE_URL (%s): %w", cfg.RedactedDatabaseURL(), err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	key := cfg.EncryptionKey
	if key == nil {
		var created bool
		key, created, err = secrets.LoadOrCreateKey(cfg.DataDir)
		if err != nil {
			return fmt.Errorf("HUB_ENCRYPTION_KEY unset and no usable key in %s: %w", cfg.DataDir, err)
		}
		log.Warn("HUB_ENCRYPTION_KEY is not set: using a key file in the data directory (development only)", "dir", cfg.DataDir, "created", created)
	}
	sealer, err := secrets.New(key)
	if err != nil {
		return fmt.Errorf("HUB_ENCRYPTION_KEY: %w", err)
	}

	host := pluginhost.New(pluginhost.Options{Dir: cfg.PluginDir, Logger: log.Named("plugins"), Env: cfg.Env})
	defer host.Close()
	if err := host.Start(ctx); err != nil {
		return fmt.Errorf("HUB_PLUGIN_DIR: %w", err)
	}

	if err := jobs.Migrate(ctx, st); err != nil {
		return err
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &pipeline.ApplyEventsWorker{Store: st, Logger: log.Named("pipeline")})
	jc, err := jobs.New(st, jobs.Options{Workers: workers, Logger: log.Named("jobs")})
	if err != nil {
		return err
	}
	// Jobs and the inbox outlive the signal: they stop after the API has
	// drained, so every accepted webhook is committed first.
	if err := jc.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("starting job workers: %w", err)
	}
	inbox := webhooks.NewInbox(st, jc, log.Named("inbox"))
	inboxCtx, stopInbox := context.WithCancel(context.Background())
	inboxDone := make(chan struct{})
	go func() { inbox.Run(inboxCtx); close(inboxDone) }()

	allowUnsigned := map[string]bool{}
	for _, p := range host.Plugins() {
		if cfg.Env[webhooks.AllowUnsignedEnv(p.Name)] == "true" {
			allowUnsigned[p.Name] = true
			log.Warn("webhooks without a signing secret are accepted unverified", "provider", p.Name)
		}
	}
	api := httpapi.New(httpapi.Deps{
		Config: cfg, Logger: log.Named("http"), Store: st, Plugins: host,
		Connections: &connections.Service{Store: st, Sealer: sealer, Logger: log.Named("connections")},
		Webhooks:    webhooks.New(st, sealer, inbox, log.Named("webhooks"), webhooks.Options{AllowUnsigned: allowUnsigned}),
	})
	errc := make(chan error, 1)
	go func() { errc <- api.Listen(cfg.Listen) }()
	log.Info("hub listening", "addr", cfg.Listen, "database", cfg.RedactedDatabaseURL(), "plugins", len(host.Plugins()), "version", version)

	select {
	case err := <-errc:
		return fmt.Errorf("HUB_LISTEN %s: %w", cfg.Listen, err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := api.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Error("shutdown", "error", err)
	}
	stopInbox()
	<-inboxDone
	if err := jc.Stop(sctx); err != nil {
		log.Error("stopping job workers", "error", err)
	}
	return nil
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
