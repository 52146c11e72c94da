package rca

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/sdk"
)

// fakeLLM is an OpenAI-compatible Chat Completions server.
type fakeLLM struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
}

type recorded struct {
	method, path, auth, contentType string
	body                            []byte
}

func (f *fakeLLM) last(t *testing.T) recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		t.Fatal("no request reached the server")
	}
	return f.requests[len(f.requests)-1]
}

// newFakeLLM answers with handle; answer(content) is the common case.
func newFakeLLM(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) *fakeLLM {
	f := &fakeLLM{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.requests = append(f.requests, recorded{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), body})
		f.mu.Unlock()
		if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		handle(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

// answer serves content as OpenAI, Ollama and vLLM do for "stream": true:
// one chat.completion.chunk event per few characters, then [DONE].
func answer(content string) func(http.ResponseWriter, *http.Request) {
	return streamed(sseEvents(nil, content, 7), 0, 0)
}

// answerJSON serves content in one piece, as a server that ignores
// "stream" does.
func answerJSON(content string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": "chatcmpl-1", "object": "chat.completion", "model": "test-model",
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
				"message": map[string]any{"role": "assistant", "content": content}}},
		})
	}
}

const goodAnswer = `{
  "summary": "The deploy of payments-api v2.3.1 at 09:56 broke its database connections.",
  "causes": [
    {"title": "Postgres connection errors", "confidence": 0.3, "evidence": "A1 and A2 report connection refused"},
    {"title": "Deploy payments-api v2.3.1", "confidence": "85%", "evidence": ["CE1: Deploy payments-api v2.3.1 at 09:56"], "evidence_ids": ["CE1", "made-up"]}
  ],
  "next_steps": ["Roll back payments-api to v2.2.9", {"step": "Check postgres-primary connection limits"}],
  "related_incidents": ["#123"]
}`

func llmFor(f *fakeLLM, mod func(*LLMConfig)) Analyzer {
	cfg := LLMConfig{BaseURL: f.URL + "/v1/", Model: "test-model", APIKey: "sk-test-secret"}
	if mod != nil {
		mod(&cfg)
	}
	return NewLLM(cfg, nil)
}

