package rca

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/aurora-hub/aurora-hub/hub"
)

var markerRE = regexp.MustCompile(`\[(\d+(?:,\s*\d+)*)\]`)

// checkFindings: every [n] of the markdown names a citation, citations are
// keyed 1..n in order of first mention and all are cited, suggestions carry
// Aurora's types and risks.
func checkFindings(t *testing.T, r *Report) {
	t.Helper()
	keys := map[string]bool{}
	for i, c := range r.Citations {
		if c.Key != fmt.Sprint(i+1) || c.ToolName == "" || c.Command == "" || c.Output == "" {
			t.Errorf("citation %d = %+v", i, c)
		}
		keys[c.Key] = true
	}
	cited := map[string]bool{}
	next := 1
	for _, m := range markerRE.FindAllStringSubmatch(r.Markdown, -1) {
		for _, k := range strings.Split(m[1], ",") {
			k = strings.TrimSpace(k)
			if !keys[k] {
				t.Errorf("marker [%s] names no citation in %q", k, r.Markdown)
			}
			if !cited[k] {
				if k != fmt.Sprint(next) {
					t.Errorf("citation %s first cited before %d", k, next)
				}
				cited[k] = true
				next++
			}
		}
	}
	if len(cited) != len(keys) {
		t.Errorf("%d citations, %d cited", len(keys), len(cited))
	}
	if len(r.Suggestions) == 0 {
		t.Error("no suggestions")
	}
	for _, s := range r.Suggestions {
		if !validType[s.Type] || !validRisk[s.Risk] || s.Title == "" {
			t.Errorf("suggestion %+v", s)
		}
	}
}

func TestBuiltinThoughtsCitationsSuggestions(t *testing.T) {
	in := deployInput()
	var thoughts []Thought
	in.Think = func(th Thought) { thoughts = append(thoughts, th) }
	r := analyze(t, in)
	checkFindings(t, r)
	if len(r.Citations) == 0 || !strings.HasPrefix(r.Markdown, r.Summary+" [1") {
		t.Errorf("summary not cited: %q", r.Markdown)
	}
	if c := r.Citations[0]; c.ToolName != "pagerduty" || !strings.HasPrefix(c.Command, "GET /services/PPAY/change_events?since=") ||
		!strings.Contains(c.Output, "Deploy payments-api v2.3.1") {
		t.Errorf("first citation = %+v", c)
	}
	all := ""
	for _, th := range thoughts {
		if th.Content == "" || th.Type == "" {
			t.Errorf("thought %+v", th)
		}
		all += th.Content + "\n"
	}
	for _, want := range []string{"Reading the incident", "Checking change events", "Found: Deploy of payments-api", "Most likely cause: Deploy", "Writing the summary"} {
		if !strings.Contains(all, want) {
			t.Errorf("thoughts lack %q:\n%s", want, all)
		}
	}
	if len(thoughts) < 8 {
		t.Errorf("%d thoughts", len(thoughts))
	}
	// Without a listener the report is the same.
	in.Think = nil
	q := analyze(t, in)
	if q.Markdown != r.Markdown || len(q.Citations) != len(r.Citations) {
		t.Error("thinking changed the report")
	}
}

func TestSuggestionOf(t *testing.T) {
	tests := []struct {
		step, typ, risk, cmd        string
		wantType, wantRisk, wantCmd string
	}{
		{"Check the deploy \"v2\" on api: roll back if the errors started with it.", "", "", "", hub.SuggestionMitigation, hub.RiskMedium, ""},
		{"Inspect postgres-primary: its alerts may be where this incident started.", "", "", "", hub.SuggestionDiagnostic, hub.RiskSafe, ""},
		{"Run `kubectl -n pay get pods` to see restarts", "", "", "", hub.SuggestionDiagnostic, hub.RiskSafe, "kubectl -n pay get pods"},
		{"Post a status update to #incidents", "", "", "", hub.SuggestionCommunication, hub.RiskSafe, ""},
		{"Roll back", "REMEDIATE", "high", "kubectl rollout undo deploy/api", hub.SuggestionRemediate, hub.RiskHigh, "kubectl rollout undo deploy/api"},
		{"Do it", "fix", "extreme", "", hub.SuggestionDiagnostic, hub.RiskSafe, ""},
	}
	for _, tt := range tests {
		s := suggestionOf(tt.step, tt.typ, tt.risk, tt.cmd)
		if s.Type != tt.wantType || s.Risk != tt.wantRisk || s.Command != tt.wantCmd {
			t.Errorf("suggestionOf(%q) = %+v", tt.step, s)
		}
	}
}

func TestThinkNilSafe(t *testing.T) {
	if _, err := NewBuiltin().Analyze(context.Background(), Input{}); err != nil {
		t.Fatal(err)
	}
}
