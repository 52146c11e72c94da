package rca

// The timeline: the incident's log entries, alerts and changes in order,
// long runs of one kind capped.

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
)

var timelineLabels = map[string]string{
	"incident.acknowledged":            "Acknowledged",
	"incident.unacknowledged":          "Unacknowledged",
	"incident.reopened":                "Reopened",
	"incident.resolved":                "Resolved",
	"alert.resolved":                   "Resolved",
	"incident.escalated":               "Escalated",
	"incident.reassigned":              "Reassigned",
	"incident.delegated":               "Delegated",
	"incident.priority_updated":        "Priority changed",
	"incident.status_update_published": "Status update published",
	"incident.responder.added":         "Responder added",
	"incident.service_updated":         "Service changed",
}

func (a *analysis) timeline() []TimelineItem {
	var items []TimelineItem
	add := func(at time.Time, what string) {
		if !at.IsZero() && what != "" {
			items = append(items, TimelineItem{At: at.UTC(), What: what})
		}
	}
	for _, ev := range a.in.Evidence {
		if ev.Kind != sdk.EvidenceChangeEvent {
			continue
		}
		rel, svc := a.changeRelation(ev)
		where := ""
		if rel != relNone || svc != "" {
			where = " on " + svc
		}
		add(ev.At, fmt.Sprintf("%s%s: %s", changeKind(ev), where, snippet(ev.Summary)))
	}
	var alerts []TimelineItem
	for _, ev := range a.in.Evidence {
		if ev.Kind != sdk.EvidenceAlert || ev.At.IsZero() {
			continue
		}
		what := "Alert: " + snippet(ev.Summary)
		if ev.Service != nil {
			if rel, svc := a.relationOf(ev.Service.ID, ev.Service.Summary); rel != relSelf && svc != "" {
				what += " (" + svc + ")"
			}
		}
		alerts = append(alerts, TimelineItem{At: ev.At.UTC(), What: what})
	}
	var correlated []TimelineItem
	for _, inc := range a.in.Correlated {
		svc := ""
		if inc.Service != nil {
			svc = a.serviceName(inc.Service.ID, inc.Service.Summary)
		}
		what := "Correlated alert: " + snippet(inc.Title)
		if svc != "" {
			what = "Correlated alert on " + svc + ": " + snippet(inc.Title)
		}
		if at := firstTime(inc.AlertFiredAt, inc.StartedAt); !at.IsZero() {
			correlated = append(correlated, TimelineItem{At: at.UTC(), What: what})
		}
	}
	trig := "Triggered"
	if t := strings.TrimSpace(a.inc.Title); t != "" {
		trig += ": " + snippet(t)
	}
	add(a.trigger, trig)
	items = append(items, capped(alerts, "alerts")...)
	items = append(items, capped(correlated, "correlated alerts")...)
	triggered, resolved := false, false
	for _, e := range a.inc.Timeline {
		switch e.Type {
		case "incident.triggered", "alert.firing":
			if triggered {
				add(e.OccurredAt, "Triggered again")
			}
			triggered = true
			continue
		case "incident.resolved", "alert.resolved":
			resolved = true
		}
		label := timelineLabels[e.Type]
		if label == "" {
			continue
		}
		if e.Agent != nil && strings.TrimSpace(e.Agent.Summary) != "" {
			label += " by " + strings.TrimSpace(e.Agent.Summary)
		}
		add(e.OccurredAt, label)
	}
	if !resolved && a.inc.ResolvedAt != nil {
		add(*a.inc.ResolvedAt, "Resolved")
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].At.Before(items[j].At) })
	if items == nil {
		items = []TimelineItem{}
	}
	return items
}

// capped keeps the first maxTimelineGroup items (by time) and sums up the rest.
func capped(items []TimelineItem, what string) []TimelineItem {
	sort.SliceStable(items, func(i, j int) bool { return items[i].At.Before(items[j].At) })
	if len(items) <= maxTimelineGroup {
		return items
	}
	rest := items[maxTimelineGroup:]
	last := rest[len(rest)-1].At
	return append(items[:maxTimelineGroup:maxTimelineGroup],
		TimelineItem{At: last, What: fmt.Sprintf("%d more %s, the last at %s", len(rest), what, clock(last))})
}
