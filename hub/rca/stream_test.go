package rca

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// sseEvents are the events of a streamed answer: the reasoning deltas (as
// reasoning_content, like DeepSeek and vLLM), then content in pieces of n
// runes, then a finish chunk and [DONE].
func sseEvents(reasoning []string, content string, n int) []string {
	ev := func(delta map[string]any, finish any) string {
		b, _ := json.Marshal(map[string]any{"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "test-model",
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}})
		return "data: " + string(b) + "\n\n"
	}
	out := []string{ev(map[string]any{"role": "assistant", "content": ""}, nil)}
	for _, r := range reasoning {
		out = append(out, ev(map[string]any{"reasoning_content": r}, nil))
	}
	runes := []rune(content)
	for i := 0; i < len(runes); i += n {
		out = append(out, ev(map[string]any{"content": string(runes[i:min(i+n, len(runes))])}, nil))
	}
	return append(out, ev(map[string]any{}, "stop"), "data: [DONE]\n\n")
}

// streamed writes events as a text/event-stream, in writes of split bytes
// (0: one write per event), so boundaries fall inside UTF-8 characters and
// JSON lines, flushing each and pausing between them.
func streamed(events []string, split int, pause time.Duration) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		fl := w.(http.Flusher)
		raw := strings.Join(events, "")
		var pieces []string
		if split <= 0 {
			pieces = events
		} else {
			for i := 0; i < len(raw); i += split {
				pieces = append(pieces, raw[i:min(i+split, len(raw))])
			}
		}
		for _, p := range pieces {
			if _, err := io.WriteString(w, p); err != nil {
				return
			}
			fl.Flush()
			if pause > 0 {
				select {
				case <-time.After(pause):
				case <-r.Context().Done():
					return
				}
			}
		}
	}
}

const streamedAnswer = `{"analysis_steps": ["Read the timeline: errors began at 10:00 — after the deploy.", "Checked the deploy of payments-api v2.3.1 at 09:56.", "Ruled out postgres-primary: no alert on it."],
 "summary": "The deploy of payments-api v2.3.1 broke its database connections — 数据库.",
 "causes": [{"title": "Deploy payments-api v2.3.1", "confidence": 0.85, "evidence_ids": ["CE1", "A1"]}, {"title": "Postgres", "confidence": 0.2, "evidence_ids": ["D1"]}],
 "next_steps": [{"title": "Roll back payments-api to v2.2.9", "type": "mitigation", "risk": "medium", "command": "kubectl -n payments rollout undo deploy/payments-api"},
   {"title": "Check connection errors", "type": "diagnostic", "risk": "safe", "command": "kubectl -n payments logs deploy/payments-api --since=15m"}, "Tell the checkout team"]}`

func TestLLMStreams(t *testing.T) {
	reasoning := []string{"The alerts say con", "nection refused. ", "That smells like the data", "base, but a deploy landed four minutes earlier. Ché", "cking it.\n\nShort. The deploy is the likeliest cause"}
	for _, split := range []int{0, 1, 5, 64} {
		t.Run(fmt.Sprintf("split %d", split), func(t *testing.T) {
			f := newFakeLLM(t, streamed(sseEvents(reasoning, streamedAnswer, 5), split, 0))
			in := deployInput()
			var thoughts []string
			in.Think = func(th Thought) { thoughts = append(thoughts, th.Content) }
			r := runLLM(t, llmFor(f, nil), in)
			if r.Analyzer != AnalyzerLLM || r.FallbackReason != "" {
				t.Fatalf("fell back: %q", r.FallbackReason)
			}
			if !strings.HasSuffix(r.Summary, "数据库.") || r.Causes[0].Title != "Deploy payments-api v2.3.1" {
				t.Errorf("report: %s", dump(r))
			}
			checkFindings(t, r)
			if !strings.HasPrefix(r.Markdown, r.Summary+" [1, 2]") || r.Citations[0].Command == "" || !strings.Contains(r.Citations[0].Output, "v2.3.1") {
				t.Errorf("markdown %q citations %+v", r.Markdown, r.Citations)
			}
			if s := r.Suggestions[0]; s.Type != "mitigation" || s.Risk != "medium" || s.Command != "kubectl -n payments rollout undo deploy/payments-api" {
				t.Errorf("suggestions: %+v", r.Suggestions)
			}
			want := []string{
				"Asking the model test-model to analyse the incident and 10 evidence items.",
				"The alerts say connection refused.",
				"That smells like the database, but a deploy landed four minutes earlier.",
				"Chécking it.",
				"Short. The deploy is the likeliest cause",
				"Read the timeline: errors began at 10:00 — after the deploy.",
				"Checked the deploy of payments-api v2.3.1 at 09:56.",
				"Ruled out postgres-primary: no alert on it.",
				"Most likely cause: Deploy payments-api v2.3.1 (confidence 85%).",
			}
			if len(thoughts) < len(want) || strings.Join(thoughts[:len(want)], "\n") != strings.Join(want, "\n") {
				t.Errorf("thoughts:\n%s\nwant:\n%s", strings.Join(thoughts, "\n"), strings.Join(want, "\n"))
			}
			for _, th := range thoughts {
				if !utf8.ValidString(th) {
					t.Errorf("thought is not UTF-8: %q", th)
				}
			}
			var body struct{ Stream bool }
			if json.Unmarshal(f.last(t).body, &body) != nil || !body.Stream {
				t.Errorf("request did not ask to stream: %s", f.last(t).body)
			}
		})
	}
}

