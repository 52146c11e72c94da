package rca

// Stage 4: related and past incidents that resemble this one.

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/correlation"
	"github.com/aurora-hub/aurora-hub/sdk"
)

type similarIncident struct {
	key, label, title, status, url, reason string
	kind                                   string // past, related, input
	created, resolved                      time.Time
	score                                  float64 // in [0,1]; -1 unknown
	ids                                    []string
}

func (s *similarIncident) state() string {
	switch {
	case !s.resolved.IsZero():
		return "resolved " + s.resolved.UTC().Format("2006-01-02")
	case strings.EqualFold(s.status, "resolved"):
		return "resolved"
	case s.status != "":
		return "still " + strings.ToLower(s.status)
	case !s.created.IsZero():
		return "opened " + s.created.UTC().Format("2006-01-02")
	}
	return ""
}

func (s *similarIncident) line() string {
	l := s.label
	if s.title != "" {
		l += ": " + snippet(s.title)
	}
	if st := s.state(); st != "" {
		l += " (" + st + ")"
	}
	if s.url != "" {
		l += " " + s.url
	}
	return l
}

func (s *similarIncident) confidence() float64 {
	score := s.score
	if score < 0 {
		score = 0.5
	}
	switch s.kind {
	case "related":
		return 0.3 + 0.3*score
	default:
		return 0.2 + 0.35*score
	}
}

func (a *analysis) similarIncidents() []*similarIncident {
	byKey := map[string]*similarIncident{}
	var list []*similarIncident
	self := map[string]bool{}
	for _, id := range []string{a.inc.ID, a.inc.ExternalID} {
		if id != "" {
			self[id] = true
		}
	}
	get := func(key string) *similarIncident {
		if s := byKey[key]; s != nil {
			return s
		}
		s := &similarIncident{key: key, label: key, score: -1}
		byKey[key] = s
		list = append(list, s)
		return s
	}
	for _, inc := range a.in.Related {
		key := firstOf(inc.ExternalID, inc.ID)
		if key == "" || self[inc.ID] || self[inc.ExternalID] {
			continue
		}
		s := get(key)
		s.kind = "input"
		if inc.Number > 0 {
			s.label = fmt.Sprintf("#%d", inc.Number)
		}
		s.title, s.status, s.url, s.reason = inc.Title, inc.Status, inc.HTMLURL, inc.ResolveReason
		s.created = firstTime(inc.AlertFiredAt, inc.StartedAt)
		if inc.ResolvedAt != nil {
			s.resolved = *inc.ResolvedAt
		}
		s.ids = append(s.ids, inc.ID)
	}
	for _, ev := range a.in.Evidence {
		if ev.Kind != sdk.EvidencePastIncident && ev.Kind != sdk.EvidenceRelatedIncident {
			continue
		}
		m := object(ev.Data)
		im := object(m["incident"])
		key := firstOf(ev.ID, str(im["id"]))
		if key == "" || self[key] {
			continue
		}
		s := get(key)
		if ev.Kind == sdk.EvidenceRelatedIncident {
			s.kind = "related"
		} else if s.kind == "" {
			s.kind = "past"
		}
		if s.label == key {
			if n := str(im["incident_number"]); n != "" {
				s.label = "#" + n
			}
		}
		s.title = firstOf(s.title, ev.Summary, str(im["title"]), str(im["summary"]))
		s.status = firstOf(s.status, str(im["status"]))
		s.url = firstOf(s.url, str(im["html_url"]))
		if s.created.IsZero() {
			s.created = ev.At
		}
		if s.resolved.IsZero() {
			s.resolved = parseTime(str(im["resolved_at"]))
		}
		if sc, ok := number(m["score"]); ok {
			if sc > 1 {
				sc /= 100
			}
			s.score = math.Max(s.score, correlation.Clamp01(sc))
		}
		if ev.ID != "" {
			s.ids = append(s.ids, ev.ID)
		}
	}
	sort.SliceStable(list, func(i, j int) bool {
		ci, cj := list[i].confidence(), list[j].confidence()
		if ci != cj {
			return ci > cj
		}
		if !list[i].created.Equal(list[j].created) {
			return list[i].created.After(list[j].created)
		}
		return list[i].key < list[j].key
	})
	return list
}

func (a *analysis) similarCauses(list []*similarIncident) []finding {
	var out []finding
	for i, s := range list {
		if i == maxSimilarCauses {
			break
		}
		verb := "Similar to "
		if s.kind == "related" {
			verb = "Related to "
		}
		title := verb + s.label
		if st := s.state(); st != "" {
			title += " (" + st + ")"
		}
		line := s.label
		if s.title != "" {
			line += " " + quote(s.title)
		}
		if !s.created.IsZero() {
			line += " opened " + s.created.UTC().Format("2006-01-02 15:04 UTC")
		}
		if !s.resolved.IsZero() {
			line += ", resolved " + s.resolved.UTC().Format("2006-01-02 15:04 UTC")
		}
		lines := []string{line}
		if s.reason != "" {
			lines = append(lines, "Resolve reason: "+snippet(s.reason))
		}
		if s.score >= 0 {
			lines = append(lines, fmt.Sprintf("Similarity score %d%%", int(math.Round(s.score*100))))
		}
		if s.url != "" {
			lines = append(lines, s.url)
		}
		step := "Review how " + s.label + " was handled"
		if s.url != "" {
			step += " (" + s.url + ")"
		}
		out = append(out, finding{
			cause: Cause{Title: title, Confidence: s.confidence(), Evidence: lines, EvidenceIDs: s.ids},
			step:  step + ".",
		})
	}
	return out
}
