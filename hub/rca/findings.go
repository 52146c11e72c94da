package rca

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/sdk"
)

// Limits of what a report's findings carry.
const (
	maxCitationOutput = 2000
	maxMarkerKeys     = 4
	maxMarkdownCauses = 5
	maxMarkdownLines  = 3
	maxMarkdownEvents = 12
)

// citer numbers the evidence a report cites, in order of first mention.
type citer struct {
	sources []func() Citation
	index   map[string]int // evidence or incident id -> source
	keys    map[int]string // source -> key, once cited
	list    []Citation
}

func newCiter(in *Input) *citer {
	c := &citer{index: map[string]int{}, keys: map[int]string{}}
	add := func(mk func() Citation, ids ...string) {
		n := len(c.sources)
		c.sources = append(c.sources, mk)
		for _, id := range ids {
			if id = strings.TrimSpace(id); id != "" {
				if _, ok := c.index[id]; !ok {
					c.index[id] = n
				}
			}
		}
	}
	inc := &in.Incident
	for _, ev := range in.Evidence {
		add(func() Citation { return evidenceCitation(inc, ev) }, ev.ID)
	}
	for _, list := range []struct {
		what string
		incs []hub.Incident
	}{{"correlated", in.Correlated}, {"related", in.Related}} {
		for _, o := range list.incs {
			add(func() Citation { return incidentCitation(list.what, o) }, o.ID, o.ExternalID)
		}
	}
	return c
}

// marker cites the known ids among ids: " [1, 2]", or "" when none is known.
func (c *citer) marker(ids []string) string {
	var keys []string
	seen := map[string]bool{}
	for _, id := range ids {
		if len(keys) == maxMarkerKeys {
			break
		}
		k := c.key(id)
		if k != "" && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	return " [" + strings.Join(keys, ", ") + "]"
}

func (c *citer) key(id string) string {
	n, ok := c.index[strings.TrimSpace(id)]
	if !ok {
		return ""
	}
	if k, ok := c.keys[n]; ok {
		return k
	}
	cit := c.sources[n]()
	cit.Key = fmt.Sprint(len(c.list) + 1)
	c.list = append(c.list, cit)
	c.keys[n] = cit.Key
	return cit.Key
}

// evidenceRequests say what a provider was asked for each kind of
// evidence; {incident} and {service} are the provider's ids.
var evidenceRequests = map[string]map[string]string{
	"pagerduty": {
		sdk.EvidenceAlert:           "GET /incidents/{incident}/alerts",
		sdk.EvidenceLogEntry:        "GET /incidents/{incident}/log_entries",
		sdk.EvidenceCustomField:     "GET /incidents/{incident}/custom_fields/values",
		sdk.EvidenceChangeEvent:     "GET /services/{service}/change_events?since={since}&until={until}",
		sdk.EvidenceDependency:      "GET /service_dependencies/technical_services/{service}",
		sdk.EvidenceRelatedIncident: "GET /incidents/{incident}/related_incidents",
		sdk.EvidencePastIncident:    "GET /incidents/{incident}/past_incidents?limit=20",
	},
}

func evidenceCitation(inc *hub.IncidentDetail, ev sdk.Evidence) Citation {
	tool := firstOf(inc.Provider, ev.Kind)
	cmd := ev.Kind + " " + ev.ID
	if tmpl := evidenceRequests[inc.Provider][ev.Kind]; tmpl != "" {
		svc := ""
		if inc.Service != nil {
			svc = inc.Service.ID
		}
		trigger := firstTime(inc.AlertFiredAt, inc.StartedAt).UTC()
		cmd = strings.NewReplacer(
			"{incident}", url.PathEscape(inc.ExternalID), "{service}", url.PathEscape(svc),
			"{since}", trigger.Add(-changeWindow).Format(time.RFC3339), "{until}", trigger.Format(time.RFC3339),
		).Replace(tmpl)
	}
	var out strings.Builder
	out.WriteString(strings.TrimSpace(ev.Summary))
	if d := bytes.TrimSpace(ev.Data); len(d) > 0 {
		var buf bytes.Buffer
		if json.Indent(&buf, d, "", "  ") == nil {
			d = buf.Bytes()
		}
		if out.Len() > 0 {
			out.WriteString("\n\n")
		}
		out.Write(d)
	}
	return Citation{ToolName: tool, Command: cmd, Output: clip(out.String(), maxCitationOutput), ExecutedAt: ev.At}
}

func incidentCitation(what string, o hub.Incident) Citation {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", o.Title)
	if o.Service != nil {
		fmt.Fprintf(&b, "\nservice: %s", firstOf(o.Service.Summary, o.Service.ID))
	}
	if o.Status != "" {
		fmt.Fprintf(&b, "\nstatus: %s", o.Status)
	}
	if t := firstTime(o.AlertFiredAt, o.StartedAt); !t.IsZero() {
		fmt.Fprintf(&b, "\nstarted: %s", t.UTC().Format(time.RFC3339))
	}
	if o.ResolvedAt != nil {
		fmt.Fprintf(&b, "\nresolved: %s", o.ResolvedAt.UTC().Format(time.RFC3339))
	}
	if o.HTMLURL != "" {
		fmt.Fprintf(&b, "\n%s", o.HTMLURL)
	}
	return Citation{
		ToolName: firstOf(o.Provider, "aurora-hub"),
		Command:  what + " incident " + firstOf(o.ExternalID, o.ID),
		Output:   clip(b.String(), maxCitationOutput),
	}
}

// clip cuts s to about n bytes on a rune boundary, saying so.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return cut(s, n) + "\n… (truncated)"
}

