// Package app assembles a running hub from its configuration: store,
// credential sealing, plugins, durable jobs, the webhook inbox and the API.
package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/config"
	"github.com/aurora-hub/aurora-hub/hub/connections"
	"github.com/aurora-hub/aurora-hub/hub/httpapi"
	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/live"
	"github.com/aurora-hub/aurora-hub/hub/oauth"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/pluginhost"
	"github.com/aurora-hub/aurora-hub/hub/rca"
	"github.com/aurora-hub/aurora-hub/hub/secrets"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/webhooks"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/hashicorp/go-hclog"
	"github.com/riverqueue/river"
)

// Options adjust how the hub is assembled.
type Options struct {
	Logger hclog.Logger
	// LocalProviders are served in-process instead of from plugin binaries
	// (benchmarks compare them with the gRPC path).
	LocalProviders []sdk.Provider
	// SkipPluginDir starts no plugin binaries.
	SkipPluginDir bool
}

// App is a running hub.
type App struct {
	Config      *config.Config
	Log         hclog.Logger
	Store       *store.Store
	Plugins     *pluginhost.Host
	Jobs        *jobs.Client
	Connections *connections.Service
	Webhooks    *webhooks.Service
	Live        *live.Broker
	API         *httpapi.Server

	stopInbox context.CancelFunc
	stopLive  context.CancelFunc
	inboxDone chan struct{}
}

// New opens and migrates the database, starts the plugins and the job
// workers, and builds the API. Close releases everything, also on error.
func New(ctx context.Context, cfg *config.Config, o Options) (a *App, err error) {
	log := o.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	a = &App{Config: cfg, Log: log}
	defer func() {
		if err != nil {
			a.Close(context.Background())
			a = nil
		}
	}()

	a.Store, err = store.Open(ctx, store.Options{Driver: cfg.Driver, SQLitePath: cfg.SQLitePath, URL: cfg.DatabaseURL, Logger: log.Named("store")})
	if err != nil {
		return a, fmt.Errorf("HUB_DATABASE_URL (%s): %w", cfg.RedactedDatabaseURL(), err)
	}
	if err := a.Store.Migrate(ctx); err != nil {
		return a, err
	}
	if err := jobs.Migrate(ctx, a.Store, log.Named("jobs")); err != nil {
		return a, err
	}
	sealer, err := a.sealer()
	if err != nil {
		return a, err
	}

	popts, err := pluginhost.OptionsFromEnv(cfg.Env)
	if err != nil {
		return a, err
	}
	popts.Dir, popts.Logger, popts.Env = cfg.PluginDir, log.Named("plugins"), cfg.Env
	a.Plugins = pluginhost.New(popts)
	if !o.SkipPluginDir {
		if err := a.Plugins.Start(ctx); err != nil {
			return a, fmt.Errorf("HUB_PLUGIN_DIR: %w", err)
		}
	}
	for _, p := range o.LocalProviders {
		a.Plugins.AddLocal(p)
	}

	a.Connections = &connections.Service{Store: a.Store, Sealer: sealer, Logger: log.Named("connections"), RefreshMargin: cfg.OAuthRefreshMargin}
	oauthSvc := oauth.New(oauth.Options{
		Config: cfg, Store: a.Store, Sealer: sealer, Connections: a.Connections,
		Providers: oauth.HostProviders{Host: a.Plugins}, Logger: log.Named("oauth"),
	})
	a.Connections.OAuth = oauthSvc

	a.Live = live.New(a.Store.DB, a.Store.Driver == "postgres", log.Named("live"))
	var liveCtx context.Context
	liveCtx, a.stopLive = context.WithCancel(context.Background())
	go func() {
		if err := a.Live.Listen(liveCtx, cfg.DatabaseURL); err != nil {
			log.Error("live events listener stopped", "error", err)
		}
	}()

	deps := pipeline.Deps{
		Store: a.Store, Plugins: a.Plugins, Connections: a.Connections, Live: a.Live,
		Config: cfg.Pipeline, Logger: log.Named("pipeline"),
	}
	wakeups := pipeline.NewWakeups(a.Store.Driver)
	workers := river.NewWorkers()
	river.AddWorker(workers, &pipeline.ApplyEventsWorker{Deps: deps, Wakeups: wakeups})
	river.AddWorker(workers, &pipeline.ProcessIncidentWorker{Deps: deps})
	river.AddWorker(workers, &pipeline.RCAWorker{Deps: deps, Analyzer: analyzer(cfg.Pipeline)})
	a.Jobs, err = jobs.New(a.Store, jobs.Options{Workers: workers, Logger: log.Named("jobs"), RescueAfter: cfg.JobRescueAfter})
	if err != nil {
		return a, err
	}
	// Jobs and the inbox outlive ctx: Close stops them after the API has
	// drained, so every accepted webhook is committed first.
	if err := a.Jobs.Start(context.WithoutCancel(ctx)); err != nil {
		return a, fmt.Errorf("starting job workers: %w", err)
	}
	// One apply job at start picks up anything recorded but not applied
	// before the last stop.
	if _, err := a.Jobs.Insert(ctx, pipeline.ApplyEventsArgs{}, nil); err != nil {
		return a, fmt.Errorf("enqueuing the start-up apply job: %w", err)
	}
	inbox := webhooks.NewInbox(a.Store, a.Jobs, wakeups, log.Named("inbox"))
	var inboxCtx context.Context
	inboxCtx, a.stopInbox = context.WithCancel(context.Background())
	a.inboxDone = make(chan struct{})
	go func() { inbox.Run(inboxCtx); close(a.inboxDone) }()

	names := []string{}
	for _, p := range a.Plugins.Plugins() {
		names = append(names, p.Name)
		if cfg.Env[webhooks.AllowUnsignedEnv(p.Name)] == "true" {
			log.Warn("webhooks without a signing secret are accepted unverified", "provider", p.Name)
		}
	}
	oauthSvc.Check(names)
	a.Webhooks = webhooks.New(a.Store, sealer, inbox, log.Named("webhooks"), webhooks.Options{Env: cfg.Env, RejectLogInterval: cfg.WebhookRejectLogInterval})
	a.API = httpapi.New(httpapi.Deps{
		Config: cfg, Logger: log.Named("http"), Store: a.Store, Plugins: a.Plugins,
		Connections: a.Connections, Webhooks: a.Webhooks, OAuth: oauthSvc, Live: a.Live, Jobs: a.Jobs,
	})
	return a, nil
}

