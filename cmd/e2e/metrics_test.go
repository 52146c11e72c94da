package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/tools/pdsim"
)

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseMetrics reads the text exposition format (the subset the Go client
// writes: no escapes in these label values, no timestamps).
func parseMetrics(t *testing.T, body string) []sample {
	t.Helper()
	var out []sample
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		s := sample{name: line[:sp], labels: map[string]string{}, value: v}
		if i := strings.IndexByte(s.name, '{'); i >= 0 {
			for _, kv := range strings.Split(strings.TrimSuffix(s.name[i+1:], "}"), ",") {
				if k, v, ok := strings.Cut(kv, "="); ok {
					s.labels[k] = strings.Trim(v, `"`)
				}
			}
			s.name = s.name[:i]
		}
		out = append(out, s)
	}
	return out
}

// metric returns the value of the series name with labels (a subset), and
// whether it exists.
func metric(samples []sample, name string, labels ...string) (float64, bool) {
next:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if s.labels[labels[i]] != labels[i+1] {
				continue next
			}
		}
		return s.value, true
	}
	return 0, false
}

func (h *hubProc) scrape(t *testing.T, url string, secret string) (int, []sample) {
	t.Helper()
	req := mustRequest(t, "GET", url)
	if secret != "" {
		req.Header.Set("X-Internal-Secret", secret)
	}
	res := doRequest(t, req)
	if res.Status != http.StatusOK {
		return res.Status, nil
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("metrics Content-Type = %q", ct)
	}
	return res.Status, parseMetrics(t, string(res.Body))
}