func runLLM(t *testing.T, a Analyzer, in Input) *Report {
	t.Helper()
	r, err := a.Analyze(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLLMSuccess(t *testing.T) {
	f := newFakeLLM(t, answer(goodAnswer))
	in := deployInput()
	in.Incident.CustomFields = append(in.Incident.CustomFields, customField("runbook_link", `"https://wiki.example.com/rb"`))
	r := runLLM(t, llmFor(f, nil), in)
	if r.Analyzer != AnalyzerLLM || r.Model != "test-model" || r.FallbackReason != "" || r.GeneratedAt.IsZero() {
		t.Fatalf("meta: %s", dump(r))
	}
	if r.Summary != "The deploy of payments-api v2.3.1 at 09:56 broke its database connections." {
		t.Errorf("summary = %q", r.Summary)
	}
	if len(r.Causes) != 2 || r.Causes[0].Title != "Deploy payments-api v2.3.1" || r.Causes[0].Confidence != 0.85 ||
		!slices.Equal(r.Causes[0].EvidenceIDs, []string{"CE1"}) || r.Causes[1].Evidence[0] != "A1 and A2 report connection refused" {
		t.Errorf("causes = %+v", r.Causes)
	}
	if !slices.Equal(r.NextSteps, []string{"Follow the runbook: https://wiki.example.com/rb", "Roll back payments-api to v2.2.9", "Check postgres-primary connection limits"}) {
		t.Errorf("next steps = %q", r.NextSteps)
	}
	if !slices.Equal(r.RelatedIncidents, []string{"#123"}) || r.RunbookURL != "https://wiki.example.com/rb" || len(r.Timeline) == 0 {
		t.Errorf("report = %s", dump(r))
	}
	checkFindings(t, r)
	if len(r.Citations) != 1 || r.Citations[0].Command != "GET /services/PPAY/change_events?since=2026-03-03T09:00:00Z&until=2026-03-03T10:00:00Z" {
		t.Errorf("citations = %+v", r.Citations)
	}

	req := f.last(t)
	if req.method != http.MethodPost || req.path != "/v1/chat/completions" || req.contentType != "application/json" {
		t.Errorf("request %s %s %s", req.method, req.path, req.contentType)
	}
	if req.auth != "Bearer sk-test-secret" {
		t.Errorf("Authorization = %q", req.auth)
	}
	var body struct {
		Model       string  `json:"model"`
		Temperature float64 `json:"temperature"`
		Messages    []struct {
			Role, Content string
		} `json:"messages"`
		ResponseFormat struct {
			Type string `json:"type"`
		} `json:"response_format"`
	}
	if err := json.Unmarshal(req.body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Model != "test-model" || body.ResponseFormat.Type != "json_object" || !strings.Contains(string(req.body), `"temperature":0`) {
		t.Errorf("body = %s", req.body)
	}
	if len(body.Messages) != 2 || body.Messages[0].Role != "system" || body.Messages[1].Role != "user" {
		t.Fatalf("messages = %+v", body.Messages)
	}
	user := body.Messages[1].Content
	for _, want := range []string{"Deploy payments-api v2.3.1", `"kind":"change_event"`, `"id":"CE1"`, "connection refused: postgres-primary:5432",
		"High error rate on payments-api", "heuristic_findings", "Deploy of payments-api 4 minutes before the trigger", "runbook_link"} {
		if !strings.Contains(user, want) {
			t.Errorf("prompt lacks %q", want)
		}
	}
	if strings.Contains(string(req.body), "sk-test-secret") {
		t.Error("the API key leaked into the request body")
	}
}

func customField(name, value string) hub.IncidentCustomField {
	return hub.IncidentCustomField{Name: name, ValueJSON: []byte(value)}
}

func TestLLMLenientAnswers(t *testing.T) {
	tests := []struct {
		name, content string
		check         func(t *testing.T, r *Report)
	}{
		{"fenced JSON with chatter", "Here is the analysis:\n```json\n" + goodAnswer + "\n```\nLet me know if you need more.", nil},
		{"JSON after reasoning", "<think>The {evidence} shows a deploy.</think>\n" + goodAnswer, nil},
		{"wrapped in a report object", `{"report": ` + goodAnswer + `}`, nil},
		{"camelCase keys, percent numbers, word confidence", `{"Summary": "Deploy broke it.", "rootCauses": [
			{"cause": "Deploy", "confidence": 85}, {"cause": "Database", "confidence": "low"}, {"cause": "Cache", "confidence": "0.4"}],
			"nextSteps": "Roll back"}`, func(t *testing.T, r *Report) {
			got := fmt.Sprint(r.Causes[0].Confidence, r.Causes[1].Confidence, r.Causes[2].Confidence)
			if got != "0.85 0.4 0.2" || r.Causes[2].Title != "Database" || !slices.Equal(r.NextSteps, []string{"Roll back"}) {
				t.Errorf("causes %s: %+v, steps %q", got, r.Causes, r.NextSteps)
			}
		}},
		{"confidences clamped", `{"summary": "x", "causes": [{"title": "a", "confidence": 250}, {"title": "b", "confidence": -3}, {"title": "", "confidence": 1}]}`,
			func(t *testing.T, r *Report) {
				if len(r.Causes) != 2 || r.Causes[0].Confidence != 1 || r.Causes[1].Confidence != 0 {
					t.Errorf("causes = %+v", r.Causes)
				}
				if len(r.NextSteps) == 0 || len(r.RelatedIncidents) == 0 {
					t.Errorf("gaps should be filled from the builtin analysis: %s", dump(r))
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeLLM(t, answer(tc.content))
			r := runLLM(t, llmFor(f, nil), deployInput())
			if r.Analyzer != AnalyzerLLM || r.FallbackReason != "" {
				t.Fatalf("fell back: %q", r.FallbackReason)
			}
			if tc.check != nil {
				tc.check(t, r)
			} else if r.Causes[0].Title != "Deploy payments-api v2.3.1" {
				t.Errorf("causes = %+v", r.Causes)
			}
		})
	}
}

func TestLLMNotStreaming(t *testing.T) {
	f := newFakeLLM(t, answerJSON(goodAnswer))
	if r := runLLM(t, llmFor(f, nil), deployInput()); r.Analyzer != AnalyzerLLM || r.Causes[0].Title != "Deploy payments-api v2.3.1" {
		t.Fatalf("report: %s", dump(r))
	}
}

func TestLLMContentParts(t *testing.T) {
	f := newFakeLLM(t, func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{"message": map[string]any{
			"role": "assistant", "content": []any{map[string]any{"type": "text", "text": goodAnswer}}}}}})
	})
	if r := runLLM(t, llmFor(f, nil), deployInput()); r.Analyzer != AnalyzerLLM {
		t.Fatalf("fell back: %q", r.FallbackReason)
	}
}

