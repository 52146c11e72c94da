package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/tools/pdsim"
)

// pipelineAccount seeds services with a dependency, and an incident with an
// alert and a deploy four minutes before it triggered.
func pipelineAccount(sim *simServer, triggered time.Time) pdsim.Incident {
	seedAccount(sim)
	sim.AddService(pdsim.Service{ID: "PSVCDB1", Name: "postgres-primary"})
	sim.AddService(pdsim.Service{ID: "PSVCWEB", Name: "checkout-web"})
	sim.AddServiceDependency(pdsim.ServiceDependency{SupportingServiceID: "PSVCDB1", DependentServiceID: "PSVC001"})
	inc := sim.AddIncident(pdsim.Incident{Title: "Payments API error rate above 5%", ServiceID: "PSVC001", Urgency: "high", CreatedAt: triggered})
	sim.AddAlert(pdsim.Alert{IncidentID: inc.ID, AlertKey: "payments/errors", Summary: "5xx rate 7%", Severity: "critical", ServiceID: "PSVC001", CreatedAt: triggered})
	sim.AddChangeEvent(pdsim.ChangeEvent{Summary: "Deploy payments-api v2.14.0", Source: "github-actions", Timestamp: triggered.Add(-4 * time.Minute), ServiceIDs: []string{"PSVC001"}})
	return inc
}

func triggerBody(inc pdsim.Incident, serviceID, serviceName string, at time.Time) []byte {
	return pdsim.IncidentEvent("incident.triggered", pdsim.WebhookIncident{
		ID: inc.ID, Number: inc.Number, Title: inc.Title, Status: "triggered", Urgency: "high",
		CreatedAt: pdsim.FormatOccurredAt(at),
		Service:   &pdsim.Reference{ID: serviceID, Type: "service_reference", Summary: serviceName},
	}).At(at).Body()
}

func TestPipelineEnrichesCorrelatesAndAnalyses(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sim := startSim(t)
		now := time.Now().UTC().Truncate(time.Second)
		inc := pipelineAccount(sim, now)
		h := startHub(t, sim, hubOpts{backend: backend, env: map[string]string{"HUB_RCA_DELAY": "0s"}})
		connectWithSecret(t, h, whSecret)
		events := h.stream(t, alice)

		if res := h.webhook(alice.user, triggerBody(inc, "PSVC001", "payments-api", now), whSecret); res.Status != 202 {
			t.Fatalf("trigger = %d %s", res.Status, res.Body)
		}
		got := h.incidentBySource(alice, inc.ID, func(m map[string]any) bool { return m["auroraStatus"] == "complete" })
		if got["summary"] == nil || got["analyzedAt"] == nil {
			t.Fatalf("analysed incident lacks summary/analyzedAt: %v", got)
		}
		// Evidence from the plugin: the alert and the deploy.
		kinds := map[string]bool{}
		for _, e := range got["evidence"].([]any) {
			kinds[e.(map[string]any)["kind"].(string)] = true
		}
		for _, k := range []string{"alert", "change_event"} {
			if !kinds[k] {
				t.Errorf("evidence lacks %s: %v", k, kinds)
			}
		}
		rca := h.do(alice, "GET", "/incidents/"+got["id"].(string)+"/rca", nil)
		report, _ := rca.JSON["report"].(map[string]any)
		if rca.Status != 200 || rca.JSON["status"] != "complete" || report == nil {
			t.Fatalf("GET rca = %d %s", rca.Status, rca.Body)
		}
		if s, _ := report["summary"].(string); !strings.Contains(strings.ToLower(s), "deploy") {
			t.Errorf("summary does not name the deploy: %q", s)
		}
		causes, _ := report["causes"].([]any)
		if len(causes) == 0 || !strings.Contains(fmt.Sprint(causes[0]), "payments-api") {
			t.Errorf("top cause = %v", causes)
		}
		events.waitFor(t, "incident_update", got["id"].(string))
		events.waitFor(t, "rca_complete", got["id"].(string))

		// A second incident on the same service a minute later joins the first.
		again := sim.AddIncident(pdsim.Incident{Title: "Payments API error rate above 5% (eu)", ServiceID: "PSVC001", Urgency: "high"})
		if res := h.webhook(alice.user, triggerBody(again, "PSVC001", "payments-api", now.Add(time.Minute)), whSecret); res.Status != 202 {
			t.Fatalf("second trigger = %d %s", res.Status, res.Body)
		}
		parent := h.incidentBySource(alice, inc.ID, func(m map[string]any) bool { return m["correlatedAlertCount"] == float64(1) })
		ev := events.waitFor(t, "alert_correlated", parent["id"].(string))
		if score, _ := ev["correlation_score"].(float64); score < 0.6 || score > 1 {
			t.Errorf("correlation_score = %v", ev["correlation_score"])
		}
		child := h.incidentBySource(alice, again.ID, func(m map[string]any) bool { return m["correlation"] != nil })
		if child["auroraStatus"] != "idle" {
			t.Errorf("a correlated incident was analysed: %v", child["auroraStatus"])
		}
		// Manual re-run.
		if res := h.do(alice, "POST", "/incidents/"+parent["id"].(string)+"/rca", nil); res.Status != 202 {
			t.Fatalf("POST rca = %d %s", res.Status, res.Body)
		}
		waitFor(t, "second analysis", 20*time.Second, func() bool {
			r := h.do(alice, "GET", "/incidents/"+parent["id"].(string)+"/rca", nil)
			return r.JSON["reason"] == "manual" && r.JSON["status"] == "complete"
		})
	})
}