// findings fills the report's Markdown, Citations and Suggestions from its
// summary, causes, timeline and next steps.
func findings(r *Report, in *Input) {
	// ExecutedAt is the evidence's own time; where it has none, the
	// store puts the time the citation is written.
	c := newCiter(in)
	var b strings.Builder
	b.WriteString(strings.TrimSpace(r.Summary))
	if len(r.Causes) > 0 {
		b.WriteString(c.marker(r.Causes[0].EvidenceIDs))
	}
	if len(r.Causes) > 0 {
		b.WriteString("\n\n## Likely causes\n")
		for i, cause := range r.Causes {
			if i == maxMarkdownCauses {
				break
			}
			fmt.Fprintf(&b, "\n%d. **%s** (confidence %d%%)%s", i+1, mdEscape(cause.Title), pct(cause.Confidence), c.marker(cause.EvidenceIDs))
			for j, l := range cause.Evidence {
				if j == maxMarkdownLines {
					break
				}
				fmt.Fprintf(&b, "\n   - %s", mdEscape(l))
			}
		}
	}
	if len(r.Timeline) > 0 {
		b.WriteString("\n\n## Timeline\n")
		items := r.Timeline
		if len(items) > maxMarkdownEvents {
			items = items[len(items)-maxMarkdownEvents:]
		}
		for _, it := range items {
			fmt.Fprintf(&b, "\n- %s: %s", clock(it.At), mdEscape(it.What))
		}
	}
	if r.RunbookURL != "" {
		fmt.Fprintf(&b, "\n\nRunbook: %s", r.RunbookURL)
	}
	r.Markdown = b.String()
	r.Citations = c.list
	if r.Citations == nil {
		r.Citations = []Citation{}
	}
	if len(r.Suggestions) == 0 {
		r.Suggestions = suggestionsFrom(r.NextSteps, in)
	}
	if r.Suggestions == nil {
		r.Suggestions = []Suggestion{}
	}
}

func pct(f float64) int { return int(f*100 + 0.5) }

// mdEscape keeps text from opening markdown structure or fake citations.
var mdSpecial = strings.NewReplacer("[", "(", "]", ")", "\n", " ", "*", "\\*", "_", "\\_", "`", "'")

func mdEscape(s string) string { return mdSpecial.Replace(snippet(s)) }

// suggestion kinds by the words of a step, checked in order.
var suggestionRules = []struct {
	words     []string
	typ, risk string
}{
	{words: []string{"post a status", "status update", "notify", "communicate", "inform ", "stakeholder"}, typ: hub.SuggestionCommunication, risk: hub.RiskSafe},
	{words: []string{"roll back", "rollback", "revert", "roll forward", "restart the", "restart it", "fail over", "failover", "scale", "disable", "drain", "undo it"}, typ: hub.SuggestionMitigation, risk: hub.RiskMedium},
	{words: []string{"follow the runbook"}, typ: hub.SuggestionMitigation, risk: hub.RiskLow},
	{words: []string{"add an alert", "add a test", "add monitoring", "prevent", "postmortem", "guardrail", "canary"}, typ: hub.SuggestionPrevent, risk: hub.RiskLow},
	{words: []string{"fix ", "patch", "increase", "raise the", "upgrade", "apply "}, typ: hub.SuggestionRemediate, risk: hub.RiskMedium},
}

var backticked = regexp.MustCompile("`([^`\n]{2,300})`")

// suggestionsFrom makes suggestions of next steps written as sentences.
func suggestionsFrom(steps []string, in *Input) []Suggestion {
	var out []Suggestion
	for _, s := range steps {
		if sg := suggestionOf(s, "", "", ""); sg.Title != "" {
			out = append(out, sg)
		}
	}
	if sev := strings.ToLower(in.Incident.Severity); len(out) > 0 && (sev == hub.SeverityCritical || sev == hub.SeverityHigh) {
		out = append(out, Suggestion{
			Title:       "Post a status update",
			Description: "Tell the affected teams what is known so far and when the next update comes.",
			Type:        hub.SuggestionCommunication, Risk: hub.RiskSafe,
		})
	}
	return out
}

// suggestionOf classifies a step; typ, risk and command, when valid, win.
func suggestionOf(step, typ, risk, command string) Suggestion {
	step = strings.TrimSpace(step)
	if step == "" {
		return Suggestion{}
	}
	sg := Suggestion{Title: snippet(firstLine(step)), Description: step, Type: hub.SuggestionDiagnostic, Risk: hub.RiskSafe}
	lower := strings.ToLower(step)
rules:
	for _, r := range suggestionRules {
		for _, w := range r.words {
			if strings.Contains(lower, w) {
				sg.Type, sg.Risk = r.typ, r.risk
				break rules
			}
		}
	}
	if m := backticked.FindStringSubmatch(step); m != nil {
		sg.Command = strings.TrimSpace(m[1])
	}
	if t := strings.ToLower(strings.TrimSpace(typ)); validType[t] {
		sg.Type = t
	}
	if r := strings.ToLower(strings.TrimSpace(risk)); validRisk[r] {
		sg.Risk = r
	}
	if c := strings.TrimSpace(command); c != "" {
		sg.Command = cut(c, maxAnswerText)
	}
	return sg
}

var (
	validType = map[string]bool{hub.SuggestionDiagnostic: true, hub.SuggestionMitigation: true, hub.SuggestionRemediate: true,
		hub.SuggestionPrevent: true, hub.SuggestionCommunication: true}
	validRisk = map[string]bool{hub.RiskSafe: true, hub.RiskLow: true, hub.RiskMedium: true, hub.RiskHigh: true}
)
