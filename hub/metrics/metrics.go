// Package metrics is the hub's Prometheus instrumentation: one registry
// (with the Go and process collectors), the counters and histograms the
// hub's parts update, and gauges computed at scrape time.
//
// Every method is safe on a nil *Metrics (it does nothing), so packages and
// tests that are given no metrics need no special case.
package metrics

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric of the hub.
const Namespace = "aurora"

// Outcome is what became of one webhook delivery.
type Outcome int

// Webhook delivery outcomes (the outcome label).
const (
	// OutcomeAccepted: recorded (202), at least one new event.
	OutcomeAccepted Outcome = iota
	// OutcomeAcceptedUnverified: recorded without a signature
	// (<PROVIDER>_WEBHOOK_ALLOW_UNSIGNED=true).
	OutcomeAcceptedUnverified
	// OutcomeDuplicate: a redelivery; 202, nothing new stored.
	OutcomeDuplicate
	// OutcomeUnauthorized: missing or wrong signature, or no secret (401).
	OutcomeUnauthorized
	// OutcomeInvalid: malformed body or unsupported webhook version (400).
	OutcomeInvalid
	// OutcomeNotConnected: no connection for the user in the URL (404).
	OutcomeNotConnected
	// OutcomeTooLarge: body above the limit (413).
	OutcomeTooLarge
	// OutcomeUnavailable: the plugin is restarting or timed out (503).
	OutcomeUnavailable
	// OutcomeError: anything else, e.g. the database failed (500).
	OutcomeError
	numOutcomes
)

var outcomeNames = [numOutcomes]string{
	"accepted", "accepted_unverified", "duplicate", "unauthorized", "invalid",
	"not_connected", "too_large", "unavailable", "error",
}

func (o Outcome) String() string { return outcomeNames[o] }

// Options configure the metrics.
type Options struct {
	Logger hclog.Logger
	// SQLiteWAL is the SQLite write-ahead log file whose size is reported
	// (empty on PostgreSQL).
	SQLiteWAL string
	// ScrapeCache is how long gauges that need a query are reused between
	// scrapes (default 5s).
	ScrapeCache time.Duration
}

// Metrics holds the hub's registry and instruments.
type Metrics struct {
	reg *prometheus.Registry
	log hclog.Logger

	deliveries     *prometheus.CounterVec
	verifyFailures *prometheus.CounterVec
	ingest         *prometheus.HistogramVec

	eventsApplied      prometheus.Counter
	eventFailures      prometheus.Counter
	eventsDeadLettered prometheus.Counter
	eventLag           prometheus.Histogram

	incidentsOpened     *prometheus.CounterVec
	incidentsCorrelated *prometheus.CounterVec
	incidentsResolved   *prometheus.CounterVec

	enrichCalls    *prometheus.CounterVec
	enrichDuration *prometheus.HistogramVec
	enrichWait     *prometheus.CounterVec

	rcaDuration *prometheus.HistogramVec

	pluginCalls *prometheus.HistogramVec

	dbErrors *prometheus.CounterVec

	deadLettersRetried *prometheus.CounterVec

	mu       sync.RWMutex
	webhooks map[string]*WebhookSeries
	calls    map[callKey]*callSeries

	scrape *scrapeCollector
}

type callKey struct{ plugin, call string }

