package rca

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/correlation"
	"github.com/aurora-hub/aurora-hub/sdk"
)

// LLM defaults.
const (
	DefaultLLMTimeout       = 30 * time.Second
	DefaultMaxEvidenceBytes = 48 << 10
)

// Limits on what is sent to and taken from the model.
const (
	maxItemData       = 4 << 10
	maxPromptTimeline = 50
	maxPromptIncident = 50
	maxFieldValue     = 512
	maxResponseBytes  = 4 << 20
	maxAnswerText     = 1000
	maxAnswerCauses   = 10
	maxAnswerLines    = 20
	maxJSONAttempts   = 200
)

// LLMConfig configures an OpenAI-compatible Chat Completions endpoint
// (OpenAI, Ollama's /v1, vLLM, ...).
type LLMConfig struct {
	// BaseURL up to and including the version, e.g.
	// https://api.openai.com/v1 or http://localhost:11434/v1.
	BaseURL string
	Model   string
	// APIKey is sent as a bearer token when set; it is never logged.
	APIKey string
	// Timeout bounds one request (default 30s).
	Timeout time.Duration
	// HTTPClient defaults to a plain http.Client.
	HTTPClient *http.Client
	// MaxEvidenceBytes bounds the evidence put in the prompt (default 48 KiB).
	MaxEvidenceBytes int
}

// String describes the configuration without the API key.
func (c LLMConfig) String() string {
	key := "none"
	if c.APIKey != "" {
		key = "redacted"
	}
	return fmt.Sprintf("LLMConfig{BaseURL: %s, Model: %s, APIKey: %s, Timeout: %s}", c.BaseURL, c.Model, key, c.Timeout)
}

// GoString is String, so %#v does not show the key either.
func (c LLMConfig) GoString() string { return c.String() }

// LogValue keeps the key out of structured logs.
func (c LLMConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("base_url", c.BaseURL), slog.String("model", c.Model),
		slog.Bool("api_key_set", c.APIKey != ""), slog.Duration("timeout", c.Timeout))
}

// NewLLM returns an analyzer that asks the model and, when that fails
// (timeout, HTTP error, an answer that is not a report), returns the
// fallback's report (the builtin analyzer's when fallback is nil) with
// FallbackReason set. The timeline and runbook link always come from the
// builtin analysis, which is also given to the model as hints.
func NewLLM(cfg LLMConfig, fallback Analyzer) Analyzer {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultLLMTimeout
	}
	if cfg.MaxEvidenceBytes <= 0 {
		cfg.MaxEvidenceBytes = DefaultMaxEvidenceBytes
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	cfg.BaseURL = strings.TrimRight(strings.TrimSpace(cfg.BaseURL), "/")
	cfg.Model = strings.TrimSpace(cfg.Model)
	if fallback == nil {
		fallback = NewBuiltin()
	}
	return &llm{cfg: cfg, fallback: fallback, now: time.Now}
}

type llm struct {
	cfg      LLMConfig
	fallback Analyzer
	now      func() time.Time
}

