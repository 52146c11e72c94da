package e2e

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/store"
)

// openHubStore opens the hub's database beside it, to read what the
// incident page's other fields come from (thoughts, citations,
// suggestions) while the hub's own API serves the incident.
func openHubStore(t *testing.T, h *hubProc) *store.Store {
	t.Helper()
	o := store.Options{Driver: "postgres", URL: h.DBURL}
	if p, ok := strings.CutPrefix(h.DBURL, "sqlite://"); ok {
		o = store.Options{Driver: "sqlite", SQLitePath: p}
	}
	st, err := store.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var citationMarker = regexp.MustCompile(`\[(\d+(?:,\s*\d+)*)\]`)

// TestIncidentPageLifecycle polls an incident as Aurora's detail page does
// (here every 100 ms) while its analysis runs: updatedAt moves, thoughts
// grow, auroraStatus goes running -> summarizing -> complete, and the
// summary's [n] markers all name stored citations; suggestions are stored.
// With the builtin analyzer and with the LLM one through a streaming
// stand-in, on SQLite and PostgreSQL.
func TestIncidentPageLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		for _, analyzer := range []string{"builtin", "llm"} {
			t.Run(analyzer, func(t *testing.T) { testPageLifecycle(t, backend, analyzer) })
		}
	})
}

func testPageLifecycle(t *testing.T, backend, analyzer string) {
	sim := startSim(t)
	now := time.Now().UTC().Truncate(time.Second)
	inc := pipelineAccount(sim, now)
	env := map[string]string{"HUB_RCA_DELAY": "1s", "HUB_RCA_STEP_DELAY": "300ms"}
	if analyzer == "llm" {
		l := startLLM(t)
		l.pace.Store(int64(40 * time.Millisecond))
		env["HUB_RCA_ANALYZER"], env["HUB_LLM_BASE_URL"], env["HUB_LLM_MODEL"], env["HUB_LLM_TIMEOUT"] = "llm", l.URL+"/v1", "test-model", "60s"
	}
	h := startHub(t, sim, hubOpts{backend: backend, env: env})
	connectWithSecret(t, h, whSecret)
	st := openHubStore(t, h)
	if res := h.webhook(alice.user, triggerBody(inc, "PSVC001", "payments-api", now), whSecret); res.Status != 202 {
		t.Fatalf("trigger = %d %s", res.Status, res.Body)
	}
	id := h.incidentBySource(alice, inc.ID, func(map[string]any) bool { return true })["id"].(string)

	ctx := context.Background()
	var (
		statuses      []string         // auroraStatus as polled, repeats dropped
		runningStamps = map[any]bool{} // updatedAt values seen while running
		counts        []int            // thought counts seen while running, repeats dropped
		last          map[string]any
	)
	deadline := time.Now().Add(90 * time.Second)
	for {
		res := h.do(alice, "GET", "/incidents/"+id, nil)
		if res.Status != 200 {
			t.Fatalf("GET /incidents/%s = %d %s", id, res.Status, res.Body)
		}
		last = res.JSON
		status, _ := last["auroraStatus"].(string)
		if len(statuses) == 0 || statuses[len(statuses)-1] != status {
			statuses = append(statuses, status)
		}
		if status == hub.AuroraRunning {
			runningStamps[last["updatedAt"]] = true
			th, err := store.Thoughts(ctx, st.Bun(), id)
			if err != nil {
				t.Fatal(err)
			}
			if len(counts) == 0 || counts[len(counts)-1] != len(th) {
				counts = append(counts, len(th))
			}
		}
		if status == hub.AuroraComplete || status == hub.AuroraError {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no complete analysis; auroraStatus went %v", statuses)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// running -> summarizing -> complete, nothing else after it started.
	i := slices.Index(statuses, hub.AuroraRunning)
	if i < 0 || !slices.Equal(statuses[i:], []string{hub.AuroraRunning, hub.AuroraSummarizing, hub.AuroraComplete}) {
		t.Fatalf("auroraStatus went %v, want ... running, summarizing, complete", statuses)
	}
	if len(runningStamps) < 3 {
		t.Errorf("updatedAt took %d values while running, want it to move with each thought", len(runningStamps))
	}
	if len(counts) < 3 || !slices.IsSorted(counts) {
		t.Errorf("thought counts seen while running: %v, want at least 3, growing", counts)
	}
	if last["status"] != hub.IncidentAnalyzed || last["analyzedAt"] == nil {
		t.Errorf("complete incident: status %v analyzedAt %v", last["status"], last["analyzedAt"])
	}

	// The summary's markers name the stored citations, and every citation is cited.
	summary, _ := last["summary"].(string)
	cits, err := store.Citations(ctx, st.Bun(), id)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, c := range cits {
		if c.ToolName == "" || c.Command == "" || c.Output == "" {
			t.Errorf("citation %+v", c)
		}
		keys[c.Key] = true
	}
	cited := map[string]bool{}
	for _, m := range citationMarker.FindAllStringSubmatch(summary, -1) {
		for _, k := range strings.Split(m[1], ",") {
			k = strings.TrimSpace(k)
			if !keys[k] {
				t.Errorf("summary cites [%s], no such citation (keys %v)", k, keys)
			}
			cited[k] = true
		}
	}
	if len(cits) == 0 || len(cited) != len(keys) {
		t.Errorf("%d citations, %d cited in %q", len(cits), len(cited), summary)
	}
	sugs, err := store.Suggestions(ctx, st.Bun(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(sugs) == 0 {
		t.Error("no suggestions")
	}
	types := map[string]bool{hub.SuggestionDiagnostic: true, hub.SuggestionMitigation: true, hub.SuggestionRemediate: true, hub.SuggestionPrevent: true, hub.SuggestionCommunication: true}
	for _, s := range sugs {
		if !types[s.Type] || s.Risk == "" || s.Title == "" {
			t.Errorf("suggestion %+v", s)
		}
	}
	thoughts, err := store.Thoughts(ctx, st.Bun(), id)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, th := range thoughts {
		all = append(all, th.Content)
	}
	text := strings.Join(all, "\n")
	want := []string{"Reading the incident", "Found: Deploy of payments-api", "Most likely cause"}
	if analyzer == "llm" {
		want = []string{"Asking the model test-model", "The error rate jumped at the trigger.", "Found the deploy of payments-api v2.14.0", "Most likely cause: Deploy v2.14.0"}
		if !strings.HasPrefix(summary, "LLM:") {
			t.Errorf("summary = %q, want the LLM's", summary)
		}
		if !slices.ContainsFunc(sugs, func(s hub.Suggestion) bool {
			return s.Command == "kubectl -n payments rollout undo deploy/payments-api"
		}) {
			t.Errorf("suggestions lack the model's command: %+v", sugs)
		}
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("thoughts lack %q:\n%s", w, text)
		}
	}
	// The hub's own analysis route still answers.
	if r := h.do(alice, "GET", "/incidents/"+id+"/rca", nil); r.Status != 200 || r.JSON["status"] != "complete" {
		t.Errorf("GET rca = %d %s", r.Status, r.Body)
	}
}
