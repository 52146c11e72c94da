package webhooks

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/hashicorp/go-hclog"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines returns the JSON log lines written so far.
func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestRejectLogIsBounded(t *testing.T) {
	const every = 200 * time.Millisecond
	buf := &syncBuffer{}
	l := newRejectLog(hclog.New(&hclog.LoggerOptions{Output: buf, JSONFormat: true}), every)
	sig := rejection{provider: "pagerduty", reason: "unauthenticated", userID: strings.Repeat("u", 500),
		header:      map[string][]string{"X-Webhook-Id": {"d1"}, "X-Pagerduty-Signature": {"v1=secretish"}},
		connections: []string{"c1"}, err: hub.Errorf(hub.EUnauthorized, "Invalid webhook signature")}
	unknown := rejection{provider: "pagerduty", reason: "unknown_user", userID: "nobody", err: hub.Errorf(hub.ENotFound, "not connected")}

	// A burst: the first is logged at once, the rest only counted.
	for i := range 10_000 {
		if i%4 == 0 {
			l.add(unknown)
		} else {
			l.add(sig)
		}
	}
	lines := buf.lines(t)
	if len(lines) != 1 || lines[0]["@message"] != "webhook rejected" || lines[0]["reason"] != "unknown_user" {
		t.Fatalf("after the burst: %v", lines)
	}
	// One summary when the interval ends, with counts per reason and a sample.
	deadline := time.Now().Add(5 * time.Second)
	for len(buf.lines(t)) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	lines = buf.lines(t)
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %v", lines)
	}
	sum := lines[1]
	byReason, _ := sum["by_reason"].(map[string]any)
	if sum["@message"] != "webhooks rejected" || sum["rejected"] != float64(9_999) ||
		byReason["pagerduty/unauthenticated"] != float64(7_500) || byReason["pagerduty/unknown_user"] != float64(2_499) {
		t.Fatalf("summary = %v", sum)
	}
	if sum["sample_reason"] != "unauthenticated" || len(sum["sample_user_id"].(string)) > maxSampleValue+len("…") || sum["sample_delivery_id"] != "d1" {
		t.Fatalf("summary sample = %v", sum)
	}
	if strings.Contains(buf.b.String(), "secretish") {
		t.Fatal("a signature reached the log")
	}
	if got := l.Totals(); got["pagerduty/unauthenticated"] != 7_500 || got["pagerduty/unknown_user"] != 2_500 {
		t.Fatalf("totals = %v", got)
	}

	// After a quiet interval the next rejection is logged at once again.
	time.Sleep(every + 50*time.Millisecond)
	l.add(sig)
	if lines = buf.lines(t); len(lines) != 3 || lines[2]["@message"] != "webhook rejected" || lines[2]["total_rejected"] != float64(7_501) {
		t.Fatalf("after a quiet interval: %v", lines[2:])
	}
}

func TestBounded(t *testing.T) {
	tests := []struct{ in, want string }{
		{"short", "short"},
		{strings.Repeat("a", maxSampleValue), strings.Repeat("a", maxSampleValue)},
		{strings.Repeat("a", maxSampleValue+1), strings.Repeat("a", maxSampleValue) + "…"},
		{strings.Repeat("a", maxSampleValue-1) + "é", strings.Repeat("a", maxSampleValue-1) + "…"},
	}
	for _, tt := range tests {
		if got := bounded(tt.in); got != tt.want {
			t.Errorf("bounded(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