func (l *llm) Analyze(ctx context.Context, in Input) (*Report, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	quiet := in
	quiet.Think = nil
	det := newAnalysis(quiet).report()
	in.think(hub.ThoughtAction, "Asking the model %s to analyse the incident and %d evidence %s.", l.cfg.Model, len(in.Evidence), plural(len(in.Evidence), "item"))
	rep, reason := l.ask(ctx, &in, det)
	if reason == "" {
		if len(rep.Causes) > 0 {
			in.think(hub.ThoughtHypothesis, "Most likely cause: %s (confidence %d%%).", rep.Causes[0].Title, pct(rep.Causes[0].Confidence))
		}
		in.think(hub.ThoughtAnalysis, "Writing the summary with %d %s and %d next %s.",
			len(rep.Citations), plural(len(rep.Citations), "citation"), len(rep.Suggestions), plural(len(rep.Suggestions), "step"))
		return rep, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	in.think(hub.ThoughtAnalysis, "The model gave no usable answer (%s); falling back to the builtin analysis.", reason)
	fb, err := l.fallback.Analyze(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("%s, and the fallback analysis failed: %w", reason, err)
	}
	out := *fb
	used := out.Analyzer
	if used == "" {
		used = "fallback"
	}
	out.FallbackReason = reason + "; " + used + " analysis used"
	return &out, nil
}

// ask returns the model's report, or why there is none.
func (l *llm) ask(ctx context.Context, in *Input, det *Report) (*Report, string) {
	if l.cfg.BaseURL == "" || l.cfg.Model == "" {
		return nil, "LLM is not configured (a base URL and a model are required)"
	}
	body, err := json.Marshal(chatRequest{
		Model: l.cfg.Model,
		Messages: []chatMessage{
			{Role: "system", Content: systemPrompt},
			{Role: "user", Content: "Incident and evidence (JSON):\n" + string(buildPrompt(*in, det, l.cfg.MaxEvidenceBytes))},
		},
		Temperature:    0,
		ResponseFormat: responseFormat{Type: "json_object"},
		Stream:         true,
	})
	if err != nil {
		return nil, "LLM request could not be built"
	}
	tctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(tctx, http.MethodPost, l.cfg.BaseURL+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return nil, "LLM base URL is invalid"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream, application/json")
	if l.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+l.cfg.APIKey)
	}
	resp, err := l.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, l.transportReason(tctx, err)
	}
	defer resp.Body.Close()
	var content, reason string
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 && strings.HasPrefix(strings.ToLower(resp.Header.Get("Content-Type")), "text/event-stream") {
		// The answer streams: its reasoning becomes thoughts as it comes.
		var err error
		content, reason, err = newStreamReader(in, l.redact).read(resp.Body)
		if err != nil {
			return nil, l.transportReason(tctx, err)
		}
	} else {
		// A server that does not stream answers in one piece.
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
		if err != nil {
			return nil, l.transportReason(tctx, err)
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return nil, l.statusReason(resp.StatusCode, data)
		}
		content, reason = chatContent(data)
	}
	if reason != "" {
		return nil, reason
	}
	rep, reason := parseAnswer(content)
	if reason != "" {
		return nil, reason
	}
	l.complete(rep, *in, det)
	return rep, ""
}

func (l *llm) transportReason(tctx context.Context, err error) string {
	var ne net.Error
	if errors.Is(tctx.Err(), context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Sprintf("LLM timed out after %s", l.cfg.Timeout)
	}
	if errors.Is(err, context.Canceled) {
		return "LLM request was cancelled"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // without the URL
	}
	return "LLM endpoint unreachable (" + l.redact(snippet(err.Error())) + ")"
}

func (l *llm) statusReason(status int, body []byte) string {
	switch {
	case status == http.StatusUnauthorized && l.cfg.APIKey == "":
		return "LLM endpoint requires an API key (HTTP 401)"
	case status == http.StatusUnauthorized:
		return "LLM endpoint rejected the API key (HTTP 401)"
	case status == http.StatusForbidden:
		return "LLM endpoint denied access (HTTP 403)"
	case status == http.StatusTooManyRequests:
		return "LLM endpoint rate limited the request (HTTP 429)"
	case status >= 500:
		return fmt.Sprintf("LLM endpoint failed (HTTP %d)", status)
	}
	msg := ""
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil {
		msg = str(object(e.Error)["message"])
		if msg == "" {
			msg = str(e.Error)
		}
	}
	if msg = l.redact(snippet(msg)); msg != "" {
		return fmt.Sprintf("LLM endpoint answered HTTP %d: %s", status, msg)
	}
	return fmt.Sprintf("LLM endpoint answered HTTP %d", status)
}

func (l *llm) redact(s string) string {
	if l.cfg.APIKey != "" {
		s = strings.ReplaceAll(s, l.cfg.APIKey, "[redacted]")
	}
	return s
}