// New returns the hub's metrics on a registry of their own.
func New(o Options) *Metrics {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.ScrapeCache <= 0 {
		o.ScrapeCache = 5 * time.Second
	}
	m := &Metrics{reg: prometheus.NewRegistry(), log: o.Logger, webhooks: map[string]*WebhookSeries{}, calls: map[callKey]*callSeries{}}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Latency buckets from 1 ms to 10 s: webhooks answer in milliseconds;
	// plugin calls and enrichment take up to their deadlines.
	fast := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	slow := []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "webhook", Name: "deliveries_total",
		Help: "Webhook deliveries received, by provider and outcome."}, []string{"provider", "outcome"})
	m.verifyFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "webhook", Name: "verification_failures_total",
		Help: "Webhook deliveries rejected because their signature or credentials did not verify."}, []string{"provider"})
	m.ingest = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "webhook", Name: "ingest_duration_seconds",
		Help: "Time from receiving a webhook to answering 202, its events durably recorded (verification, parsing and the inbox commit).", Buckets: fast}, []string{"provider"})
	f(m.deliveries)
	f(m.verifyFailures)
	f(m.ingest)

	m.eventsApplied = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "pipeline", Name: "events_applied_total",
		Help: "Inbox events applied to incidents."})
	m.eventFailures = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "pipeline", Name: "event_failures_total",
		Help: "Failed attempts to apply an inbox event (each is retried until it becomes a dead letter)."})
	m.eventsDeadLettered = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "pipeline", Name: "events_dead_lettered_total",
		Help: "Inbox events left as dead letters after their last failed attempt."})
	m.eventLag = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "pipeline", Name: "event_lag_seconds",
		Help: "Time from an event's receipt to its application to an incident.", Buckets: slow})
	f(m.eventsApplied)
	f(m.eventFailures)
	f(m.eventsDeadLettered)
	f(m.eventLag)

	m.incidentsOpened = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "incidents", Name: "opened_total",
		Help: "Incidents that got their first state."}, []string{"provider"})
	m.incidentsCorrelated = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "incidents", Name: "correlated_total",
		Help: "New incidents attached to an open incident by correlation."}, []string{"provider"})
	m.incidentsResolved = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "incidents", Name: "resolved_total",
		Help: "Incidents that became resolved."}, []string{"provider"})
	f(m.incidentsOpened)
	f(m.incidentsCorrelated)
	f(m.incidentsResolved)

	m.enrichCalls = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "enrichment", Name: "calls_total",
		Help: "Enrichment attempts by provider and status (complete, partial, unsupported, rate_limited, unavailable, failed)."}, []string{"provider", "status"})
	m.enrichDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "enrichment", Name: "duration_seconds",
		Help: "Duration of enrichment calls to the provider's plugin.", Buckets: slow}, []string{"provider"})
	m.enrichWait = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "enrichment", Name: "rate_limit_wait_seconds_total",
		Help: "Time enrichment jobs were postponed because the provider rate-limited them (as the provider asked)."}, []string{"provider"})
	f(m.enrichCalls)
	f(m.enrichDuration)
	f(m.enrichWait)

	m.rcaDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "rca", Name: "duration_seconds",
		Help: "Root-cause analyses by analyzer and outcome (complete, fallback: the LLM analyzer fell back to builtin, error).", Buckets: slow}, []string{"analyzer", "outcome"})
	f(m.rcaDuration)

	m.pluginCalls = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "plugin", Name: "call_duration_seconds",
		Help: "Calls from the hub to plugins, by plugin, call and result (ok, error, timeout, unavailable).", Buckets: fast}, []string{"plugin", "call", "result"})
	f(m.pluginCalls)

	m.dbErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "database", Name: "errors_total",
		Help: "Failed statements of the hub's own queries (not River's), by operation."}, []string{"operation"})
	f(m.dbErrors)
	for _, op := range []string{"select", "insert", "update", "delete", "begin", "commit", "rollback", "other"} {
		m.dbErrors.WithLabelValues(op) // every operation has a series from the start
	}

	m.deadLettersRetried = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "pipeline", Name: "dead_letters_retried_total",
		Help: "Dead letters an operator retried, by type (event, job)."}, []string{"type"})
	f(m.deadLettersRetried)
	m.deadLettersRetried.WithLabelValues("event")
	m.deadLettersRetried.WithLabelValues("job")

	m.scrape = newScrapeCollector(o, m.log)
	f(m.scrape)
	return m
}

// Registry is the registry /metrics serves.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format. A
// failing scrape-time query leaves its series out and logs; the rest is
// served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, ErrorLog: errorLog{m.log}})
}

type errorLog struct{ log hclog.Logger }

func (e errorLog) Println(v ...any) { e.log.Warn("serving metrics", "error", v) }

// RegisterDB adds the connection pool's statistics (go_sql_*, db_name="hub").
func (m *Metrics) RegisterDB(db *sql.DB) {
	if m == nil {
		return
	}
	m.reg.MustRegister(collectors.NewDBStatsCollector(db, "hub"))
}

// WebhookSeries are one provider's webhook instruments, resolved once so a
// delivery costs no label lookup.
type WebhookSeries struct {
	outcomes [numOutcomes]prometheus.Counter
	verify   prometheus.Counter
	ingest   prometheus.Observer
}

