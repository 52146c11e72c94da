package rca

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

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
	r := newAnalysis(in).report()
	normalize(r)
	r.GeneratedAt = b.now().UTC()
	return r, nil
}

// relation of a service to the incident's service.
type relation int

const (
	relNone relation = iota
	relDownstream
	relDependency // a dependency of unknown direction
	relUpstream
	relSelf
)

// graphFactor scales a change's confidence by where it happened.
var graphFactor = map[relation]float64{relSelf: 1, relUpstream: 0.75, relDependency: 0.6, relDownstream: 0.45}

type dep struct {
	id, name string
	rel      relation
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

func (a *analysis) name(id, name string) {
	if id, name = strings.TrimSpace(id), strings.TrimSpace(name); id != "" && name != "" && a.names[id] == "" {
		a.names[id] = name
	}
}

func (a *analysis) learnNames() {
	a.name(a.svcID, a.svcName)
	for _, ev := range a.in.Evidence {
		if ev.Service != nil {
			a.name(ev.Service.ID, ev.Service.Summary)
		}
	}
	for _, list := range [][]hub.Incident{a.in.Correlated, a.in.Related} {
		for _, inc := range list {
			if inc.Service != nil {
				a.name(inc.Service.ID, inc.Service.Summary)
			}
		}
	}
	for _, ev := range a.in.Evidence {
		if ev.Kind != sdk.EvidenceDependency {
			continue
		}
		m := object(ev.Data)
		for _, k := range []string{"supporting_service", "dependent_service"} {
			s := object(m[k])
			a.name(str(s["id"]), firstOf(str(s["summary"]), str(s["name"])))
		}
	}
}

// serviceName is the best known name of a service.
func (a *analysis) serviceName(id, name string) string {
	if name = strings.TrimSpace(name); name != "" {
		return name
	}
	if n := a.names[strings.TrimSpace(id)]; n != "" {
		return n
	}
	return strings.TrimSpace(id)
}

func (a *analysis) incidentService() string {
	if n := a.serviceName(a.svcID, a.svcName); n != "" {
		return n
	}
	return "the affected service"
}

func (a *analysis) learnDependencies() {
	for _, ev := range a.in.Evidence {
		if ev.Kind != sdk.EvidenceDependency || ev.Service == nil || strings.TrimSpace(ev.Service.ID) == "" {
			continue
		}
		other := ev.Service
		m := object(ev.Data)
		sup, dnt := str(object(m["supporting_service"])["id"]), str(object(m["dependent_service"])["id"])
		rel := relDependency
		lower := strings.ToLower(ev.Summary)
		switch {
		case sup != "" && sup == other.ID:
			rel = relUpstream
		case dnt != "" && dnt == other.ID:
			rel = relDownstream
		case strings.HasPrefix(lower, "depends on "):
			rel = relUpstream
		case strings.HasSuffix(lower, "depends on this service"):
			rel = relDownstream
		}
		d := a.dependency(other.ID, "")
		if d == nil {
			d = &dep{id: strings.TrimSpace(other.ID), rel: rel}
			a.deps = append(a.deps, d)
		} else if rel > d.rel {
			d.rel = rel
		}
		d.name = a.serviceName(other.ID, other.Summary)
	}
}

func (a *analysis) dependency(id, name string) *dep {
	id, n := strings.TrimSpace(id), correlation.NormalizeServiceName(name)
	for _, d := range a.deps {
		if (id != "" && d.id == id) || (n != "" && correlation.NormalizeServiceName(d.name) == n) {
			return d
		}
	}
	return nil
}

// relationOf places a service (id and/or name) relative to the incident's.
func (a *analysis) relationOf(id, name string) (relation, string) {
	id, name = strings.TrimSpace(id), strings.TrimSpace(name)
	if id == "" && name == "" {
		return relNone, ""
	}
	full := a.serviceName(id, name)
	if id != "" && id == a.svcID {
		return relSelf, a.incidentService()
	}
	own := correlation.NormalizeServiceName(a.serviceName(a.svcID, a.svcName))
	for _, n := range []string{name, a.names[id], id} {
		if own != "" && correlation.NormalizeServiceName(n) == own {
			return relSelf, a.incidentService()
		}
	}
	if d := a.dependency(id, full); d != nil {
		return d.rel, d.name
	}
	if d := a.dependency("", id); d != nil {
		return d.rel, d.name
	}
	return relNone, full
}

func (a *analysis) report() *Report {
	var found []finding
	found = append(found, a.changeCauses()...)
	found = append(found, a.dependencyCauses()...)
	found = append(found, a.signatureCauses()...)
	similar := a.similarIncidents()
	found = append(found, a.similarCauses(similar)...)
	for i := range found {
		found[i].cause.Confidence = round2(clamp01(found[i].cause.Confidence * a.penalty))
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
	return r
}

// ---- change events --------------------------------------------------------

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

// ---- alerts on dependencies and other services ---------------------------

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

// ---- repeated error signatures ---------------------------------------------

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

// ---- similar and related incidents ------------------------------------------

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
			s.score = math.Max(s.score, clamp01(sc))
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

// ---- generic, summary, next steps, runbook, timeline -------------------------

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

// ---- small helpers --------------------------------------------------------------

func object(raw []byte) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &m)
	}
	return m
}

func array(raw []byte) []json.RawMessage {
	var a []json.RawMessage
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &a)
	}
	return a
}

// str is a JSON string's value (or a number's text), trimmed.
func str(raw []byte) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// scalar is a string, number or boolean as text.
func scalar(raw []byte) string {
	if s := str(raw); s != "" {
		return s
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return fmt.Sprint(b)
	}
	return ""
}

func number(raw []byte) (float64, bool) {
	var f float64
	if json.Unmarshal(raw, &f) == nil {
		return f, true
	}
	return 0, false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}
	}
	return t
}

func firstTime(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

func nonEmpty(xs []string) []string {
	var out []string
	for _, x := range xs {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return snippet(s)
}

// snippet collapses white space and cuts s to maxSnippet characters.
func snippet(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= maxSnippet {
		return s
	}
	r := []rune(s)
	return string(r[:maxSnippet-1]) + "…"
}

func quote(s string) string { return `"` + snippet(s) + `"` }

func clock(t time.Time) string { return t.UTC().Format("15:04 UTC") }

func atClock(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " at " + clock(t)
}

// before says how long before the trigger something happened.
func before(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "less than a minute before the trigger"
	case d < time.Hour:
		n := int(d / time.Minute)
		return fmt.Sprintf("%d %s before the trigger", n, plural(n, "minute"))
	}
	return "1 hour before the trigger"
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func listNames(names []string) string {
	if len(names) > 3 {
		return strings.Join(names[:3], ", ") + fmt.Sprintf(" and %d more", len(names)-3)
	}
	return strings.Join(names, ", ")
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func clamp01(v float64) float64 {
	switch {
	case math.IsNaN(v) || v < 0:
		return 0
	case v > 1:
		return 1
	}
	return v
}