// complete adds what the model is not asked for and fills gaps from the
// builtin analysis.
func (l *llm) complete(rep *Report, in Input, det *Report) {
	rep.Analyzer, rep.Model, rep.GeneratedAt = AnalyzerLLM, l.cfg.Model, l.now().UTC()
	rep.Timeline, rep.RunbookURL = det.Timeline, det.RunbookURL
	if len(rep.NextSteps) == 0 {
		rep.NextSteps = det.NextSteps
	}
	if rep.RunbookURL != "" && !strings.Contains(strings.Join(rep.NextSteps, "\n"), rep.RunbookURL) {
		rep.NextSteps = append([]string{"Follow the runbook: " + rep.RunbookURL}, rep.NextSteps...)
		if len(rep.Suggestions) > 0 {
			rep.Suggestions = append([]Suggestion{suggestionOf("Follow the runbook: "+rep.RunbookURL, "", "", "")}, rep.Suggestions...)
		}
	}
	if len(rep.RelatedIncidents) == 0 {
		rep.RelatedIncidents = det.RelatedIncidents
	}
	known := map[string]bool{}
	for _, ev := range in.Evidence {
		known[ev.ID] = true
	}
	for _, list := range [][]string{incidentIDs(in.Correlated), incidentIDs(in.Related)} {
		for _, id := range list {
			known[id] = true
		}
	}
	for i := range rep.Causes {
		ids := rep.Causes[i].EvidenceIDs[:0]
		for _, id := range rep.Causes[i].EvidenceIDs {
			if id != "" && known[id] {
				ids = append(ids, id)
			}
		}
		rep.Causes[i].EvidenceIDs = ids
	}
	normalize(rep)
	findings(rep, &in)
}

// normalize makes list fields empty rather than null in JSON.
func normalize(r *Report) {
	if r.Causes == nil {
		r.Causes = []Cause{}
	}
	for i := range r.Causes {
		if r.Causes[i].Evidence == nil {
			r.Causes[i].Evidence = []string{}
		}
		if r.Causes[i].EvidenceIDs == nil {
			r.Causes[i].EvidenceIDs = []string{}
		}
	}
	if r.Timeline == nil {
		r.Timeline = []TimelineItem{}
	}
	if r.RelatedIncidents == nil {
		r.RelatedIncidents = []string{}
	}
	if r.NextSteps == nil {
		r.NextSteps = []string{}
	}
}

// ---- request ---------------------------------------------------------------

type chatRequest struct {
	Model          string         `json:"model"`
	Messages       []chatMessage  `json:"messages"`
	Temperature    float64        `json:"temperature"`
	ResponseFormat responseFormat `json:"response_format"`
	Stream         bool           `json:"stream"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type responseFormat struct {
	Type string `json:"type"`
}

const systemPrompt = `You are a site reliability engineer performing root-cause analysis of a production incident.
Use only the incident and evidence given (change events, alerts, log entries, service dependencies, custom fields,
correlated, related and past incidents). "heuristic_findings" come from a simple rule-based analysis: confirm,
reorder or reject them. "notes" list evidence that could not be gathered; lower your confidence accordingly.
Answer with one JSON object and nothing else, its keys in this order:
{"analysis_steps": ["your reasoning, one short sentence per step, in the order you take the steps"],
 "summary": "one or two sentences naming the most likely cause",
 "causes": [{"title": "short cause", "confidence": 0.0-1.0, "evidence": ["evidence lines supporting it"], "evidence_ids": ["ids of the evidence items or incidents behind it"]}],
 "next_steps": [{"title": "a concrete action for the on-call engineer", "type": "diagnostic|mitigation|remediate|prevent|communication",
   "risk": "safe|low|medium|high", "command": "a shell command when one applies, else empty", "rationale": "why"}],
 "related_incidents": ["related or similar incidents worth reading"]}
List causes most likely first. If the evidence does not point to a cause, say so in the summary and use a low confidence.`

type promptIncident struct {
	ID               string                     `json:"id,omitempty"`
	Provider         string                     `json:"provider,omitempty"`
	ExternalID       string                     `json:"external_id,omitempty"`
	Number           int64                      `json:"number,omitempty"`
	Title            string                     `json:"title"`
	Status           string                     `json:"status,omitempty"`
	ProviderStatus   string                     `json:"provider_status,omitempty"`
	Severity         string                     `json:"severity,omitempty"`
	Priority         string                     `json:"priority,omitempty"`
	Urgency          string                     `json:"urgency,omitempty"`
	Service          string                     `json:"service,omitempty"`
	ServiceID        string                     `json:"service_id,omitempty"`
	IncidentKey      string                     `json:"incident_key,omitempty"`
	StartedAt        string                     `json:"started_at,omitempty"`
	AlertFiredAt     string                     `json:"alert_fired_at,omitempty"`
	ResolvedAt       string                     `json:"resolved_at,omitempty"`
	AffectedServices []string                   `json:"affected_services,omitempty"`
	CustomFields     map[string]json.RawMessage `json:"custom_fields,omitempty"`
	Timeline         []promptEvent              `json:"timeline,omitempty"`
}

type promptEvent struct {
	At    string `json:"at"`
	Type  string `json:"type"`
	Agent string `json:"agent,omitempty"`
}

type promptEvidence struct {
	Kind     string          `json:"kind"`
	ID       string          `json:"id,omitempty"`
	Summary  string          `json:"summary,omitempty"`
	At       string          `json:"at,omitempty"`
	Service  string          `json:"service,omitempty"`
	DedupKey string          `json:"dedup_key,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
	// DataTruncated is the start of data too large to send whole.
	DataTruncated string `json:"data_truncated,omitempty"`
}