// TestMetricsDuringARealRun drives webhooks through the real hub and the
// PagerDuty plugin (with a rate-limited enrichment, a correlation and a
// resolve) and checks /metrics carries every series with sane values.
func TestMetricsDuringARealRun(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sim := startSim(t)
		now := time.Now().UTC().Truncate(time.Second)
		inc := pipelineAccount(sim, now)
		// The first enrichment call is rate limited: the job waits 1 s.
		sim.InjectFault(pdsim.Fault{Method: "GET", Path: "/incidents/" + inc.ID + "/alerts", Status: 429,
			Header: http.Header{"Ratelimit-Reset": {"1"}}, Body: `{"error":{"message":"Rate Limit Exceeded","code":2020}}`, Times: 1})
		metricsAddr := freePort(t)
		h := startHub(t, sim, hubOpts{backend: backend, env: map[string]string{"HUB_RCA_DELAY": "0s", "HUB_METRICS_LISTEN": metricsAddr}})
		connectWithSecret(t, h, whSecret)

		trigger := triggerBody(inc, "PSVC001", "payments-api", now)
		for i, want := range []int{202, 202} { // the second is a redelivery
			if res := h.webhook(alice.user, trigger, whSecret); res.Status != want {
				t.Fatalf("trigger %d = %d %s", i, res.Status, res.Body)
			}
		}
		if res := h.webhook(alice.user, trigger, "whsec-wrong"); res.Status != 401 {
			t.Fatalf("wrongly signed = %d %s", res.Status, res.Body)
		}
		if res := h.webhook("nobody", trigger, whSecret); res.Status != 404 {
			t.Fatalf("unknown user = %d %s", res.Status, res.Body)
		}
		h.incidentBySourceWithin(alice, inc.ID, 60*time.Second, func(m map[string]any) bool { return m["auroraStatus"] == "complete" })
		again := sim.AddIncident(pdsim.Incident{Title: "Payments API error rate above 5% (eu)", ServiceID: "PSVC001", Urgency: "high"})
		// A slow answer to the child's one light call: its enrichment ends
		// well after it is seen correlated.
		sim.InjectFault(pdsim.Fault{Method: "GET", Path: "/incidents/" + again.ID + "/alerts", Status: 200, Delay: time.Second,
			Body: `{"alerts":[],"limit":25,"offset":0,"more":false,"total":null}`, Times: 1})
		if res := h.webhook(alice.user, triggerBody(again, "PSVC001", "payments-api", now.Add(time.Minute)), whSecret); res.Status != 202 {
			t.Fatalf("second trigger = %d %s", res.Status, res.Body)
		}
		// It joins early, on its service, before its light enrichment: wait
		// for both, or the scrape below can race the enrichment's metric.
		h.incidentBySource(alice, again.ID, func(m map[string]any) bool { return m["correlation"] != nil && m["enrichment"] != nil })
		resolve := incidentBody("incident.resolved", inc.ID, now.Add(2*time.Minute), func(w *pdsim.WebhookIncident) { w.Title = inc.Title })
		if res := h.webhook(alice.user, resolve, whSecret); res.Status != 202 {
			t.Fatalf("resolve = %d %s", res.Status, res.Body)
		}
		// The provider resolved it; the group it heads reads open while the
		// correlated incident still fires.
		h.incidentBySource(alice, inc.ID, func(m map[string]any) bool { return m["providerStatus"] == "resolved" })

		// Management authentication on HUB_LISTEN; none on HUB_METRICS_LISTEN.
		if code, _ := h.scrape(t, h.URL+"/metrics", ""); code != http.StatusForbidden {
			t.Errorf("/metrics without the secret = %d, want 403", code)
		}
		if code, s := h.scrape(t, "http://"+metricsAddr+"/metrics", ""); code != 200 || len(s) == 0 {
			t.Errorf("HUB_METRICS_LISTEN /metrics = %d with %d samples", code, len(s))
		}
		_, s := h.scrape(t, h.URL+"/metrics", internalSecret)
		pd := []string{"provider", "pagerduty"}
		type check struct {
			name     string
			labels   []string
			min, max float64
		}
		checks := []check{
			{"aurora_webhook_deliveries_total", append(pd, "outcome", "accepted"), 3, 3},
			{"aurora_webhook_deliveries_total", append(pd, "outcome", "duplicate"), 1, 1},
			{"aurora_webhook_deliveries_total", append(pd, "outcome", "unauthorized"), 1, 1},
			{"aurora_webhook_deliveries_total", append(pd, "outcome", "not_connected"), 1, 1},
			{"aurora_webhook_deliveries_total", append(pd, "outcome", "unavailable"), 0, 0},
			{"aurora_webhook_verification_failures_total", pd, 1, 1},
			{"aurora_webhook_ingest_duration_seconds_count", pd, 4, 4},
			{"aurora_webhook_ingest_duration_seconds_sum", pd, 1e-6, 20},
			{"aurora_webhook_ingest_duration_seconds_bucket", append(pd, "le", "+Inf"), 4, 4},
			{"aurora_pipeline_events_applied_total", nil, 3, 3},
			{"aurora_pipeline_event_lag_seconds_count", nil, 3, 3},
			{"aurora_pipeline_event_failures_total", nil, 0, 0},
			{"aurora_incidents_opened_total", pd, 2, 2},
			{"aurora_incidents_correlated_total", pd, 1, 1},
			{"aurora_incidents_resolved_total", pd, 1, 1},
			{"aurora_enrichment_calls_total", append(pd, "status", "rate_limited"), 1, 1},
			{"aurora_enrichment_rate_limit_wait_seconds_total", pd, 1, 1},
			{"aurora_enrichment_duration_seconds_count", pd, 3, 3},
			{"aurora_rca_duration_seconds_count", []string{"analyzer", "builtin", "outcome", "complete"}, 1, 1},
			{"aurora_plugin_call_duration_seconds_count", []string{"plugin", "pagerduty", "call", "webhooks", "result", "ok"}, 4, 5},
			// The parent's full enrichment reads service-level and
			// incident-level sections in separate calls; the correlated
			// child gets one light call.
			{"aurora_plugin_call_duration_seconds_count", []string{"plugin", "pagerduty", "call", "enrichment", "result", "ok"}, 2, 3},
			{"aurora_plugin_state", []string{"plugin", "pagerduty", "state", "running"}, 1, 1},
			{"aurora_plugin_state", []string{"plugin", "pagerduty", "state", "disabled"}, 0, 0},
			{"aurora_plugin_restarts_total", []string{"plugin", "pagerduty"}, 0, 0},
			{"aurora_inbox_pending_events", nil, 0, 0},
			{"aurora_inbox_oldest_pending_age_seconds", nil, 0, 0},
			{"aurora_inbox_dead_letters", nil, 0, 0},
			{"aurora_jobs", []string{"kind", "process_incident", "state", "discarded"}, 0, 0},
			{"aurora_jobs", []string{"kind", "incident_rca", "state", "running"}, 0, 0},
			{"aurora_jobs_oldest_age_seconds", []string{"kind", "apply_webhook_events", "state", "available"}, 0, 60},
			{"aurora_database_errors_total", []string{"operation", "insert"}, 0, 0},
			{"aurora_metrics_queue_query_errors_total", nil, 0, 0},
			{"go_goroutines", nil, 1, 1e5},
			{"process_resident_memory_bytes", nil, 1 << 20, 4 << 30},
			{"go_sql_max_open_connections", []string{"db_name", "hub"}, 1, 20},
		}
		if backend == "sqlite" {
			// Checkpoints run every second: the log stays far below a gigabyte.
			checks = append(checks, check{"aurora_sqlite_wal_bytes", nil, 0, 1 << 30})
		} else if _, ok := metric(s, "aurora_sqlite_wal_bytes"); ok {
			t.Error("aurora_sqlite_wal_bytes on PostgreSQL")
		}
		for _, c := range checks {
			v, ok := metric(s, c.name, c.labels...)
			if !ok {
				t.Errorf("%s%v: missing", c.name, c.labels)
				continue
			}
			if v < c.min || v > c.max {
				t.Errorf("%s%v = %v, want [%v, %v]", c.name, c.labels, v, c.min, c.max)
			}
		}
		if t.Failed() {
			t.Logf("hub logs:\n%s", h.Logs())
		}

		// The operators' queue status: no user id, the secret only.
		noUser := caller{}
		if res := h.do(caller{secret: new(string)}, "GET", "/pipeline/status", nil); res.Status != 403 {
			t.Errorf("GET /pipeline/status without the secret = %d", res.Status)
		}
		res := h.do(noUser, "GET", "/pipeline/status", nil)
		inbox, _ := res.JSON["inbox"].(map[string]any)
		if res.Status != 200 || inbox == nil || inbox["pending"] != float64(0) || inbox["deadLetters"] != float64(0) || res.JSON["running"] == nil {
			t.Errorf("GET /pipeline/status = %d %s", res.Status, res.Body)
		}
		for _, path := range []string{"/pipeline/dead-letters/events", "/pipeline/dead-letters/jobs"} {
			if res := h.do(noUser, "GET", path, nil); res.Status != 200 || !strings.Contains(string(res.Body), "[]") {
				t.Errorf("GET %s = %d %s", path, res.Status, res.Body)
			}
		}
		// The tenants' view still needs the user.
		if res := h.do(noUser, "GET", "/pipeline/dead-letters", nil); res.Status != 401 {
			t.Errorf("GET /pipeline/dead-letters without a user = %d", res.Status)
		}
		if res := h.do(alice, "GET", "/pipeline/dead-letters", nil); res.Status != 200 {
			t.Errorf("GET /pipeline/dead-letters = %d %s", res.Status, res.Body)
		}
	})
}

// TestPprofOnlyWhereAsked: HUB_PPROF=true serves Go's profiles on
// HUB_METRICS_LISTEN, never on the API's address; without it, none.
func TestPprofOnlyWhereAsked(t *testing.T) {
	sim := startSim(t)
	get := func(url string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := doRequest(t, req)
		return r.Status, string(r.Body)
	}
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("HUB_PPROF=%t", on), func(t *testing.T) {
			metricsAddr := freePort(t)
			h := startHub(t, sim, hubOpts{backend: "sqlite", env: map[string]string{"HUB_METRICS_LISTEN": metricsAddr, "HUB_PPROF": fmt.Sprint(on)}})
			code, body := get("http://" + metricsAddr + "/debug/pprof/heap?debug=1")
			if on && (code != 200 || !strings.Contains(body, "# runtime.MemStats")) {
				t.Errorf("heap profile on the metrics listener = %d %.200s", code, body)
			}
			if !on && code != 404 {
				t.Errorf("heap profile without HUB_PPROF = %d, want 404", code)
			}
			if code, _ := get(h.URL + "/debug/pprof/heap?debug=1"); code == 200 {
				t.Errorf("heap profile on HUB_LISTEN = %d", code)
			}
		})
	}
}
