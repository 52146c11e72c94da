package rca

// The written report: the generic cause when nothing stands out, the
// summary, the next steps and the runbook link.

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/correlation"
	"github.com/aurora-hub/aurora-hub/sdk"
)

func (a *analysis) genericCause() finding {
	lines := []string{"No change event, dependency alert, repeated error or similar incident was found in the evidence"}
	if len(a.in.Evidence) == 0 {
		lines = []string{"No evidence was gathered for this incident"}
	}
	return finding{cause: Cause{
		Title:      "No specific cause found in the available evidence",
		Confidence: round2(genericConfidence * a.penalty),
		Evidence:   append(lines, a.noteLines()...),
	}}
}

func (a *analysis) noteLines() []string {
	var out []string
	for _, n := range nonEmpty(a.in.Notes) {
		out = append(out, "Missing evidence: "+snippet(n))
	}
	return out
}

func (a *analysis) summary(causes []Cause, generic bool) string {
	subject, svc := "The incident", a.incidentService()
	if t := strings.TrimSpace(a.inc.Title); t != "" {
		subject = quote(t)
	}
	if !strings.Contains(strings.ToLower(subject), strings.ToLower(svc)) {
		subject += " on " + svc
	}
	if !a.trigger.IsZero() {
		subject += " (triggered " + clock(a.trigger) + ")"
	}
	top := causes[0]
	var s string
	if generic {
		s = subject + ": no specific cause stands out in the available evidence."
	} else {
		s = fmt.Sprintf("%s: most likely cause: %s (confidence %d%%).", subject, top.Title, int(math.Round(top.Confidence*100)))
	}
	notes := nonEmpty(a.in.Notes)
	switch {
	case len(notes) > 0:
		more := ""
		if len(notes) > 1 {
			more = fmt.Sprintf(" and %d more", len(notes)-1)
		}
		s += fmt.Sprintf(" Confidence is lower because some evidence could not be gathered (%s%s).", strings.TrimSuffix(snippet(notes[0]), "."), more)
	case len(causes) > 1 && causes[1].Confidence >= 0.4:
		s += " Also consider: " + causes[1].Title + "."
	}
	return s
}

func (a *analysis) nextSteps(runbook string, found []finding, generic bool) []string {
	var steps []string
	seen := map[string]bool{}
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			steps = append(steps, s)
		}
	}
	if runbook != "" {
		add("Follow the runbook: " + runbook)
	}
	for i, f := range found {
		if i == 4 {
			break
		}
		add(f.step)
	}
	if generic {
		at := ""
		if !a.trigger.IsZero() {
			at = " around " + clock(a.trigger)
		}
		add(fmt.Sprintf("Check the dashboards, logs and recent deploys of %s%s.", a.incidentService(), at))
		add("Check the health of the services it depends on.")
	}
	if notes := nonEmpty(a.in.Notes); len(notes) > 0 {
		add("Fill the gaps in the evidence, then analyse again: " + strings.Join(notes, "; "))
	}
	return steps
}

// runbookFields are the custom field names (normalised) of a runbook link.
var runbookFields = []string{"runbook_link", "runbook_url", "runbook"}

func (a *analysis) runbookURL() string {
	type field struct {
		name  string
		value []byte
	}
	var fields []field
	for _, f := range a.inc.CustomFields {
		fields = append(fields, field{f.Name, f.ValueJSON}, field{f.ID, f.ValueJSON})
	}
	for _, ev := range a.in.Evidence {
		if ev.Kind != sdk.EvidenceCustomField {
			continue
		}
		m := object(ev.Data)
		for _, k := range []string{"name", "display_name", "id"} {
			fields = append(fields, field{str(m[k]), m["value"]})
		}
	}
	for _, want := range runbookFields {
		for _, f := range fields {
			if fieldName(f.name) != want {
				continue
			}
			if u := linkValue(f.value); u != "" {
				return u
			}
		}
	}
	return ""
}

func fieldName(s string) string {
	return strings.ReplaceAll(correlation.NormalizeServiceName(s), "-", "_")
}

// linkValue is an http(s) URL from a JSON string (or the first of a list).
func linkValue(raw []byte) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	var cands []string
	switch x := v.(type) {
	case string:
		cands = []string{x}
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok {
				cands = append(cands, s)
			}
		}
	}
	for _, c := range cands {
		if u := hub.SafeURL(c); u != "" {
			return u
		}
	}
	return ""
}
