package correlation

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// deps: checkout -> payments-api -> postgres-primary -> storage; search alone.
var deps = NewGraph([][2]string{
	{"PCHK", "PPAY"},
	{"PPAY", "PPG"},
	{"PPG", "PSTORE"},
	{"PSTORE", "PDISK"},
})

func pd(id, svcID, svcName, title string, startedAt time.Time) Candidate {
	return Candidate{ID: id, Provider: "pagerduty", ServiceID: svcID, ServiceName: svcName, Title: title, StartedAt: startedAt}
}

func TestBestScenarios(t *testing.T) {
	incomingAt := at(15 * time.Minute)
	tests := []struct {
		name     string
		incoming Candidate
		open     []Candidate
		wantOK   bool
		wantID   string // "" when no eligible candidate
		check    func(t *testing.T, s Score)
	}{
		{
			name: "same key alone passes even at the window's edge",
			incoming: Candidate{ID: "in", Provider: "pagerduty", ServiceID: "PSEARCH", ServiceName: "search",
				IncidentKey: "grp/disk-full", Title: "Search index stale", StartedAt: incomingAt},
			open: []Candidate{{ID: "a", Provider: "pagerduty", ServiceID: "PPAY", ServiceName: "payments-api",
				DedupKeys: []string{"x", "grp/disk-full"}, Title: "Card declines spiking", StartedAt: at(30 * time.Second)}},
			wantOK: true, wantID: "a",
			check: func(t *testing.T, s Score) {
				if s.Parts.SameKey != 1 || s.Parts.SameService != 0 || s.Parts.Dependency != 0 {
					t.Errorf("parts = %+v", s.Parts)
				}
			},
		},
		{
			name:     "same service, similar title, close in time passes",
			incoming: pd("in", "PPAY", "payments-api", "High latency on pod-7f9c", incomingAt),
			open:     []Candidate{pd("a", "PPAY", "payments-api", "High latency on pod-1a2b", at(13*time.Minute))},
			wantOK:   true, wantID: "a",
			check: func(t *testing.T, s Score) {
				if s.Parts.Title != 1 || s.Parts.SameService != 1 || s.Total < 0.9 {
					t.Errorf("score = %+v", s)
				}
			},
		},
		{
			name:     "same service, unrelated title, at the window's edge does not pass",
			incoming: pd("in", "PPAY", "payments-api", "Disk almost full on /var", incomingAt),
			open:     []Candidate{pd("a", "PPAY", "payments-api", "Certificate expires soon", at(5*time.Second))},
			wantOK:   false, wantID: "a",
		},
		{
			name:     "same service, unrelated title, a minute apart passes (alert storm)",
			incoming: pd("in", "PPAY", "payments-api", "Disk almost full on /var", incomingAt),
			open:     []Candidate{pd("a", "PPAY", "payments-api", "Certificate expires soon", at(14*time.Minute))},
			wantOK:   true, wantID: "a",
		},
		{
			name:     "unrelated services at the same minute stay separate",
			incoming: pd("in", "PSEARCH", "search", "Search index stale", incomingAt),
			open:     []Candidate{pd("a", "PPAY", "payments-api", "High error rate", incomingAt.Add(-20*time.Second))},
			wantOK:   false, wantID: "a",
		},
		{
			name:     "unrelated services with identical titles at the same second stay separate",
			incoming: pd("in", "PSEARCH", "search", "High CPU usage", incomingAt),
			open:     []Candidate{pd("a", "PPAY", "payments-api", "High CPU usage", incomingAt)},
			wantOK:   false, wantID: "a",
		},
		{
			name:     "dependency neighbour with a similar title passes",
			incoming: pd("in", "PPAY", "payments-api", "Database connection errors on payments-api", incomingAt),
			open:     []Candidate{pd("a", "PPG", "postgres-primary", "Database connection errors on postgres-primary", at(10*time.Minute))},
			wantOK:   true, wantID: "a",
			check: func(t *testing.T, s Score) {
				if s.Parts.Dependency != 1 || s.Parts.SameService != 0 {
					t.Errorf("parts = %+v", s.Parts)
				}
			},
		},
		{
			name:     "dependency neighbour with a similar title passes even at the window's edge",
			incoming: pd("in", "PPAY", "payments-api", "Connection pool exhausted on payments-api", incomingAt),
			open:     []Candidate{pd("a", "PPG", "postgres-primary", "postgres-primary: connection pool exhausted", at(5*time.Second))},
			wantOK:   true, wantID: "a",
		},
		{
			name:     "direct dependency a minute apart passes with an unrelated title",
			incoming: pd("in", "PPAY", "payments-api", "Checkout payments failing", incomingAt),
			open:     []Candidate{pd("a", "PPG", "postgres-primary", "Replication lag above threshold", at(14*time.Minute))},
			wantOK:   true, wantID: "a",
		},
		{
			name:     "two hops with an unrelated title does not pass",
			incoming: pd("in", "PCHK", "checkout", "Checkout page slow", incomingAt),
			open:     []Candidate{pd("a", "PPG", "postgres-primary", "Replication lag above threshold", at(14*time.Minute))},
			wantOK:   false, wantID: "a",
			check: func(t *testing.T, s Score) {
				if s.Parts.Dependency != 0.5 {
					t.Errorf("dependency = %v, want 0.5", s.Parts.Dependency)
				}
			},
		},
		{
			name:     "four hops is no dependency",
			incoming: pd("in", "PCHK", "checkout", "Checkout page slow", incomingAt),
			open:     []Candidate{pd("a", "PDISK", "disk", "Checkout page slow", at(14*time.Minute))},
			wantOK:   false, wantID: "a",
			check: func(t *testing.T, s Score) {
				if s.Parts.Dependency != 0 {
					t.Errorf("dependency = %v, want 0", s.Parts.Dependency)
				}
			},
		},
		{
			name: "cross-provider: alertmanager label and pagerduty service name correlate",
			incoming: Candidate{ID: "am", Provider: "alertmanager", ServiceID: "payments-api", ServiceName: "payments-api",
				IncidentKey: `{}:{alertname="PaymentsHighErrorRate"}`, Title: "Payments API 5xx rate above 5%", StartedAt: incomingAt},
			open: []Candidate{
				pd("pd", "PX7Q2ZB", "Payments API", "High 5xx error rate on payments-api", at(12*time.Minute)),
				pd("other", "PSEARCH", "search", "Search index stale", at(14*time.Minute)),
			},
			wantOK: true, wantID: "pd",
			check: func(t *testing.T, s Score) {
				if s.Parts.SameService != 1 {
					t.Errorf("sameService = %v", s.Parts.SameService)
				}
			},
		},
		{
			name:     "same service id in different providers is not enough by itself",
			incoming: Candidate{ID: "in", Provider: "alertmanager", ServiceID: "P1", ServiceName: "search", Title: "x", StartedAt: incomingAt},
			open:     []Candidate{{ID: "a", Provider: "pagerduty", ServiceID: "P1", ServiceName: "payments-api", Title: "y", StartedAt: incomingAt}},
			wantOK:   false, wantID: "a",
		},
		{
			name:     "outside the window, in the future, without a start time or itself: no candidate",
			incoming: pd("in", "PPAY", "payments-api", "High latency", incomingAt),
			open: []Candidate{
				pd("old", "PPAY", "payments-api", "High latency", incomingAt.Add(-15*time.Minute-time.Second)),
				pd("future", "PPAY", "payments-api", "High latency", incomingAt.Add(time.Second)),
				pd("zero", "PPAY", "payments-api", "High latency", time.Time{}),
				pd("in", "PPAY", "payments-api", "High latency", incomingAt),
			},
			wantOK: false, wantID: "",
		},
		{
			name:     "a candidate at exactly the same time is eligible",
			incoming: pd("in", "PPAY", "payments-api", "High latency", incomingAt),
			open:     []Candidate{pd("a", "PPAY", "payments-api", "High latency", incomingAt)},
			wantOK:   true, wantID: "a",
			check: func(t *testing.T, s Score) {
				if s.Total != 1 || s.Parts.Time != 1 {
					t.Errorf("score = %+v", s)
				}
			},
		},
		{
			name:     "the better of two is chosen",
			incoming: pd("in", "PPAY", "payments-api", "High latency on pod-7f9c", incomingAt),
			open: []Candidate{
				pd("dep", "PPG", "postgres-primary", "Replication lag", at(14*time.Minute)),
				pd("same", "PPAY", "payments-api", "High latency on pod-1a2b", at(10*time.Minute)),
			},
			wantOK: true, wantID: "same",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, ok := Best(Config{}, deps, tc.incoming, tc.open)
			t.Logf("score %.3f parts %+v", s.Total, s.Parts)
			if ok != tc.wantOK || s.CandidateID != tc.wantID {
				t.Fatalf("Best = %+v, %v; want candidate %q, ok %v", s, ok, tc.wantID, tc.wantOK)
			}
			if s.Total < 0 || s.Total > 1 {
				t.Errorf("total %v out of [0,1]", s.Total)
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}

// TestAlertStorm replays 50 alerts on one service within 5 minutes, mixed
// with alerts of unrelated services, the way the pipeline does: an incident
// that correlates is attached (not open), one that does not becomes open.
func TestAlertStorm(t *testing.T) {
	titles := []string{
		"High latency on pod-%04x", "HTTP 5xx rate above %d%%", "Error budget burn on payments-api (%d)",
		"Pod payments-api-%x restarting", "Queue depth high (%d)",
	}
	var open []Candidate
	noise := []Candidate{
		pd("noise-search", "PSEARCH", "search", "Search index stale", at(-time.Minute)),
		pd("noise-mail", "PMAIL", "mailer", "SMTP relay rejecting mail", at(0)),
	}
	open = append(open, noise...)
	var first string
	for i := 0; i < 50; i++ {
		c := Candidate{
			ID: fmt.Sprintf("storm-%02d", i), Provider: []string{"pagerduty", "alertmanager"}[i%2],
			ServiceID:   []string{"PPAY", "payments-api"}[i%2],
			ServiceName: "payments-api",
			Title:       fmt.Sprintf(titles[i%len(titles)], 0x1000+i*7919),
			StartedAt:   at(time.Duration(i) * 6 * time.Second), // 49*6s = 4m54s
		}
		s, ok := Best(Config{}, deps, c, open)
		if i == 0 {
			if ok {
				t.Fatalf("first alert correlated to %+v", s)
			}
			first = c.ID
			open = append(open, c)
			continue
		}
		if !ok || s.CandidateID != first {
			t.Fatalf("alert %d: Best = %+v, %v; want %s", i, s, ok, first)
		}
	}
	// With several same-service candidates open, the closest in time wins
	// and exact ties go to the smallest id; noise never wins.
	all := append([]Candidate{}, noise...)
	for i := 0; i < 3; i++ {
		all = append(all, pd(fmt.Sprintf("dup-%d", 2-i), "PPAY", "payments-api", "High latency", at(time.Minute)))
	}
	all = append(all, pd("earliest", "PPAY", "payments-api", "High latency", at(30*time.Second)))
	s, ok := Best(Config{Window: time.Hour}, deps, pd("in", "PPAY", "payments-api", "High latency", at(10*time.Hour/10)), all)
	if !ok || s.CandidateID != "dup-0" {
		t.Fatalf("Best = %+v, %v; want dup-0 (most recent, then smallest id)", s, ok)
	}
}

func TestDeterministicOrder(t *testing.T) {
	incoming := pd("in", "PPAY", "payments-api", "High latency", at(5*time.Minute))
	var open []Candidate
	for i := 0; i < 20; i++ {
		// Identical candidates but for their ids: the tie goes to the smallest.
		open = append(open, pd(fmt.Sprintf("c%02d", 19-i), "PPAY", "payments-api", "High latency", at(time.Minute)))
	}
	want, _ := Best(Config{}, deps, incoming, open)
	if want.CandidateID != "c00" {
		t.Fatalf("tie went to %s", want.CandidateID)
	}
	r := rand.New(rand.NewSource(1))
	for n := 0; n < 20; n++ {
		r.Shuffle(len(open), func(i, j int) { open[i], open[j] = open[j], open[i] })
		if got, _ := Best(Config{}, deps, incoming, open); got != want {
			t.Fatalf("shuffled: %+v, want %+v", got, want)
		}
	}
	ranked := Rank(Config{}, deps, incoming, open)
	if len(ranked) != 20 || ranked[0] != want || ranked[19].CandidateID != "c19" {
		t.Fatalf("Rank = %+v", ranked)
	}
}

func TestTitleSimilarity(t *testing.T) {
	tests := []struct {
		a, b     string
		min, max float64
	}{
		{"High latency on pod-7f9c", "High latency on pod-1a2b", 1, 1},
		{"CPU at 97% on host 10.0.3.4", "CPU at 91% on host 10.0.9.12", 1, 1},
		{"High latency on payments-api", "High latency on payment-api", 0.5, 0.99},
		{"High latency on payments-api", "Disk full on search", 0, 0.15},
		{"", "High latency", 0, 0},
		{"12345", "12345", 0, 0},
	}
	for _, tc := range tests {
		got := TitleSimilarity(tc.a, tc.b)
		if got < tc.min || got > tc.max {
			t.Errorf("TitleSimilarity(%q, %q) = %.3f, want [%v, %v]", tc.a, tc.b, got, tc.min, tc.max)
		}
		if back := TitleSimilarity(tc.b, tc.a); back != got {
			t.Errorf("not symmetric: %v vs %v", got, back)
		}
	}
	if got := strings.Join(TitleTokens("High latency on pod-7f9c (v2.3.1)"), " "); got != "high latency pod" {
		t.Errorf("TitleTokens = %q", got)
	}
}

func TestGraph(t *testing.T) {
	tests := []struct {
		from, to string
		hops     int
		ok       bool
	}{
		{"PPAY", "PPAY", 0, true},
		{"PPAY", "PPG", 1, true},
		{"PPG", "PPAY", 1, true},
		{"PCHK", "PPG", 2, true},
		{"PCHK", "PSTORE", 3, true},
		{"PCHK", "PDISK", 0, false},
		{"PPAY", "PNONE", 0, false},
		{"", "PPAY", 0, false},
	}
	for _, tc := range tests {
		hops, ok := deps.Distance(tc.from, tc.to)
		if hops != tc.hops || ok != tc.ok {
			t.Errorf("Distance(%s, %s) = %d, %v; want %d, %v", tc.from, tc.to, hops, ok, tc.hops, tc.ok)
		}
	}
	// A nil graph means no dependency information.
	s, _ := Best(Config{}, nil, pd("in", "PPAY", "payments-api", "x", at(0)), []Candidate{pd("a", "PPG", "pg", "y", at(0))})
	if s.Parts.Dependency != 0 {
		t.Errorf("nil graph: %+v", s)
	}
}

func TestConfig(t *testing.T) {
	if NormalizeServiceName("  Payments_API ") != "payments-api" || NormalizeServiceName("payments--api") != "payments-api" {
		t.Error("NormalizeServiceName")
	}
	incoming := pd("in", "PPAY", "payments-api", "Disk full", at(30*time.Minute))
	open := []Candidate{pd("a", "PPAY", "payments-api", "Certificate expiring", at(0))}
	if _, ok := Best(Config{}, deps, incoming, open); ok {
		t.Fatal("default window should exclude a 30 minute old candidate")
	}
	if s, ok := Best(Config{Window: time.Hour, Threshold: 0.5}, deps, incoming, open); !ok || s.Parts.Time != 0.5 {
		t.Fatalf("custom window: %+v %v", s, ok)
	}
	// Custom weights: only the title counts.
	s, ok := Best(Config{Window: time.Hour, Weights: Parts{Title: 1}}, deps, incoming, open)
	if ok || s.Total != 0 {
		t.Fatalf("custom weights: %+v %v", s, ok)
	}
	b, _ := json.Marshal(Score{Total: 0.8, CandidateID: "a", Parts: Parts{SameKey: 1}})
	if want := `{"total":0.8,"parts":{"sameService":0,"dependency":0,"sameKey":1,"title":0,"time":0},"candidateId":"a"}`; string(b) != want {
		t.Errorf("json = %s", b)
	}
}
