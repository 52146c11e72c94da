// Package app assembles a running hub from its configuration: store,
// credential sealing, plugins, durable jobs, the webhook inbox and the API.
package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/apilimit"
	"github.com/aurora-hub/aurora-hub/hub/config"
	"github.com/aurora-hub/aurora-hub/hub/connections"
	"github.com/aurora-hub/aurora-hub/hub/gcpolicy"
	"github.com/aurora-hub/aurora-hub/hub/httpapi"
	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/live"
	"github.com/aurora-hub/aurora-hub/hub/metrics"
	"github.com/aurora-hub/aurora-hub/hub/oauth"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/pluginhost"
	"github.com/aurora-hub/aurora-hub/hub/queues"
	"github.com/aurora-hub/aurora-hub/hub/rca"
	"github.com/aurora-hub/aurora-hub/hub/rekey"
	"github.com/aurora-hub/aurora-hub/hub/retention"
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
	// Metrics is the hub's Prometheus registry and instruments.
	Metrics *metrics.Metrics
	// Queues reads the queues and retries dead letters (operators' routes).
	Queues *queues.Service
	// metricsSrv serves HUB_METRICS_LISTEN.
	metricsSrv *http.Server

	stopInbox context.CancelFunc
	stopLive  context.CancelFunc
	inboxDone chan struct{}
	// stopApply ends pipeline.ApplyOnCommit (PostgreSQL), after the inbox.
	stopApply context.CancelFunc
	applyDone chan struct{}

	// replicas heartbeats this process on PostgreSQL (nil on SQLite).
	replicas     *jobs.Replicas
	stopReplicas context.CancelFunc
	replicasDone chan struct{}
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

	a.Store, err = store.Open(ctx, store.Options{
		Driver: cfg.Driver, SQLitePath: cfg.SQLitePath, URL: cfg.DatabaseURL, Logger: log.Named("store"),
		WALLimit: cfg.Ops.SQLiteWALLimit, Exclusive: true,
	})
	if err != nil {
		return a, fmt.Errorf("HUB_DATABASE_URL (%s): %w", cfg.RedactedDatabaseURL(), err)
	}
	if err := a.Store.Migrate(ctx); err != nil {
		return a, err
	}
	// Metrics: one registry, handed to the parts that count.
	a.Metrics = metrics.New(metrics.Options{Logger: log.Named("metrics"), SQLiteWAL: walFile(cfg)})
	a.Store.Bun().AddQueryHook(a.Metrics.QueryHook())
	a.Metrics.RegisterDB(a.Store.Bun().DB)
	if err := jobs.Migrate(ctx, a.Store, log.Named("jobs")); err != nil {
		return a, err
	}
	sealer, err := a.sealer()
	if err != nil {
		return a, err
	}
	a.surveyKeys(ctx, sealer)

	popts, err := pluginhost.OptionsFromEnv(cfg.Env)
	if err != nil {
		return a, err
	}
	popts.Dir, popts.Logger, popts.Env = cfg.PluginDir, log.Named("plugins"), cfg.Env
	popts.Metrics = a.Metrics
	a.Plugins = pluginhost.New(popts)
	a.Metrics.ObservePlugins(a.Plugins.MetricsSource)
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

	a.Live = live.New(a.Store, a.Store.Driver == "postgres", log.Named("live"))
	var liveCtx context.Context
	liveCtx, a.stopLive = context.WithCancel(context.Background())
	go func() {
		if err := a.Live.Listen(liveCtx, cfg.DatabaseURL); err != nil {
			log.Error("live events listener stopped", "error", err)
		}
	}()

	deps := pipeline.Deps{
		Store: a.Store, Plugins: a.Plugins, Connections: a.Connections, Live: a.Live,
		Config: cfg.Pipeline, Logger: log.Named("pipeline"), Metrics: a.Metrics,
	}
	// Enrichment's API calls are paced per connection: in memory on SQLite
	// (one hub), in a table every replica shares on PostgreSQL.
	if a.Store.Driver == "postgres" {
		deps.Limiter = apilimit.NewShared(a.Store.Bun(), cfg.Pipeline.EnrichRateLimit, cfg.Pipeline.EnrichRateBurst)
	} else {
		deps.Limiter = apilimit.NewMemory(cfg.Pipeline.EnrichRateLimit, cfg.Pipeline.EnrichRateBurst)
	}
	wakeups := pipeline.NewWakeups(a.Store.Driver)
	workers := river.NewWorkers()
	pipeline.AddWorkers(workers, deps, pipeline.WorkerOptions{
		Wakeups: wakeups, Analyzer: analyzer(cfg.Pipeline), RunFor: min(time.Second, cfg.JobRescueAfter/4),
	})
	replicaID := newReplicaID()
	// Retention runs as a River periodic job: River's leader inserts it, so
	// replicas on one PostgreSQL prune once, and a run cut short by a
	// restart is taken up again like any job.
	river.AddWorker(workers, &retention.Worker{Store: a.Store, Logger: log.Named("retention"),
		Options: retention.Options{WebhookRetention: cfg.WebhookRetention}})
	periodic := []*river.PeriodicJob{retention.PeriodicJob()}
	if a.Store.Driver == "postgres" {
		// Applies what a replica committed and did not apply (ApplyOnCommit).
		periodic = append(periodic, pipeline.SweepJob())
	}
	a.Jobs, err = jobs.New(a.Store, jobs.Options{Workers: workers, Logger: log.Named("jobs"), RescueAfter: cfg.JobRescueAfter, ID: replicaID,
		PeriodicJobs: periodic})
	if err != nil {
		return a, err
	}
	if err := a.resumeJobs(ctx, replicaID); err != nil {
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
	a.Queues = queues.New(a.Store, a.Jobs, queues.Options{
		Metrics: a.Metrics, RescueAfter: cfg.JobRescueAfter, ReplicaTimeout: cfg.Ops.ReplicaTimeout,
		Kinds: []string{pipeline.ApplyEventsArgs{}.Kind(), pipeline.ProcessIncidentArgs{}.Kind(), pipeline.ProcessIncidentsArgs{}.Kind(), pipeline.RCAArgs{}.Kind(), retention.Args{}.Kind()},
	})
	a.Metrics.ObserveQueues(a.Queues.Stats)
	if a.Store.Driver == "postgres" {
		// The inbox's commits wake this applier instead of enqueuing jobs.
		var applyCtx context.Context
		applyCtx, a.stopApply = context.WithCancel(context.Background())
		a.applyDone = make(chan struct{})
		go func() { pipeline.ApplyOnCommit(applyCtx, deps, wakeups, a.Jobs); close(a.applyDone) }()
	}
	inbox := webhooks.NewInbox(a.Store, a.Jobs, wakeups, log.Named("inbox"))
	var inboxCtx context.Context
	inboxCtx, a.stopInbox = context.WithCancel(context.Background())
	a.inboxDone = make(chan struct{})
	go func() { inbox.Run(inboxCtx); close(a.inboxDone) }()
	go gcpolicy.Run(inboxCtx, wakeups.Saturated)

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
		Health:  a.healthChecker(replicaID),
		Metrics: a.Metrics, Queues: a.Queues,
	})
	return a, nil
}

