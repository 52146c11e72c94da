package rca

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/correlation"
	"github.com/aurora-hub/aurora-hub/sdk"
)

// Limits of the builtin analysis.
const (
	changeWindow      = time.Hour
	maxCauses         = 8
	maxChangeCauses   = 3
	maxSimilarCauses  = 2
	maxTimelineGroup  = 20
	maxRelated        = 10
	maxEvidenceLines  = 8
	maxSnippet        = 160
	notePenaltyEach   = 0.1
	notePenaltyMax    = 0.3
	genericConfidence = 0.1
)

// NewBuiltin returns the heuristic analyzer: no network, and the same
// report (but for GeneratedAt) for the same input.
func NewBuiltin() Analyzer { return &builtin{now: time.Now} }

type builtin struct{ now func() time.Time }

func (b *builtin) Analyze(ctx context.Context, in Input) (*Report, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a := newAnalysis(in)
	r := a.report()
	normalize(r)
	r.GeneratedAt = b.now().UTC()
	findings(r, &a.in)
	a.in.think(hub.ThoughtAnalysis, "Writing the summary with %d %s and %d next %s.",
		len(r.Citations), plural(len(r.Citations), "citation"), len(r.Suggestions), plural(len(r.Suggestions), "step"))
	return r, nil
}

// evidenceCounts says how much of each kind of evidence there is.
func evidenceCounts(evs []sdk.Evidence) string {
	names := map[string][2]string{
		sdk.EvidenceAlert: {"alert", "alerts"}, sdk.EvidenceLogEntry: {"log entry", "log entries"},
		sdk.EvidenceChangeEvent: {"change event", "change events"}, sdk.EvidenceDependency: {"dependency", "dependencies"},
		sdk.EvidenceCustomField: {"custom field", "custom fields"}, sdk.EvidenceRelatedIncident: {"related incident", "related incidents"},
		sdk.EvidencePastIncident: {"past incident", "past incidents"},
	}
	n := map[string]int{}
	var order []string
	for _, ev := range evs {
		if n[ev.Kind] == 0 {
			order = append(order, ev.Kind)
		}
		n[ev.Kind]++
	}
	var parts []string
	for _, k := range order {
		w, ok := names[k]
		if !ok {
			w = [2]string{k, k}
		}
		word := w[1]
		if n[k] == 1 {
			word = w[0]
		}
		parts = append(parts, fmt.Sprintf("%d %s", n[k], word))
	}
	return listNames(parts)
}

type analysis struct {
	in      Input
	inc     *hub.IncidentDetail
	trigger time.Time
	svcID   string
	svcName string
	names   map[string]string // service id -> name
	deps    []*dep
	penalty float64 // confidence multiplier for missing evidence
}

// finding is a cause with what to do about it.
type finding struct {
	cause Cause
	step  string
}

func newAnalysis(in Input) *analysis {
	a := &analysis{in: in, inc: &in.Incident, names: map[string]string{}}
	a.trigger = firstTime(a.inc.AlertFiredAt, a.inc.StartedAt)
	if a.trigger.IsZero() && len(a.inc.Timeline) > 0 {
		a.trigger = a.inc.Timeline[0].OccurredAt
	}
	if s := a.inc.Service; s != nil {
		a.svcID, a.svcName = strings.TrimSpace(s.ID), strings.TrimSpace(s.Summary)
	}
	if a.svcName == "" && len(a.inc.AffectedServices) > 0 {
		a.svcName = a.inc.AffectedServices[0]
	}
	a.learnNames()
	a.learnDependencies()
	a.penalty = 1 - math.Min(notePenaltyMax, notePenaltyEach*float64(len(nonEmpty(in.Notes))))
	return a
}

func (a *analysis) report() *Report {
	in := &a.in
	when := ""
	if !a.trigger.IsZero() {
		when = ", triggered at " + clock(a.trigger)
	}
	in.think(hub.ThoughtAnalysis, "Reading the incident: %s on %s%s.", quote(firstOf(a.inc.Title, "untitled incident")), a.incidentService(), when)
	if len(in.Evidence) == 0 {
		in.think(hub.ThoughtAnalysis, "No evidence was gathered from the provider; working from the incident alone.")
	} else {
		in.think(hub.ThoughtAnalysis, "Gathered %s.", evidenceCounts(in.Evidence))
	}
	for _, n := range nonEmpty(in.Notes) {
		in.think(hub.ThoughtAnalysis, "Missing evidence: %s.", strings.TrimSuffix(snippet(n), "."))
	}
	if len(a.deps) > 0 {
		var names []string
		for _, d := range a.deps {
			names = append(names, d.name)
		}
		in.think(hub.ThoughtAnalysis, "%s has %d known %s: %s.", a.incidentService(), len(a.deps), plural(len(a.deps), "dependency"), listNames(names))
	}
	var similar []*similarIncident
	stages := []struct {
		action, none string
		causes       func() []finding
	}{
		{"Checking change events in the hour before the trigger.",
			"No change event in that hour points at the incident's service or its dependencies.", a.changeCauses},
		{"Checking alerts on dependencies and correlated incidents.",
			"No alert on a dependency or another service stands out.", a.dependencyCauses},
		{"Looking for an error repeated across the alerts.",
			"No error repeats across the alerts.", a.signatureCauses},
		{"Comparing with related and past incidents.",
			"No related or past incident resembles this one.", func() []finding {
				similar = a.similarIncidents()
				return a.similarCauses(similar)
			}},
	}
	var found []finding
	for _, st := range stages {
		in.think(hub.ThoughtAction, "%s", st.action)
		causes := st.causes()
		a.report1(causes, st.none)
		found = append(found, causes...)
	}
	for i := range found {
		found[i].cause.Confidence = round2(correlation.Clamp01(found[i].cause.Confidence * a.penalty))
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].cause.Confidence > found[j].cause.Confidence })
	if len(found) > maxCauses {
		found = found[:maxCauses]
	}
	generic := len(found) == 0
	if generic {
		found = append(found, a.genericCause())
	}
	r := &Report{
		Analyzer:         AnalyzerBuiltin,
		RunbookURL:       a.runbookURL(),
		Timeline:         a.timeline(),
		RelatedIncidents: []string{},
	}
	for _, f := range found {
		r.Causes = append(r.Causes, f.cause)
	}
	for i, s := range similar {
		if i == maxRelated {
			break
		}
		r.RelatedIncidents = append(r.RelatedIncidents, s.line())
	}
	r.Summary = a.summary(r.Causes, generic)
	r.NextSteps = a.nextSteps(r.RunbookURL, found, generic)
	if generic {
		in.think(hub.ThoughtHypothesis, "No specific cause stands out in the evidence.")
	} else {
		in.think(hub.ThoughtHypothesis, "Most likely cause: %s (confidence %d%%).", r.Causes[0].Title, pct(r.Causes[0].Confidence))
	}
	if r.RunbookURL != "" {
		in.think(hub.ThoughtFinding, "The incident links a runbook: %s", r.RunbookURL)
	}
	return r
}

// report1 tells what one stage found, before confidences are adjusted.
func (a *analysis) report1(found []finding, none string) {
	if len(found) == 0 {
		a.in.think(hub.ThoughtAnalysis, "%s", none)
		return
	}
	for _, f := range found {
		a.in.think(hub.ThoughtFinding, "Found: %s.", f.cause.Title)
	}
}