func TestAlertStormBecomesOneIncident(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sim := startSim(t)
		seedAccount(sim)
		sim.AddService(pdsim.Service{ID: "PSVCOTH", Name: "search-indexer"})
		h := startHub(t, sim, hubOpts{backend: backend, env: map[string]string{"HUB_RCA_DELAY": "0s"}})
		connectWithSecret(t, h, whSecret)
		start := time.Now().UTC().Add(-10 * time.Minute)
		var first pdsim.Incident
		for i := 0; i < 50; i++ {
			inc := sim.AddIncident(pdsim.Incident{Title: fmt.Sprintf("High latency on pod-%04x", i*7919), ServiceID: "PSVC001", Urgency: "high"})
			if i == 0 {
				first = inc
			}
			body := triggerBody(inc, "PSVC001", "payments-api", start.Add(time.Duration(i)*3*time.Second))
			if res := h.webhook(alice.user, body, whSecret); res.Status != 202 {
				t.Fatalf("storm %d = %d %s", i, res.Status, res.Body)
			}
			if i == 0 { // the first must exist before the rest can join it
				h.incidentBySource(alice, inc.ID, func(m map[string]any) bool { return m["enrichment"] != nil })
			}
		}
		// An unrelated service at the same minute stays separate.
		other := sim.AddIncident(pdsim.Incident{Title: "Disk almost full", ServiceID: "PSVCOTH", Urgency: "low"})
		if res := h.webhook(alice.user, triggerBody(other, "PSVCOTH", "search-indexer", start.Add(time.Minute)), whSecret); res.Status != 202 {
			t.Fatalf("other = %d", res.Status)
		}
		parent := h.incidentBySource(alice, first.ID, func(m map[string]any) bool { return m["correlatedAlertCount"] == float64(49) })
		if svcs := fmt.Sprint(parent["affectedServices"]); !strings.Contains(svcs, "payments-api") {
			t.Errorf("affectedServices = %v", svcs)
		}
		h.incidentBySource(alice, other.ID, func(m map[string]any) bool { return m["enrichment"] != nil && m["correlation"] == nil })
		top := 0
		for _, in := range h.incidents(alice) {
			if in["parentIncidentId"] == nil {
				top++
			}
		}
		if top != 2 {
			t.Fatalf("%d top-level incidents, want 2 (the storm and the unrelated one)", top)
		}
	})
}

