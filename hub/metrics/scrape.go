package metrics

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
)

// QueueStats are the queues as the database holds them at one moment.
type QueueStats struct {
	// InboxPending events are recorded and not applied yet (dead letters
	// excluded); InboxOldestAge is the age of the oldest of them.
	InboxPending   int64
	InboxOldestAge time.Duration
	// InboxDeadLetters failed to apply too often and wait for an operator.
	InboxDeadLetters int64
	// Jobs are River's jobs by kind and state (completed and cancelled
	// ones left out).
	Jobs []JobGroup
}

// JobGroup is how many jobs of a kind are in a state, and how long the
// oldest has been there (see docs/operations.md for what "there" means per
// state).
type JobGroup struct {
	Kind, State string
	Count       int64
	OldestAge   time.Duration
}

// PluginStatus is one plugin as the plugin host sees it.
type PluginStatus struct {
	Name, State string
	// Restarts since the binary was (re)loaded.
	Restarts int
}

// QueueSource reads the queues; it is called at most once per ScrapeCache.
type QueueSource func(ctx context.Context) (*QueueStats, error)

// PluginSource lists the plugins; states are every state a plugin can be
// in (each plugin gets a 0 or 1 series for each).
type PluginSource func() (plugins []PluginStatus, states []string)

// ObserveQueues sets where the queue gauges come from.
func (m *Metrics) ObserveQueues(src QueueSource) {
	if m == nil {
		return
	}
	m.scrape.mu.Lock()
	m.scrape.queues = src
	m.scrape.mu.Unlock()
}

// ObservePlugins sets where the plugin gauges come from.
func (m *Metrics) ObservePlugins(src PluginSource) {
	if m == nil {
		return
	}
	m.scrape.mu.Lock()
	m.scrape.plugins = src
	m.scrape.mu.Unlock()
}

var (
	descInboxPending = prometheus.NewDesc(Namespace+"_inbox_pending_events",
		"Webhook events recorded and not applied yet (dead letters excluded).", nil, nil)
	descInboxOldest = prometheus.NewDesc(Namespace+"_inbox_oldest_pending_age_seconds",
		"Age of the oldest pending webhook event (0 when none): how far applying lags behind.", nil, nil)
	descInboxDead = prometheus.NewDesc(Namespace+"_inbox_dead_letters",
		"Webhook events that failed to apply too often and wait for an operator's retry.", nil, nil)
	descJobs = prometheus.NewDesc(Namespace+"_jobs",
		"River jobs by kind and state (available, scheduled, pending, retryable, running, discarded).", []string{"kind", "state"}, nil)
	descJobsOldest = prometheus.NewDesc(Namespace+"_jobs_oldest_age_seconds",
		"Age of the oldest River job of a kind in a state: available since due, running since its attempt began, retryable since its last attempt, discarded since discarded, others since created.", []string{"kind", "state"}, nil)
	descWAL = prometheus.NewDesc(Namespace+"_sqlite_wal_bytes",
		"Size of the SQLite write-ahead log file.", nil, nil)
	descPluginState = prometheus.NewDesc(Namespace+"_plugin_state",
		"1 for the state each plugin is in, 0 for the others.", []string{"plugin", "state"}, nil)
	descPluginRestarts = prometheus.NewDesc(Namespace+"_plugin_restarts_total",
		"Restarts of a plugin since its binary was (re)loaded.", []string{"plugin"}, nil)
	descScrapeErrors = prometheus.NewDesc(Namespace+"_metrics_queue_query_errors_total",
		"Scrapes whose queue query failed (the queue gauges were left out).", nil, nil)
)

// scrapeCollector computes the gauges that need a query or a file when
// Prometheus scrapes, reusing the last answer for a short while so frequent
// or concurrent scrapes cost one query.
type scrapeCollector struct {
	wal string
	ttl time.Duration
	log hclog.Logger

	mu        sync.Mutex
	queues    QueueSource
	plugins   PluginSource
	last      *QueueStats
	lastAt    time.Time
	lastErr   error
	errsTotal float64
}

func newScrapeCollector(o Options, log hclog.Logger) *scrapeCollector {
	return &scrapeCollector{wal: o.SQLiteWAL, ttl: o.ScrapeCache, log: log}
}

func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInboxPending, descInboxOldest, descInboxDead, descJobs, descJobsOldest, descWAL, descPluginState, descPluginRestarts, descScrapeErrors} {
		ch <- d
	}
}

func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if c.queues != nil {
		if time.Since(c.lastAt) >= c.ttl {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			c.last, c.lastErr = c.queues(ctx)
			cancel()
			c.lastAt = time.Now()
			if c.lastErr != nil {
				c.errsTotal++
				c.log.Warn("reading queue depths for metrics", "error", c.lastErr)
			}
		}
		ch <- prometheus.MustNewConstMetric(descScrapeErrors, prometheus.CounterValue, c.errsTotal)
		if s := c.last; c.lastErr == nil && s != nil {
			gauge(descInboxPending, float64(s.InboxPending))
			gauge(descInboxOldest, s.InboxOldestAge.Seconds())
			gauge(descInboxDead, float64(s.InboxDeadLetters))
			for _, j := range s.Jobs {
				gauge(descJobs, float64(j.Count), j.Kind, j.State)
				gauge(descJobsOldest, j.OldestAge.Seconds(), j.Kind, j.State)
			}
		}
	}
	if c.wal != "" {
		// A missing file is an empty log (SQLite removes it at a clean close).
		var size int64
		fi, err := os.Stat(c.wal)
		switch {
		case err == nil:
			size = fi.Size()
		case !errors.Is(err, fs.ErrNotExist):
			c.log.Warn("reading the SQLite write-ahead log's size", "error", err)
		}
		gauge(descWAL, float64(size))
	}
	if c.plugins != nil {
		plugins, states := c.plugins()
		for _, p := range plugins {
			for _, s := range states {
				v := 0.0
				if s == p.State {
					v = 1
				}
				gauge(descPluginState, v, p.Name, s)
			}
			ch <- prometheus.MustNewConstMetric(descPluginRestarts, prometheus.CounterValue, float64(p.Restarts), p.Name)
		}
	}
}