type promptOther struct {
	ID         string `json:"id"`
	Number     int64  `json:"number,omitempty"`
	Provider   string `json:"provider,omitempty"`
	Title      string `json:"title"`
	Service    string `json:"service,omitempty"`
	Status     string `json:"status,omitempty"`
	StartedAt  string `json:"started_at,omitempty"`
	ResolvedAt string `json:"resolved_at,omitempty"`
	Resolution string `json:"resolve_reason,omitempty"`
}

type promptFinding struct {
	Title      string  `json:"title"`
	Confidence float64 `json:"confidence"`
}

type prompt struct {
	Incident            promptIncident   `json:"incident"`
	HeuristicFindings   []promptFinding  `json:"heuristic_findings,omitempty"`
	Notes               []string         `json:"notes,omitempty"`
	Evidence            []promptEvidence `json:"evidence"`
	Correlated          []promptOther    `json:"correlated_incidents,omitempty"`
	Related             []promptOther    `json:"related_incidents,omitempty"`
	OmittedEvidence     int              `json:"omitted_evidence,omitempty"`
	OmittedEvidenceNote string           `json:"omitted_evidence_note,omitempty"`
}

// kindOrder is which evidence goes into a tight prompt first.
var kindOrder = map[string]int{
	sdk.EvidenceChangeEvent: 0, sdk.EvidenceDependency: 1, sdk.EvidenceAlert: 2, sdk.EvidenceRelatedIncident: 3,
	sdk.EvidencePastIncident: 4, sdk.EvidenceCustomField: 5, sdk.EvidenceLogEntry: 6,
}

func rfc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func rfcPtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return rfc(*t)
}