func TestAutomatedRCASwitch(t *testing.T) {
	forEachBackend(t, testAutomatedRCASwitch)
}

func testAutomatedRCASwitch(t *testing.T, backend string) {
	sim := startSim(t)
	now := time.Now().UTC()
	inc := pipelineAccount(sim, now)
	h := startHub(t, sim, hubOpts{backend: backend, env: map[string]string{"HUB_RCA_DELAY": "0s"}})
	connectWithSecret(t, h, whSecret)
	if res := h.do(alice, "PUT", "/settings", map[string]any{"automatedRca": false}); res.Status != 200 || res.JSON["automatedRca"] != false {
		t.Fatalf("PUT settings = %d %s", res.Status, res.Body)
	}
	if res := h.do(alice, "PUT", "/settings", map[string]any{"automatedRca": "no"}); res.Status != 400 {
		t.Fatalf("bad PUT settings = %d %s", res.Status, res.Body)
	}
	h.webhook(alice.user, triggerBody(inc, "PSVC001", "payments-api", now), whSecret)
	got := h.incidentBySource(alice, inc.ID, func(m map[string]any) bool { return m["enrichment"] != nil })
	time.Sleep(500 * time.Millisecond)
	if res := h.do(alice, "GET", "/incidents/"+got["id"].(string)+"/rca", nil); res.Status != 404 {
		t.Fatalf("an analysis ran although switched off: %d %s", res.Status, res.Body)
	}
}

// llmServer is an OpenAI-compatible Chat Completions endpoint that streams
// as OpenAI, Ollama and vLLM do when asked to ("stream": true): reasoning
// deltas, then the answer in small content deltas, then [DONE].
type llmServer struct {
	*httptest.Server
	calls   atomic.Int32
	delay   atomic.Int64 // nanoseconds before answering
	pace    atomic.Int64 // nanoseconds between streamed chunks
	release chan struct{}
}

func startLLM(t *testing.T) *llmServer {
	l := &llmServer{release: make(chan struct{})}
	l.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.calls.Add(1)
		var req struct {
			Model    string                     `json:"model"`
			Stream   bool                       `json:"stream"`
			Messages []struct{ Content string } `json:"messages"`
		}
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/chat/completions" || json.Unmarshal(body, &req) != nil || req.Model != "test-model" || len(req.Messages) != 2 {
			http.Error(w, `{"error":{"message":"bad request"}}`, 400)
			return
		}
		if d := time.Duration(l.delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		content := llmAnswer(req.Messages[1].Content)
		if !req.Stream {
			json.NewEncoder(w).Encode(map[string]any{
				"id": "chatcmpl-1", "object": "chat.completion", "model": "test-model",
				"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": content}}},
			})
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		send := func(delta map[string]any, finish any) bool {
			b, _ := json.Marshal(map[string]any{"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "test-model",
				"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}})
			if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
				return false
			}
			w.(http.Flusher).Flush()
			if d := time.Duration(l.pace.Load()); d > 0 {
				select {
				case <-time.After(d):
				case <-r.Context().Done():
					return false
				}
			}
			return true
		}
		for _, part := range []string{"The error rate jumped at the trigger. ", "A deploy of payments-api landed four minutes ", "before it. That is the first suspect.\n\n"} {
			if !send(map[string]any{"reasoning_content": part}, nil) {
				return
			}
		}
		runes := []rune(content)
		for i := 0; i < len(runes); i += 40 {
			if !send(map[string]any{"content": string(runes[i:min(i+40, len(runes))])}, nil) {
				return
			}
		}
		send(map[string]any{}, "stop")
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(l.Close)
	return l
}

