package rca

// Stages 2 and 3: alerts on dependencies and other services, and an error
// message repeated across the alerts.

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/correlation"
	"github.com/aurora-hub/aurora-hub/sdk"
)

type alertItem struct {
	id, title, provider string
	at                  time.Time
}

func (a *analysis) dependencyCauses() []finding {
	groups := map[string][]alertItem{} // service name -> alerts
	rels := map[string]relation{}
	seen := map[string]bool{}
	add := func(rel relation, svc string, it alertItem) {
		if rel == relSelf || rel == relDownstream || svc == "" {
			return
		}
		if it.id != "" {
			if seen[it.id] {
				return
			}
			seen[it.id] = true
		}
		groups[svc] = append(groups[svc], it)
		rels[svc] = rel
	}
	for _, inc := range a.in.Correlated {
		var id, name string
		if inc.Service != nil {
			id, name = inc.Service.ID, inc.Service.Summary
		}
		if id == "" && name == "" && len(inc.AffectedServices) > 0 {
			name = inc.AffectedServices[0]
		}
		rel, svc := a.relationOf(id, name)
		add(rel, svc, alertItem{id: inc.ID, title: inc.Title, provider: inc.Provider, at: firstTime(inc.AlertFiredAt, inc.StartedAt)})
	}
	for _, ev := range a.in.Evidence {
		if ev.Kind != sdk.EvidenceAlert || ev.Service == nil {
			continue
		}
		rel, svc := a.relationOf(ev.Service.ID, ev.Service.Summary)
		add(rel, svc, alertItem{id: ev.ID, title: ev.Summary, at: ev.At})
	}
	var out []finding
	var others []string
	var otherItems []alertItem
	for _, svc := range sortedKeys(groups) {
		items := groups[svc]
		sort.SliceStable(items, func(i, j int) bool { return items[i].at.Before(items[j].at) })
		if rels[svc] == relNone {
			others = append(others, svc)
			for _, it := range items {
				it.title = svc + ": " + it.title
				otherItems = append(otherItems, it)
			}
			continue
		}
		n := len(items)
		conf := 0.55 + 0.08*float64(min(n, 4)-1)
		if !a.trigger.IsZero() && !items[0].at.IsZero() && items[0].at.After(a.trigger) {
			conf *= 0.8 // it alerted after this incident: maybe an effect
		}
		where := "an upstream dependency"
		if rels[svc] == relDependency {
			where, conf = "a dependency", conf*0.85
		}
		c := Cause{
			Title:      fmt.Sprintf("%d correlated %s on %s (%s)", n, plural(n, "alert"), where, svc),
			Confidence: conf,
		}
		c.Evidence, c.EvidenceIDs = alertLines(items, svc)
		out = append(out, finding{cause: c, step: fmt.Sprintf("Inspect %s: its alerts may be where this incident started.", svc)})
	}
	if n := len(otherItems); n > 0 {
		sort.SliceStable(otherItems, func(i, j int) bool { return otherItems[i].at.Before(otherItems[j].at) })
		c := Cause{
			Title:      fmt.Sprintf("%d correlated %s on other services (%s)", n, plural(n, "alert"), listNames(others)),
			Confidence: 0.3,
		}
		c.Evidence, c.EvidenceIDs = alertLines(otherItems, "")
		out = append(out, finding{cause: c, step: fmt.Sprintf("Check whether %s share a cause with %s.", listNames(others), a.incidentService())})
	}
	return out
}

func alertLines(items []alertItem, svc string) (lines, ids []string) {
	for i, it := range items {
		if it.id != "" {
			ids = append(ids, it.id)
		}
		if i == maxEvidenceLines {
			lines = append(lines, fmt.Sprintf("... and %d more", len(items)-i))
			continue
		}
		if i > maxEvidenceLines {
			continue
		}
		l := quote(it.title)
		if svc != "" {
			l += " on " + svc
		}
		if !it.at.IsZero() {
			l += " at " + clock(it.at)
		}
		if it.provider != "" {
			l += " (" + it.provider + ")"
		}
		lines = append(lines, l)
	}
	return lines, ids
}

// errorKeys are the alert detail fields that carry an error message.
var errorKeys = []string{"error", "error_message", "errormessage", "err", "exception", "message", "msg", "reason", "description"}

func (a *analysis) signatureCauses() []finding {
	type sig struct {
		text  string
		ids   []string
		count int
		first int
	}
	own := strings.Join(correlation.TitleTokens(a.inc.Title), " ")
	sigs := map[string]*sig{}
	for i, ev := range a.in.Evidence {
		if ev.Kind != sdk.EvidenceAlert {
			continue
		}
		seen := map[string]bool{}
		for _, text := range alertTexts(ev) {
			key := strings.Join(correlation.TitleTokens(text), " ")
			if key == "" || key == own || seen[key] {
				continue
			}
			seen[key] = true
			s := sigs[key]
			if s == nil {
				s = &sig{text: text, first: i}
				sigs[key] = s
			}
			s.count++
			if ev.ID != "" {
				s.ids = append(s.ids, ev.ID)
			}
		}
	}
	var list []*sig
	for _, s := range sigs {
		if s.count >= 2 {
			list = append(list, s)
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].count != list[j].count {
			return list[i].count > list[j].count
		}
		return list[i].first < list[j].first || (list[i].first == list[j].first && list[i].text < list[j].text)
	})
	var out []finding
	for i, s := range list {
		if i == 2 {
			break
		}
		conf := 0.3 + 0.05*float64(min(s.count-2, 5))
		c := Cause{
			Title:       fmt.Sprintf("Repeated error in %d alerts: %s", s.count, quote(s.text)),
			EvidenceIDs: s.ids,
			Evidence:    []string{fmt.Sprintf("%d alerts of this incident carry %s", s.count, quote(s.text))},
		}
		lower := strings.ToLower(s.text)
		for _, d := range a.deps {
			if d.rel >= relDependency && d.name != "" && strings.Contains(lower, strings.ToLower(d.name)) {
				conf += 0.1
				c.Evidence = append(c.Evidence, "The error names the dependency "+d.name)
				break
			}
		}
		c.Confidence = conf
		out = append(out, finding{cause: c, step: fmt.Sprintf("Search the logs of %s for %s.", a.incidentService(), quote(s.text))})
	}
	return out
}

// alertTexts are an alert's error messages (from its body's details), or
// its summary when it has none.
func alertTexts(ev sdk.Evidence) []string {
	m := object(ev.Data)
	body := object(m["body"])
	var out []string
	addFrom := func(raw json.RawMessage) {
		if s := scalar(raw); s != "" && len(raw) > 0 && raw[0] == '"' {
			out = append(out, firstLine(s))
			return
		}
		d := object(raw)
		for _, k := range sortedKeys(d) {
			for _, want := range errorKeys {
				if strings.EqualFold(k, want) {
					if s := scalar(d[k]); s != "" {
						out = append(out, firstLine(s))
					}
				}
			}
		}
	}
	addFrom(body["details"])
	cef := object(body["cef_details"])
	addFrom(cef["details"])
	if s := str(cef["message"]); s != "" {
		out = append(out, firstLine(s))
	}
	if len(out) == 0 && strings.TrimSpace(ev.Summary) != "" {
		out = append(out, firstLine(ev.Summary))
	}
	return out
}