// walFile is the SQLite write-ahead log's path ("" on PostgreSQL).
func walFile(cfg *config.Config) string {
	if cfg.Driver != "sqlite" {
		return ""
	}
	return cfg.SQLitePath + "-wal"
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
	s, err := secrets.New(key, a.Config.PreviousEncryptionKeys...)
	if err != nil {
		return nil, fmt.Errorf("HUB_ENCRYPTION_KEY: %w", err)
	}
	return s, nil
}

// Sealer builds the credential sealer from cfg as the hub does
// (aurora-hub rotate-key uses it too).
func Sealer(cfg *config.Config, log hclog.Logger) (*secrets.Sealer, error) {
	return (&App{Config: cfg, Log: log}).sealer()
}

// surveyKeys logs which keys seal the stored secrets: how many still need
// re-sealing after a rotation, and, as an error, how many name a key that
// is not configured (those cannot be opened).
func (a *App) surveyKeys(ctx context.Context, s *secrets.Sealer) {
	cur, prev := s.KeyIDs()
	counts, err := rekey.Survey(ctx, a.Store, s)
	if err != nil {
		a.Log.Warn("cannot survey the stored secrets' keys", "error", err)
		return
	}
	var stale, unknown int
	for _, c := range counts {
		stale += c.Stale - c.Unknown
		unknown += c.Unknown
	}
	a.Log.Info("encryption keys", "current", cur, "previous", prev, "stale_secrets", stale)
	if stale > 0 {
		a.Log.Info("stored secrets sealed with a previous key or format are re-sealed as they are read; `aurora-hub rotate-key` does all at once", "count", stale)
	}
	if unknown > 0 {
		a.Log.Error("stored secrets sealed with a key that is neither HUB_ENCRYPTION_KEY nor in HUB_ENCRYPTION_PREVIOUS_KEYS cannot be opened: configure that key", "count", unknown)
	}
}

// Serve listens on the configured address until ctx ends or listening fails.
func (a *App) Serve(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() {
		if err := a.API.Listen(a.Config.Listen); err != nil {
			errc <- fmt.Errorf("HUB_LISTEN %s: %w", a.Config.Listen, err)
		}
	}()
	if addr := a.Config.MetricsListen; addr != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", a.Metrics.Handler())
		if a.Config.Pprof {
			mux.HandleFunc("/debug/pprof/", pprof.Index) // and the named profiles: heap, goroutine, allocs...
			mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		}
		a.metricsSrv = &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := a.metricsSrv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("HUB_METRICS_LISTEN %s: %w", addr, err)
			}
		}()
		a.Log.Info("metrics listening", "addr", addr, "pprof", a.Config.Pprof)
	}
	a.Log.Info("hub listening", "addr", a.Config.Listen, "database", a.Config.RedactedDatabaseURL(), "plugins", len(a.Plugins.Plugins()))
	select {
	case err := <-errc:
		return err
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
	if a.metricsSrv != nil {
		a.metricsSrv.Close() //nolint:errcheck // scrapes need no draining
	}
	if a.stopInbox != nil {
		a.stopInbox()
		<-a.inboxDone
	}
	if a.stopApply != nil {
		// What it has not applied, the next hub to start (or, on
		// PostgreSQL, another replica's sweep) applies.
		a.stopApply()
		<-a.applyDone
	}
	if a.Jobs != nil {
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := a.Jobs.Stop(stopCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			a.Log.Error("stopping job workers", "error", err)
		}
	}
	if a.replicas != nil {
		a.stopReplicas()
		<-a.replicasDone
		leaveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if err := a.replicas.Leave(leaveCtx); err != nil {
			a.Log.Warn("could not mark this replica gone; its unfinished jobs move after HUB_REPLICA_TIMEOUT", "error", err)
		}
		cancel()
	}
	if a.Plugins != nil {
		a.Plugins.Close()
	}
	if a.Store != nil {
		a.Store.Close()
	}
}