// llmAnswer is the stand-in model's answer, citing the change events and
// alerts the prompt gave it.
func llmAnswer(prompt string) string {
	var p struct {
		Evidence []struct{ Kind, ID string } `json:"evidence"`
	}
	_, js, _ := strings.Cut(prompt, "\n")
	json.Unmarshal([]byte(js), &p)
	var changes, alerts []string
	for _, e := range p.Evidence {
		switch e.Kind {
		case "change_event":
			changes = append(changes, e.ID)
		case "alert":
			alerts = append(alerts, e.ID)
		}
	}
	b, _ := json.Marshal(map[string]any{
		"analysis_steps": []string{"Read the incident and its alert.", "Found the deploy of payments-api v2.14.0 four minutes before the trigger.", "Checked postgres-primary: no alert on it."},
		"summary":        "LLM: the v2.14.0 deploy of payments-api broke it",
		"causes": []any{
			map[string]any{"title": "Deploy v2.14.0", "confidence": 0.9, "evidence": []string{"deploy 4 minutes before"}, "evidence_ids": changes},
			map[string]any{"title": "Error burst on payments-api", "confidence": 0.4, "evidence_ids": alerts},
		},
		"next_steps": []any{
			map[string]any{"title": "Roll back v2.14.0", "type": "mitigation", "risk": "medium", "command": "kubectl -n payments rollout undo deploy/payments-api"},
			map[string]any{"title": "Watch the error rate", "type": "diagnostic", "risk": "safe"},
		},
	})
	return string(b)
}

func TestLLMAnalyzerAndFallback(t *testing.T) {
	forEachBackend(t, testLLMAnalyzerAndFallback)
}

func testLLMAnalyzerAndFallback(t *testing.T, backend string) {
	llm := startLLM(t)
	sim := startSim(t)
	now := time.Now().UTC()
	inc := pipelineAccount(sim, now)
	h := startHub(t, sim, hubOpts{backend: backend, env: map[string]string{
		"HUB_RCA_DELAY": "0s", "HUB_RCA_ANALYZER": "llm", "HUB_LLM_BASE_URL": llm.URL + "/v1",
		"HUB_LLM_MODEL": "test-model", "HUB_LLM_TIMEOUT": "1s",
	}})
	connectWithSecret(t, h, whSecret)
	h.webhook(alice.user, triggerBody(inc, "PSVC001", "payments-api", now), whSecret)
	got := h.incidentBySource(alice, inc.ID, func(m map[string]any) bool { return m["auroraStatus"] == "complete" })
	if s, _ := got["summary"].(string); !strings.HasPrefix(s, "LLM:") {
		t.Fatalf("summary = %q, want the LLM's", s)
	}
	// Now the endpoint is too slow: the builtin analysis is used and says so.
	llm.delay.Store(int64(3 * time.Second))
	if res := h.do(alice, "POST", "/incidents/"+got["id"].(string)+"/rca", nil); res.Status != 202 {
		t.Fatalf("POST rca = %d", res.Status)
	}
	var report map[string]any
	waitFor(t, "fallback analysis", 30*time.Second, func() bool {
		r := h.do(alice, "GET", "/incidents/"+got["id"].(string)+"/rca", nil)
		report, _ = r.JSON["report"].(map[string]any)
		return r.JSON["reason"] == "manual" && r.JSON["status"] == "complete"
	})
	if report["analyzer"] != "builtin" || !strings.Contains(fmt.Sprint(report["fallbackReason"]), "timed out") {
		t.Fatalf("fallback report = %v", report)
	}
	if strings.Contains(h.Logs(), "sk-") {
		t.Error("logs contain an API key")
	}
}

