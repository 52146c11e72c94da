package metrics_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/metrics"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// scrape returns the exposition text of m's registry.
func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape = %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func TestWebhookOutcomes(t *testing.T) {
	m := metrics.New(metrics.Options{})
	w := m.Webhook("pagerduty")
	if m.Webhook("pagerduty") != w {
		t.Fatal("Webhook does not reuse the provider's series")
	}
	tests := []struct {
		outcome        metrics.Outcome
		timed, verifyF bool
	}{
		{metrics.OutcomeAccepted, true, false},
		{metrics.OutcomeAcceptedUnverified, true, false},
		{metrics.OutcomeDuplicate, true, false},
		{metrics.OutcomeUnauthorized, false, true},
		{metrics.OutcomeInvalid, false, false},
		{metrics.OutcomeNotConnected, false, false},
		{metrics.OutcomeTooLarge, false, false},
		{metrics.OutcomeUnavailable, false, false},
		{metrics.OutcomeError, false, false},
	}
	timed, verify := 0, 0
	for _, tt := range tests {
		w.Delivered(tt.outcome, 3*time.Millisecond)
		if tt.timed {
			timed++
		}
		if tt.verifyF {
			verify++
		}
		want := "aurora_webhook_deliveries_total{outcome=\"" + tt.outcome.String() + "\",provider=\"pagerduty\"} 1"
		if body := scrape(t, m); !strings.Contains(body, want) {
			t.Errorf("%s: no %q", tt.outcome, want)
		}
	}
	body := scrape(t, m)
	for _, want := range []string{
		"aurora_webhook_ingest_duration_seconds_count{provider=\"pagerduty\"} " + strconv.Itoa(timed),
		"aurora_webhook_verification_failures_total{provider=\"pagerduty\"} " + strconv.Itoa(verify),
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in\n%s", want, body)
		}
	}
}

// TestHotPathAllocatesNothing: counting a delivery and timing a plugin call
// allocate nothing once the provider and call have been seen.
func TestHotPathAllocatesNothing(t *testing.T) {
	m := metrics.New(metrics.Options{})
	m.PluginCall("pagerduty", "webhooks", metrics.CallOK, time.Millisecond)
	if n := testing.AllocsPerRun(1000, func() {
		m.Webhook("pagerduty").Delivered(metrics.OutcomeAccepted, time.Millisecond)
		m.PluginCall("pagerduty", "webhooks", metrics.CallOK, time.Millisecond)
	}); n != 0 {
		t.Errorf("%v allocations per delivery, want 0", n)
	}
}

func BenchmarkWebhookDelivered(b *testing.B) {
	m := metrics.New(metrics.Options{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Webhook("pagerduty").Delivered(metrics.OutcomeAccepted, time.Millisecond)
			m.PluginCall("pagerduty", "webhooks", metrics.CallOK, time.Millisecond)
		}
	})
}

// TestNilMetricsDoNothing: parts given no metrics call them all the same.
func TestNilMetricsDoNothing(t *testing.T) {
	var m *metrics.Metrics
	m.Webhook("x").Delivered(metrics.OutcomeAccepted, time.Second)
	m.EventsApplied(time.Now(), []time.Time{time.Now()})
	m.EventFailed(true)
	m.IncidentsOpened("x", 1)
	m.IncidentsResolved("x", 1)
	m.IncidentCorrelated("x")
	m.Enriched("x", metrics.EnrichComplete, time.Second, 0)
	m.Analysed("builtin", metrics.RCAComplete, time.Second)
	m.PluginCall("x", "y", metrics.CallOK, time.Second)
	m.DatabaseError("select", errors.New("x"))
	m.DeadLettersRetried("job", 1)
	m.ObserveQueues(nil)
	m.ObservePlugins(nil)
	m.RegisterDB(nil)
}