func TestLLMFallback(t *testing.T) {
	status := func(code int, body string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_, _ = io.WriteString(w, body)
		}
	}
	tests := []struct {
		name   string
		handle func(http.ResponseWriter, *http.Request)
		mod    func(*LLMConfig)
		reason string
	}{
		{"500", status(500, `{"error":{"message":"boom"}}`), nil, "LLM endpoint failed (HTTP 500); builtin analysis used"},
		{"503", status(503, ``), nil, "LLM endpoint failed (HTTP 503); builtin analysis used"},
		{"401 echoing the key", status(401, `{"error":{"message":"Incorrect API key provided: sk-test-secret"}}`), nil,
			"LLM endpoint rejected the API key (HTTP 401); builtin analysis used"},
		{"401 without a key", status(401, `{}`), func(c *LLMConfig) { c.APIKey = "" }, "LLM endpoint requires an API key (HTTP 401); builtin analysis used"},
		{"429", status(429, `{"error":{"message":"slow down"}}`), nil, "LLM endpoint rate limited the request (HTTP 429); builtin analysis used"},
		{"404 model", status(404, `{"error":{"message":"model \"nope\" not found, key sk-test-secret"}}`), nil,
			`LLM endpoint answered HTTP 404: model "nope" not found, key [redacted]; builtin analysis used`},
		{"garbage content", answerJSON("I believe the database is the culprit, but I cannot be sure."), nil,
			"LLM answer was not valid JSON; builtin analysis used"},
		{"schema-less JSON", answer(`{"analysis": "deploy", "score": 3}`), nil,
			"LLM answer did not match the report schema (no summary); builtin analysis used"},
		{"empty content", answerJSON(""), nil, "LLM answer was empty; builtin analysis used"},
		{"empty stream", answer(""), nil, "LLM answer was empty; builtin analysis used"},
		{"not a chat completion", status(200, `<html>proxy login</html>`), nil,
			"LLM endpoint answered something other than a chat completion; builtin analysis used"},
		{"no choices", status(200, `{"choices": []}`), nil, "LLM answer had no choices; builtin analysis used"},
		{"not configured", answer(goodAnswer), func(c *LLMConfig) { c.Model = "" },
			"LLM is not configured (a base URL and a model are required); builtin analysis used"},
	}
	plain := analyze(t, deployInput())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeLLM(t, tc.handle)
			r := runLLM(t, llmFor(f, tc.mod), deployInput())
			if r.FallbackReason != tc.reason {
				t.Fatalf("FallbackReason = %q, want %q", r.FallbackReason, tc.reason)
			}
			if r.Analyzer != AnalyzerBuiltin || r.Model != "" || r.Summary != plain.Summary || r.Causes[0].Title != plain.Causes[0].Title {
				t.Errorf("fallback report: %s", dump(r))
			}
			if strings.Contains(dump(r), "sk-test-secret") {
				t.Error("the API key leaked into the report")
			}
		})
	}
}

func TestLLMTimeout(t *testing.T) {
	f := newFakeLLM(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		answer(goodAnswer)(w, r)
	})
	start := time.Now()
	r := runLLM(t, llmFor(f, func(c *LLMConfig) { c.Timeout = 200 * time.Millisecond }), deployInput())
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("took %s", el)
	}
	if r.FallbackReason != "LLM timed out after 200ms; builtin analysis used" || r.Analyzer != AnalyzerBuiltin {
		t.Fatalf("report: %s", dump(r))
	}

	// The caller's own cancellation is an error, not a fallback.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := llmFor(f, nil).Analyze(ctx, deployInput()); err == nil {
		t.Error("a cancelled caller should get an error")
	}
}

func TestLLMUnreachable(t *testing.T) {
	f := newFakeLLM(t, answer(goodAnswer))
	url := f.URL
	f.Close()
	r := runLLM(t, NewLLM(LLMConfig{BaseURL: url + "/v1", Model: "m"}, nil), deployInput())
	if !strings.HasPrefix(r.FallbackReason, "LLM endpoint unreachable (") || strings.Contains(r.FallbackReason, url) {
		t.Errorf("reason = %q", r.FallbackReason)
	}
}