// Webhook returns provider's webhook instruments (nil on nil Metrics).
func (m *Metrics) Webhook(provider string) *WebhookSeries {
	if m == nil {
		return nil
	}
	m.mu.RLock()
	w := m.webhooks[provider]
	m.mu.RUnlock()
	if w != nil {
		return w
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if w = m.webhooks[provider]; w != nil {
		return w
	}
	w = &WebhookSeries{verify: m.verifyFailures.WithLabelValues(provider), ingest: m.ingest.WithLabelValues(provider)}
	for o := range numOutcomes {
		w.outcomes[o] = m.deliveries.WithLabelValues(provider, o.String())
	}
	m.webhooks[provider] = w
	return w
}

// Delivered counts a delivery; the ingest latency is observed for the
// deliveries that were recorded (202).
func (w *WebhookSeries) Delivered(o Outcome, elapsed time.Duration) {
	if w == nil {
		return
	}
	w.outcomes[o].Inc()
	switch o {
	case OutcomeAccepted, OutcomeAcceptedUnverified, OutcomeDuplicate:
		w.ingest.Observe(elapsed.Seconds())
	case OutcomeUnauthorized:
		w.verify.Inc()
	}
}

// EventsApplied counts events applied, each received at one of received.
func (m *Metrics) EventsApplied(now time.Time, received []time.Time) {
	if m == nil {
		return
	}
	m.eventsApplied.Add(float64(len(received)))
	for _, r := range received {
		m.eventLag.Observe(max(now.Sub(r), 0).Seconds())
	}
}

// EventFailed counts a failed attempt to apply an event; dead is true when
// it was the last one.
func (m *Metrics) EventFailed(dead bool) {
	if m == nil {
		return
	}
	m.eventFailures.Inc()
	if dead {
		m.eventsDeadLettered.Inc()
	}
}

// IncidentsOpened counts n incidents of provider that got their first state.
func (m *Metrics) IncidentsOpened(provider string, n int) {
	if m == nil || n == 0 {
		return
	}
	m.incidentsOpened.WithLabelValues(provider).Add(float64(n))
}

// IncidentsResolved counts n incidents of provider that became resolved.
func (m *Metrics) IncidentsResolved(provider string, n int) {
	if m == nil || n == 0 {
		return
	}
	m.incidentsResolved.WithLabelValues(provider).Add(float64(n))
}

// IncidentCorrelated counts an incident of provider attached to another.
func (m *Metrics) IncidentCorrelated(provider string) {
	if m == nil {
		return
	}
	m.incidentsCorrelated.WithLabelValues(provider).Inc()
}

// Enrichment statuses (the status label).
const (
	EnrichComplete    = "complete"
	EnrichPartial     = "partial"
	EnrichUnsupported = "unsupported"
	EnrichRateLimited = "rate_limited"
	EnrichUnavailable = "unavailable"
	EnrichFailed      = "failed"
)

// Enriched records one enrichment attempt; wait is how long the job was
// postponed for a rate limit (0 otherwise).
func (m *Metrics) Enriched(provider, status string, took, wait time.Duration) {
	if m == nil {
		return
	}
	m.enrichCalls.WithLabelValues(provider, status).Inc()
	if status != EnrichUnsupported {
		m.enrichDuration.WithLabelValues(provider).Observe(took.Seconds())
	}
	if wait > 0 {
		m.enrichWait.WithLabelValues(provider).Add(wait.Seconds())
	}
}

// RCA outcomes (the outcome label).
const (
	RCAComplete = "complete"
	RCAFallback = "fallback"
	RCAError    = "error"
)

// Analysed records one root-cause analysis.
func (m *Metrics) Analysed(analyzer, outcome string, took time.Duration) {
	if m == nil {
		return
	}
	m.rcaDuration.WithLabelValues(analyzer, outcome).Observe(took.Seconds())
}

// Plugin call results (the result label).
const (
	CallOK          = "ok"
	CallError       = "error"
	CallTimeout     = "timeout"
	CallUnavailable = "unavailable"
)

type callSeries struct{ results [4]prometheus.Observer }

// PluginCall records one call to a plugin; result is one of the Call*
// constants. It allocates nothing once the plugin and call have been seen.
func (m *Metrics) PluginCall(plugin, call, result string, took time.Duration) {
	if m == nil {
		return
	}
	k := callKey{plugin, call}
	m.mu.RLock()
	s := m.calls[k]
	m.mu.RUnlock()
	if s == nil {
		m.mu.Lock()
		if s = m.calls[k]; s == nil {
			s = &callSeries{}
			for i, r := range []string{CallOK, CallError, CallTimeout, CallUnavailable} {
				s.results[i] = m.pluginCalls.WithLabelValues(plugin, call, r)
			}
			m.calls[k] = s
		}
		m.mu.Unlock()
	}
	i := 1
	switch result {
	case CallOK:
		i = 0
	case CallTimeout:
		i = 2
	case CallUnavailable:
		i = 3
	}
	s.results[i].Observe(took.Seconds())
}

// DatabaseError counts a failed statement of operation (select, insert,
// update, delete, other). Missing rows and cancelled requests are not errors.
func (m *Metrics) DatabaseError(operation string, err error) {
	if m == nil || err == nil || errors.Is(err, sql.ErrNoRows) || errors.Is(err, context.Canceled) {
		return
	}
	m.dbErrors.WithLabelValues(operation).Inc()
}

// DeadLettersRetried counts n dead letters of typ ("event" or "job") an
// operator retried.
func (m *Metrics) DeadLettersRetried(typ string, n int) {
	if m == nil || n == 0 {
		return
	}
	m.deadLettersRetried.WithLabelValues(typ).Add(float64(n))
}