// buildPrompt is the user message's JSON: the incident, the builtin
// findings and as much evidence (with the correlated and related
// incidents) as fits in budget bytes, most telling kinds first.
func buildPrompt(in Input, det *Report, budget int) []byte {
	inc := in.Incident
	p := prompt{Incident: promptIncident{
		ID: inc.ID, Provider: inc.Provider, ExternalID: inc.ExternalID, Number: inc.Number, Title: inc.Title,
		Status: inc.Status, ProviderStatus: inc.ProviderStatus, Severity: inc.Severity, Priority: inc.Priority,
		Urgency: inc.Urgency, IncidentKey: inc.IncidentKey, StartedAt: rfc(inc.StartedAt),
		AlertFiredAt: rfc(inc.AlertFiredAt), ResolvedAt: rfcPtr(inc.ResolvedAt), AffectedServices: inc.AffectedServices,
	}}
	if inc.Service != nil {
		p.Incident.Service, p.Incident.ServiceID = firstOf(inc.Service.Summary, inc.Service.ID), inc.Service.ID
	}
	for _, f := range inc.CustomFields {
		v := bytes.TrimSpace(f.ValueJSON)
		if len(v) == 0 || !json.Valid(v) {
			continue
		}
		if len(v) > maxFieldValue {
			v, _ = json.Marshal(cut(string(v), maxFieldValue))
		}
		if p.Incident.CustomFields == nil {
			p.Incident.CustomFields = map[string]json.RawMessage{}
		}
		p.Incident.CustomFields[firstOf(f.Name, f.ID)] = v
	}
	for i, e := range inc.Timeline {
		if i == maxPromptTimeline {
			break
		}
		pe := promptEvent{At: rfc(e.OccurredAt), Type: e.Type}
		if e.Agent != nil {
			pe.Agent = e.Agent.Summary
		}
		p.Incident.Timeline = append(p.Incident.Timeline, pe)
	}
	if det != nil {
		for _, c := range det.Causes {
			p.HeuristicFindings = append(p.HeuristicFindings, promptFinding{c.Title, c.Confidence})
		}
	}
	p.Notes = nonEmpty(in.Notes)

	evs := make([]sdk.Evidence, len(in.Evidence))
	copy(evs, in.Evidence)
	sort.SliceStable(evs, func(i, j int) bool { return rank(evs[i].Kind) < rank(evs[j].Kind) })
	used := 0
	fits := func(v any) (int, bool) {
		b, err := json.Marshal(v)
		return len(b) + 1, err == nil && used+len(b)+1 <= budget
	}
	p.Evidence = []promptEvidence{}
	for _, ev := range evs {
		item := evidenceItem(ev)
		n, ok := fits(item)
		if !ok && (item.Data != nil || item.DataTruncated != "") {
			item.Data, item.DataTruncated = nil, ""
			n, ok = fits(item)
		}
		if !ok {
			p.OmittedEvidence++
			continue
		}
		used += n
		p.Evidence = append(p.Evidence, item)
	}
	for _, list := range []struct {
		incs []promptOther
		out  *[]promptOther
	}{{others(in.Correlated), &p.Correlated}, {others(in.Related), &p.Related}} {
		for i, o := range list.incs {
			if i == maxPromptIncident {
				p.OmittedEvidence += len(list.incs) - i
				break
			}
			if n, ok := fits(o); ok {
				used += n
				*list.out = append(*list.out, o)
			} else {
				p.OmittedEvidence++
			}
		}
	}
	if p.OmittedEvidence > 0 {
		p.OmittedEvidenceNote = fmt.Sprintf("%d evidence items were omitted to fit the size limit", p.OmittedEvidence)
	}
	b, _ := json.Marshal(p)
	return b
}

func rank(kind string) int {
	if r, ok := kindOrder[kind]; ok {
		return r
	}
	return len(kindOrder)
}

func evidenceItem(ev sdk.Evidence) promptEvidence {
	item := promptEvidence{Kind: ev.Kind, ID: ev.ID, Summary: cut(ev.Summary, maxAnswerText), At: rfc(ev.At), DedupKey: ev.DedupKey}
	if ev.Service != nil {
		item.Service = firstOf(ev.Service.Summary, ev.Service.ID)
	}
	if d := bytes.TrimSpace(ev.Data); len(d) > 0 {
		var buf bytes.Buffer
		if json.Compact(&buf, d) == nil && buf.Len() <= maxItemData {
			item.Data = buf.Bytes()
		} else {
			item.DataTruncated = cut(string(d), maxItemData)
		}
	}
	return item
}

func others(incs []hub.Incident) []promptOther {
	out := make([]promptOther, 0, len(incs))
	for _, inc := range incs {
		o := promptOther{
			ID: inc.ID, Number: inc.Number, Provider: inc.Provider, Title: cut(inc.Title, maxAnswerText),
			Status: inc.Status, StartedAt: rfc(firstTime(inc.AlertFiredAt, inc.StartedAt)),
			ResolvedAt: rfcPtr(inc.ResolvedAt), Resolution: inc.ResolveReason,
		}
		if inc.Service != nil {
			o.Service = firstOf(inc.Service.Summary, inc.Service.ID)
		}
		out = append(out, o)
	}
	return out
}