// TestScrapeTimeGauges: queue gauges come from the source at most once per
// cache period; a failing source leaves them out and is counted, the rest
// is served; the WAL size is the file's; plugins get one series per state.
func TestScrapeTimeGauges(t *testing.T) {
	dir := t.TempDir()
	wal := filepath.Join(dir, "hub.db-wal")
	m := metrics.New(metrics.Options{SQLiteWAL: wal, ScrapeCache: time.Hour})
	var calls atomic.Int32
	fail := atomic.Bool{}
	m.ObserveQueues(func(ctx context.Context) (*metrics.QueueStats, error) {
		calls.Add(1)
		if fail.Load() {
			return nil, errors.New("database is locked")
		}
		return &metrics.QueueStats{InboxPending: 7, InboxOldestAge: 90 * time.Second, InboxDeadLetters: 2,
			Jobs: []metrics.JobGroup{{Kind: "process_incident", State: "running", Count: 3, OldestAge: 4 * time.Second}}}, nil
	})
	m.ObservePlugins(func() ([]metrics.PluginStatus, []string) {
		return []metrics.PluginStatus{{Name: "pagerduty", State: "restarting", Restarts: 2}}, []string{"running", "restarting", "disabled"}
	})

	body := scrape(t, m)
	for _, want := range []string{
		"aurora_inbox_pending_events 7", "aurora_inbox_oldest_pending_age_seconds 90", "aurora_inbox_dead_letters 2",
		`aurora_jobs{kind="process_incident",state="running"} 3`, `aurora_jobs_oldest_age_seconds{kind="process_incident",state="running"} 4`,
		"aurora_sqlite_wal_bytes 0", // no file: an empty log
		`aurora_plugin_state{plugin="pagerduty",state="restarting"} 1`, `aurora_plugin_state{plugin="pagerduty",state="running"} 0`,
		`aurora_plugin_restarts_total{plugin="pagerduty"} 2`, "aurora_metrics_queue_query_errors_total 0",
		"go_goroutines", "process_cpu_seconds_total",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in\n%s", want, body)
		}
	}
	if err := os.WriteFile(wal, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	if body := scrape(t, m); !strings.Contains(body, "aurora_sqlite_wal_bytes 4096") || calls.Load() != 1 {
		t.Errorf("second scrape: %d queries (want 1, cached); WAL line present: %v", calls.Load(), strings.Contains(body, "aurora_sqlite_wal_bytes 4096"))
	}

	// A failing query: after the cache expires, the gauges are left out.
	m2 := metrics.New(metrics.Options{ScrapeCache: time.Nanosecond})
	fail.Store(true)
	m2.ObserveQueues(func(ctx context.Context) (*metrics.QueueStats, error) {
		calls.Add(1)
		return nil, errors.New("database is locked")
	})
	body = scrape(t, m2)
	if strings.Contains(body, "aurora_inbox_pending_events") || !strings.Contains(body, "aurora_metrics_queue_query_errors_total 1") || !strings.Contains(body, "go_goroutines") {
		t.Errorf("failing source:\n%s", body)
	}
}

func TestDatabaseErrors(t *testing.T) {
	m := metrics.New(metrics.Options{})
	m.DatabaseError("insert", errors.New("disk I/O error"))
	m.DatabaseError("select", context.Canceled) // the caller went away: not the database's error
	body := scrape(t, m)
	for _, want := range []string{`aurora_database_errors_total{operation="insert"} 1`, `aurora_database_errors_total{operation="select"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q", want)
		}
	}
	if n := testutil.CollectAndCount(m.Registry(), "aurora_database_errors_total"); n != 8 {
		t.Errorf("%d database error series, want one per operation (8)", n)
	}
}

// TestQueryHookCountsFailedStatements: the hook on a real database counts
// a failing statement by operation, and not a query that finds no row.
func TestQueryHookCountsFailedStatements(t *testing.T) {
	m := metrics.New(metrics.Options{})
	st := storetest.Open(t, "sqlite")
	st.Bun().AddQueryHook(m.QueryHook())
	ctx := context.Background()
	if _, err := st.Bun().ExecContext(ctx, "INSERT INTO no_such_table (x) VALUES (1)"); err == nil {
		t.Fatal("insert into a missing table succeeded")
	}
	var id string
	if err := st.Bun().NewSelect().Table("incidents").Column("id").Where("id = 'none'").Scan(ctx, &id); err == nil {
		t.Fatal("found a missing incident")
	}
	body := scrape(t, m)
	for _, want := range []string{`aurora_database_errors_total{operation="insert"} 1`, `aurora_database_errors_total{operation="select"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q", want)
		}
	}
}