// Thoughts arrive while the answer still streams, not at its end.
func TestLLMThoughtsAsTheyArrive(t *testing.T) {
	gate := make(chan struct{})
	events := sseEvents([]string{"First I read the alerts carefully. ", "Then the deploys."}, goodAnswer, 50)
	f := newFakeLLM(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i, e := range events {
			io.WriteString(w, e)
			w.(http.Flusher).Flush()
			if i == 1 { // the first reasoning chunk is out: wait for its thought
				select {
				case <-gate:
				case <-time.After(5 * time.Second):
					return
				}
			}
		}
	})
	in := deployInput()
	in.Think = func(th Thought) {
		if th.Content == "First I read the alerts carefully." {
			close(gate)
		}
	}
	r := runLLM(t, llmFor(f, nil), in)
	if r.Analyzer != AnalyzerLLM {
		t.Fatalf("fell back: %q (the thought came only after the stream)", r.FallbackReason)
	}
}

func TestLLMStreamFailures(t *testing.T) {
	good := sseEvents(nil, goodAnswer, 9)
	tests := []struct {
		name   string
		handle func(http.ResponseWriter, *http.Request)
		reason string
	}{
		{"error event", streamed(append(good[:3:3], `data: {"error":{"message":"model overloaded, key sk-test-secret","type":"server_error"}}`+"\n\n"), 0, 0),
			"LLM stream failed: model overloaded, key [redacted]"},
		{"cut short", streamed(good[:len(good)/2], 3, 0), "LLM answer did not match the report schema (no summary)"},
		{"nothing but keep-alives", streamed([]string{": ping\n\n", ": ping\n\n"}, 0, 0), "LLM stream ended before an answer"},
		{"chunk not JSON", streamed(append(good[:2:2], "data: {\"choices\": [\n\n"), 0, 0), "LLM stream sent a chunk that is not JSON"},
		{"429 before streaming", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "20")
			w.WriteHeader(429)
			io.WriteString(w, `{"error":{"message":"Rate limit reached","type":"requests"}}`)
		}, "LLM endpoint rate limited the request (HTTP 429)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeLLM(t, tc.handle)
			in := deployInput()
			var thoughts []string
			in.Think = func(th Thought) { thoughts = append(thoughts, th.Content) }
			r := runLLM(t, llmFor(f, nil), in)
			if r.FallbackReason != tc.reason+"; builtin analysis used" || r.Analyzer != AnalyzerBuiltin {
				t.Fatalf("FallbackReason = %q, want %q", r.FallbackReason, tc.reason)
			}
			checkFindings(t, r)
			all := strings.Join(thoughts, "\n")
			if !strings.Contains(all, "falling back to the builtin analysis") || !strings.Contains(all, "Checking change events") {
				t.Errorf("thoughts: %s", all)
			}
			if strings.Contains(all+dump(r), "sk-test-secret") {
				t.Error("the API key leaked")
			}
		})
	}
}

// A stream slower than the timeout falls back.
func TestLLMStreamTimeout(t *testing.T) {
	f := newFakeLLM(t, streamed(sseEvents(nil, goodAnswer, 20), 0, 50*time.Millisecond))
	r := runLLM(t, llmFor(f, func(c *LLMConfig) { c.Timeout = 300 * time.Millisecond }), deployInput())
	if r.FallbackReason != "LLM timed out after 300ms; builtin analysis used" {
		t.Fatalf("FallbackReason = %q", r.FallbackReason)
	}
	if _, err := llmFor(f, nil).Analyze(canceled(), deployInput()); err == nil {
		t.Error("a cancelled caller should get an error")
	}
}

func TestSentences(t *testing.T) {
	var got []string
	s := sentences{emit: func(x string) { got = append(got, x) }}
	for _, piece := range []string{"Hi. ", "This is long enough to say. And", " so is this one here! Tiny? ", strings.Repeat("word ", 100)} {
		s.add(piece)
	}
	s.flush()
	if len(got) < 4 || got[0] != "Hi. This is long enough to say." || got[1] != "And so is this one here!" {
		t.Errorf("sentences = %q", got)
	}
	for _, g := range got {
		if len(g) > maxThought {
			t.Errorf("thought of %d bytes", len(g))
		}
	}
}
