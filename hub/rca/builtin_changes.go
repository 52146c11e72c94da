package rca

// Stage 1: change events (deploys, config changes) in the hour before the
// trigger, scored by time and by where in the service graph they happened.

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
)

func (a *analysis) changeCauses() []finding {
	type scored struct {
		f  finding
		dt time.Duration
	}
	var out []scored
	for _, ev := range a.in.Evidence {
		if ev.Kind != sdk.EvidenceChangeEvent {
			continue
		}
		rel, svc := a.changeRelation(ev)
		if rel == relNone {
			continue
		}
		kind := changeKind(ev)
		conf := 0.8 * graphFactor[rel]
		if kind == "Change" {
			conf *= 0.9
		}
		when := "before the incident"
		var dt time.Duration
		switch {
		case a.trigger.IsZero() || ev.At.IsZero():
			conf *= 0.5
		default:
			dt = a.trigger.Sub(ev.At)
			if dt < 0 || dt > changeWindow {
				continue
			}
			conf *= 1 - 0.6*float64(dt)/float64(changeWindow)
			when = before(dt)
		}
		where := svc
		switch rel {
		case relUpstream:
			where += " (upstream dependency)"
		case relDownstream:
			where += " (downstream service)"
		case relDependency:
			where += " (dependency)"
		}
		prep := " on "
		if kind == "Deploy" || kind == "Rollback" {
			prep = " of "
		}
		c := Cause{
			Title:      kind + prep + where + " " + when,
			Confidence: conf,
			Evidence:   a.changeLines(ev, svc),
		}
		if ev.ID != "" {
			c.EvidenceIDs = []string{ev.ID}
		}
		what := map[string]string{"Deploy": "the deploy", "Config change": "the config change", "Rollback": "the rollback", "Change": "the change"}[kind]
		undo := map[string]string{"Deploy": "roll back", "Config change": "revert it", "Rollback": "roll forward", "Change": "undo it"}[kind]
		step := fmt.Sprintf("Check %s %s on %s%s: %s if the errors started with it.",
			what, quote(ev.Summary), svc, atClock(ev.At), undo)
		out = append(out, scored{finding{cause: c, step: step}, dt})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].f.cause.Confidence > out[j].f.cause.Confidence })
	var res []finding
	for i, s := range out {
		if i == maxChangeCauses {
			break
		}
		res = append(res, s.f)
	}
	return res
}

// changeRelation is the closest of the change's services; a change without
// any service is taken to be on the incident's (PagerDuty lists the
// incident service's changes).
func (a *analysis) changeRelation(ev sdk.Evidence) (relation, string) {
	type ref struct{ id, name string }
	var refs []ref
	if ev.Service != nil {
		refs = append(refs, ref{ev.Service.ID, ev.Service.Summary})
	}
	m := object(ev.Data)
	if s := object(m["service"]); len(s) > 0 {
		refs = append(refs, ref{str(s["id"]), str(s["summary"])})
	}
	for _, raw := range array(m["services"]) {
		s := object(raw)
		refs = append(refs, ref{str(s["id"]), str(s["summary"])})
	}
	if len(refs) == 0 {
		return relSelf, a.incidentService()
	}
	best, name := relNone, ""
	for _, r := range refs {
		if rel, n := a.relationOf(r.id, r.name); rel > best || name == "" {
			best, name = max(best, rel), n
		}
	}
	return best, name
}

func changeKind(ev sdk.Evidence) string {
	m := object(ev.Data)
	text := strings.ToLower(ev.Summary + " " + str(m["source"]) + " " + str(m["type"]))
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(text, w) {
				return true
			}
		}
		return false
	}
	switch {
	case has("rollback", "roll back", "rolled back", "revert"):
		return "Rollback"
	case has("config", "feature flag", "flag ", "toggle", "setting", "parameter"):
		return "Config change"
	case has("deploy", "release", "rollout", "roll out", "rolled out", "upgrade", "version", "build", "image"):
		return "Deploy"
	}
	return "Change"
}

func (a *analysis) changeLines(ev sdk.Evidence, svc string) []string {
	line := "Change event"
	if !ev.At.IsZero() {
		line += " at " + clock(ev.At)
	}
	line += " on " + svc + ": " + quote(ev.Summary)
	lines := []string{line}
	m := object(ev.Data)
	if s := str(m["source"]); s != "" {
		lines = append(lines, "Source: "+snippet(s))
	}
	for i, raw := range array(m["links"]) {
		if i == 2 {
			break
		}
		l := object(raw)
		if href := str(l["href"]); href != "" {
			lines = append(lines, strings.TrimSpace("Link: "+snippet(str(l["text"]))+" "+href))
		}
	}
	details := object(m["custom_details"])
	keys := sortedKeys(details)
	for i, k := range keys {
		if i == 3 {
			break
		}
		if v := scalar(details[k]); v != "" {
			lines = append(lines, k+": "+snippet(v))
		}
	}
	return lines
}