// TestKilledDuringAnalysisFinishesOnce kills the hub while an analysis waits
// on the LLM, restarts it, and checks the analysis completes exactly once.
func TestKilledDuringAnalysisFinishesOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		llm := startLLM(t)
		llm.delay.Store(int64(time.Hour))
		sim := startSim(t)
		now := time.Now().UTC()
		inc := pipelineAccount(sim, now)
		env := map[string]string{
			"HUB_RCA_DELAY": "0s", "HUB_RCA_ANALYZER": "llm", "HUB_LLM_BASE_URL": llm.URL + "/v1",
			"HUB_LLM_MODEL": "test-model", "HUB_LLM_TIMEOUT": "5m", "HUB_JOB_RESCUE_AFTER": "3s",
		}
		h := startHub(t, sim, hubOpts{backend: backend, env: env})
		connectWithSecret(t, h, whSecret)
		h.webhook(alice.user, triggerBody(inc, "PSVC001", "payments-api", now), whSecret)
		waitFor(t, "the analysis to reach the LLM", 20*time.Second, func() bool { return llm.calls.Load() >= 1 })
		h.kill()

		llm.delay.Store(0)
		env["HUB_ENCRYPTION_KEY"] = h.Env["HUB_ENCRYPTION_KEY"] // the same hub, restarted
		h2 := startHub(t, sim, hubOpts{backend: backend, env: env, dbURL: h.DBURL, dataDir: h.DataDir})
		// River takes the interrupted job for crashed once this hub leads and
		// its rescuer runs (every 30 s), after HUB_JOB_RESCUE_AFTER.
		got := h2.incidentBySourceWithin(alice, inc.ID, 90*time.Second, func(m map[string]any) bool { return m["auroraStatus"] == "complete" })
		time.Sleep(4 * time.Second) // longer than the rescue delay: nothing may run again
		if n := llm.calls.Load(); n != 2 {
			t.Errorf("LLM called %d times, want 2 (the killed attempt and the rescued one)", n)
		}
		r := h2.do(alice, "GET", "/incidents/"+got["id"].(string)+"/rca", nil)
		if r.JSON["status"] != "complete" || r.JSON["reason"] != "automatic" {
			t.Fatalf("rca = %s", r.Body)
		}
	})
}

// sseClient collects a stream's events.
type sseClient struct {
	mu     sync.Mutex
	events []map[string]any
}

func (h *hubProc) stream(t *testing.T, c caller) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", h.URL+"/incidents/stream", nil)
	req.Header.Set("X-User-ID", c.user)
	req.Header.Set("X-Internal-Secret", internalSecret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	s := &sseClient{}
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			line, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var ev map[string]any
			if json.Unmarshal([]byte(line), &ev) == nil {
				s.mu.Lock()
				s.events = append(s.events, ev)
				s.mu.Unlock()
			}
		}
	}()
	return s
}

func (s *sseClient) waitFor(t *testing.T, typ, incidentID string) map[string]any {
	t.Helper()
	var found map[string]any
	waitFor(t, "SSE "+typ, 20*time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, e := range s.events {
			if e["type"] == typ && e["incident_id"] == incidentID {
				found = e
				return true
			}
		}
		return false
	})
	return found
}

// TestLiveEventsAcrossReplicas: two hubs share one PostgreSQL database; a
// client streaming from one sees the events of a webhook the other received.
func TestLiveEventsAcrossReplicas(t *testing.T) {
	if os.Getenv("HUB_TEST_POSTGRES_URL") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("HUB_TEST_POSTGRES_URL is not set in CI")
		}
		t.Skip("needs PostgreSQL (HUB_TEST_POSTGRES_URL)")
	}
	sim := startSim(t)
	now := time.Now().UTC()
	inc := pipelineAccount(sim, now)
	a := startHub(t, sim, hubOpts{backend: "postgres", env: map[string]string{"HUB_RCA_DELAY": "0s"}})
	b := startHub(t, sim, hubOpts{backend: "postgres", dbURL: a.DBURL, env: map[string]string{
		"HUB_RCA_DELAY": "0s", "HUB_ENCRYPTION_KEY": a.Env["HUB_ENCRYPTION_KEY"],
	}})
	connectWithSecret(t, a, whSecret)
	events := b.stream(t, alice)
	if res := a.webhook(alice.user, triggerBody(inc, "PSVC001", "payments-api", now), whSecret); res.Status != 202 {
		t.Fatalf("trigger = %d %s", res.Status, res.Body)
	}
	got := b.incidentBySource(alice, inc.ID, func(m map[string]any) bool { return m["auroraStatus"] == "complete" })
	events.waitFor(t, "incident_update", got["id"].(string))
	events.waitFor(t, "rca_complete", got["id"].(string))
}