type failing struct{}

func (failing) Analyze(context.Context, Input) (*Report, error) { return nil, fmt.Errorf("no way") }

type canned struct{}

func (canned) Analyze(context.Context, Input) (*Report, error) {
	return &Report{Summary: "canned", Analyzer: "other"}, nil
}

func TestLLMCustomFallback(t *testing.T) {
	f := newFakeLLM(t, answer("nope"))
	cfg := LLMConfig{BaseURL: f.URL + "/v1", Model: "m"}
	r := runLLM(t, NewLLM(cfg, canned{}), deployInput())
	if r.Summary != "canned" || r.FallbackReason != "LLM answer was not valid JSON; other analysis used" {
		t.Errorf("report: %+v", r)
	}
	if _, err := NewLLM(cfg, failing{}).Analyze(context.Background(), deployInput()); err == nil || !strings.Contains(err.Error(), "no way") {
		t.Errorf("err = %v", err)
	}
}

func TestLLMAuthorizationOnlyWithKey(t *testing.T) {
	f := newFakeLLM(t, answer(goodAnswer))
	runLLM(t, llmFor(f, func(c *LLMConfig) { c.APIKey = "" }), deployInput())
	if auth := f.last(t).auth; auth != "" {
		t.Errorf("Authorization sent without a key: %q", auth)
	}
	runLLM(t, llmFor(f, func(c *LLMConfig) { c.APIKey = "ollama-key" }), deployInput())
	if auth := f.last(t).auth; auth != "Bearer ollama-key" {
		t.Errorf("Authorization = %q", auth)
	}
}

func TestLLMEvidenceTrimmed(t *testing.T) {
	in := deployInput()
	big := strings.Repeat("x", 3000)
	for i := 0; i < 300; i++ {
		in.Evidence = append(in.Evidence, sdk.Evidence{Kind: sdk.EvidenceLogEntry, ID: fmt.Sprintf("L%03d", i), Summary: "log entry " + big[:100],
			At: at(time.Duration(i) * time.Second), Data: []byte(fmt.Sprintf(`{"id":"L%03d","blob":%q}`, i, big))})
	}
	f := newFakeLLM(t, answer(goodAnswer))
	runLLM(t, llmFor(f, func(c *LLMConfig) { c.MaxEvidenceBytes = 16 << 10 }), in)
	body := f.last(t).body
	if len(body) > 32<<10 {
		t.Errorf("request is %d bytes", len(body))
	}
	var req struct{ Messages []struct{ Content string } }
	_ = json.Unmarshal(body, &req)
	user := req.Messages[1].Content
	// Change events go first; the log entries are what gets dropped.
	if !strings.Contains(user, `"id":"CE1"`) || !strings.Contains(user, "evidence items were omitted to fit the size limit") {
		t.Errorf("prompt: %.2000s", user)
	}

	// The default budget is 48 KiB.
	runLLM(t, llmFor(f, nil), in)
	if n := len(f.last(t).body); n < 40<<10 || n > 80<<10 {
		t.Errorf("default budget: request is %d bytes", n)
	}
}

func TestConfidence(t *testing.T) {
	tests := []struct {
		in   any
		want float64
	}{
		{0.73, 0.73}, {"0.73", 0.73}, {"73%", 0.73}, {73.0, 0.73}, {"73", 0.73}, {" 100 % ", 1}, {1.0, 1},
		{"High", 0.8}, {"very high", 0.9}, {"medium", 0.5}, {"LOW", 0.2}, {nil, 0.5}, {"unsure", 0.5},
		{-1.0, 0}, {500.0, 1}, {true, 0.5},
	}
	for _, tc := range tests {
		if got := confidence(tc.in); got != tc.want {
			t.Errorf("confidence(%#v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestLLMConfigHidesKey(t *testing.T) {
	cfg := LLMConfig{BaseURL: "https://api.openai.com/v1", Model: "gpt-4o-mini", APIKey: "sk-live-123"}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprint(cfg.LogValue())} {
		if strings.Contains(s, "sk-live-123") {
			t.Errorf("key shown: %s", s)
		}
	}
}