func incidentIDs(incs []hub.Incident) []string {
	var out []string
	for _, inc := range incs {
		out = append(out, inc.ID, inc.ExternalID)
	}
	return out
}

// cut shortens s to at most n bytes on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// ---- response ---------------------------------------------------------------

// chatContent is the first choice's message content.
func chatContent(data []byte) (string, string) {
	var resp struct {
		Choices []struct {
			Message struct {
				Content json.RawMessage `json:"content"`
			} `json:"message"`
			Text string `json:"text"`
		} `json:"choices"`
	}
	if json.Unmarshal(data, &resp) != nil {
		return "", "LLM endpoint answered something other than a chat completion"
	}
	if len(resp.Choices) == 0 {
		return "", "LLM answer had no choices"
	}
	c := resp.Choices[0]
	var text string
	if json.Unmarshal(c.Message.Content, &text) != nil {
		// Content parts: [{"type": "text", "text": "..."}].
		var parts []struct {
			Text string `json:"text"`
		}
		if json.Unmarshal(c.Message.Content, &parts) == nil {
			var b strings.Builder
			for _, p := range parts {
				b.WriteString(p.Text)
			}
			text = b.String()
		}
	}
	if strings.TrimSpace(text) == "" {
		text = c.Text
	}
	if strings.TrimSpace(text) == "" {
		return "", "LLM answer was empty"
	}
	return text, ""
}

var fence = regexp.MustCompile("(?s)```[a-zA-Z]*\\s*(.*?)```")

// extractJSON finds the report object in the model's text: the whole text,
// a fenced block, or the first object in it that has a summary.
func extractJSON(text string) map[string]any {
	text = strings.TrimSpace(text)
	try := func(s string) map[string]any {
		var m map[string]any
		if json.Unmarshal([]byte(strings.TrimSpace(s)), &m) == nil && m != nil {
			return m
		}
		return nil
	}
	if m := try(text); m != nil {
		return m
	}
	for _, g := range fence.FindAllStringSubmatch(text, -1) {
		if m := try(g[1]); m != nil {
			return m
		}
	}
	var first map[string]any
	attempts := 0
	for i := 0; i < len(text) && attempts < maxJSONAttempts; i++ {
		if text[i] != '{' {
			continue
		}
		attempts++
		var m map[string]any
		if json.NewDecoder(strings.NewReader(text[i:])).Decode(&m) != nil || m == nil {
			continue
		}
		if report(m) != nil {
			return m
		}
		if first == nil {
			first = m
		}
	}
	return first
}