// analyzer builds the configured root-cause analyzer; the LLM one falls
// back to the builtin one on timeouts and bad answers.
func analyzer(p config.Pipeline) rca.Analyzer {
	builtin := rca.NewBuiltin()
	if p.Analyzer != "llm" {
		return builtin
	}
	return rca.NewLLM(rca.LLMConfig{BaseURL: p.LLMBaseURL, Model: p.LLMModel, APIKey: p.LLMAPIKey, Timeout: p.LLMTimeout}, builtin)
}

func (a *App) sealer() (*secrets.Sealer, error) {
	key := a.Config.EncryptionKey
	if key == nil {
		var created bool
		var err error
		key, created, err = secrets.LoadOrCreateKey(a.Config.DataDir)
		if err != nil {
			return nil, fmt.Errorf("HUB_ENCRYPTION_KEY unset and no usable key in %s: %w", a.Config.DataDir, err)
		}
		a.Log.Warn("HUB_ENCRYPTION_KEY is not set: using a key file in the data directory (development only)", "dir", a.Config.DataDir, "created", created)
	}
	s, err := secrets.New(key)
	if err != nil {
		return nil, fmt.Errorf("HUB_ENCRYPTION_KEY: %w", err)
	}
	return s, nil
}

// Serve listens on the configured address until ctx ends or listening fails.
func (a *App) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- a.API.Listen(a.Config.Listen) }()
	a.Log.Info("hub listening", "addr", a.Config.Listen, "database", a.Config.RedactedDatabaseURL(), "plugins", len(a.Plugins.Plugins()))
	select {
	case err := <-errc:
		return fmt.Errorf("HUB_LISTEN %s: %w", a.Config.Listen, err)
	case <-ctx.Done():
		return nil
	}
}

// Close drains the API, then stops the inbox, the job workers, the plugins
// and the database, in that order.
func (a *App) Close(ctx context.Context) {
	if a.Live != nil {
		a.Live.Close() // ends event streams, so the API can drain
		a.stopLive()
	}
	if a.API != nil {
		if err := a.API.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			a.Log.Error("shutting down the API", "error", err)
		}
	}
	if a.stopInbox != nil {
		a.stopInbox()
		<-a.inboxDone
	}
	if a.Jobs != nil {
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := a.Jobs.Stop(stopCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			a.Log.Error("stopping job workers", "error", err)
		}
	}
	if a.Plugins != nil {
		a.Plugins.Close()
	}
	if a.Store != nil {
		a.Store.Close()
	}
}