// key normalises a field name: "next_steps", "nextSteps" and "Next Steps"
// are one.
func key(k string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(k) {
		if r != '_' && r != '-' && r != ' ' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func field(m map[string]any, names ...string) any {
	for _, n := range names {
		for k, v := range m {
			if key(k) == n {
				return v
			}
		}
	}
	return nil
}

// report is the object holding the summary: m itself or one object in it
// ({"report": {...}}).
func report(m map[string]any) map[string]any {
	if s, _ := field(m, "summary").(string); strings.TrimSpace(s) != "" {
		return m
	}
	for _, k := range sortedKeys(m) {
		if sub, ok := m[k].(map[string]any); ok {
			if s, _ := field(sub, "summary").(string); strings.TrimSpace(s) != "" {
				return sub
			}
		}
	}
	return nil
}

// parseAnswer turns the model's text into a report, or says why it cannot.
func parseAnswer(text string) (*Report, string) {
	m := extractJSON(text)
	if m == nil {
		return nil, "LLM answer was not valid JSON"
	}
	m = report(m)
	if m == nil {
		return nil, "LLM answer did not match the report schema (no summary)"
	}
	s, _ := field(m, "summary").(string)
	rep := &Report{Summary: cut(strings.TrimSpace(s), 4*maxAnswerText)}
	causes, _ := field(m, "causes", "rootcauses", "likelycauses", "probablecauses", "possiblecauses").([]any)
	if c, ok := field(m, "causes", "rootcauses", "likelycauses").(map[string]any); ok {
		causes = []any{c}
	}
	for _, raw := range causes {
		if len(rep.Causes) == maxAnswerCauses {
			break
		}
		var c Cause
		switch x := raw.(type) {
		case string:
			c = Cause{Title: x, Confidence: 0.5}
		case map[string]any:
			t, _ := field(x, "title", "cause", "name", "description", "summary").(string)
			c = Cause{
				Title:       t,
				Confidence:  confidence(field(x, "confidence", "probability", "likelihood", "score")),
				Evidence:    lines(field(x, "evidence", "supportingevidence", "evidencelines")),
				EvidenceIDs: lines(field(x, "evidenceids", "ids")),
			}
		}
		if c.Title = cut(strings.TrimSpace(c.Title), maxAnswerText); c.Title != "" {
			rep.Causes = append(rep.Causes, c)
		}
	}
	sort.SliceStable(rep.Causes, func(i, j int) bool { return rep.Causes[i].Confidence > rep.Causes[j].Confidence })
	steps := field(m, "nextsteps", "steps", "recommendations", "actions", "remediation")
	rep.NextSteps = lines(steps)
	rep.Suggestions = suggestions(steps)
	rep.RelatedIncidents = lines(field(m, "relatedincidents", "related", "similarincidents"))
	return rep, ""
}

// suggestions reads next steps as suggestions: a string is classified by
// its words, an object's type, risk and command are taken when valid.
func suggestions(v any) []Suggestion {
	list, ok := v.([]any)
	if !ok && v != nil {
		list = []any{v}
	}
	var out []Suggestion
	for _, e := range list {
		if len(out) == maxAnswerLines {
			break
		}
		var sg Suggestion
		switch x := e.(type) {
		case string:
			sg = suggestionOf(cut(x, maxAnswerText), "", "", "")
		case map[string]any:
			text := func(names ...string) string {
				s, _ := field(x, names...).(string)
				return cut(strings.TrimSpace(s), maxAnswerText)
			}
			sg = suggestionOf(text("title", "step", "action", "description", "text", "summary"), text("type", "kind", "category"),
				text("risk", "risklevel"), text("command", "cmd"))
			if d := text("description", "details"); d != "" {
				sg.Description = d
			}
			sg.Rationale = text("rationale", "why", "reason")
		}
		if sg.Title != "" {
			out = append(out, sg)
		}
	}
	return out
}

// lines reads a list of strings leniently: one string, strings, numbers,
// or objects (their title, step, description or text, else their JSON).
func lines(v any) []string {
	var list []any
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		list = x
	default:
		list = []any{x}
	}
	var out []string
	for _, e := range list {
		if len(out) == maxAnswerLines {
			break
		}
		var s string
		switch x := e.(type) {
		case string:
			s = x
		case float64:
			s = strconv.FormatFloat(x, 'f', -1, 64)
		case map[string]any:
			s, _ = field(x, "title", "step", "action", "description", "text", "summary", "id").(string)
			if s == "" {
				b, _ := json.Marshal(x)
				s = string(b)
			}
		}
		if s = cut(strings.TrimSpace(s), maxAnswerText); s != "" {
			out = append(out, s)
		}
	}
	return out
}

var confidenceWords = []struct {
	word  string
	value float64
}{
	{"very high", 0.9}, {"very low", 0.1}, {"high", 0.8}, {"medium", 0.5}, {"moderate", 0.5}, {"low", 0.2},
}

// confidence reads 0.8, "0.8", "80%", 80 or "high" as a value in [0, 1];
// anything else is 0.5.
func confidence(v any) float64 {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case string:
		s := strings.ToLower(strings.TrimSpace(x))
		pct := strings.HasSuffix(s, "%")
		n, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "%")), 64)
		if err != nil {
			for _, w := range confidenceWords {
				if strings.Contains(s, w.word) {
					return w.value
				}
			}
			return 0.5
		}
		if pct {
			n /= 100
		}
		f = n
	default:
		return 0.5
	}
	if f > 1 && f <= 100 {
		f /= 100
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0.5
	}
	return round2(correlation.Clamp01(f))
}
