// Package rca explains an incident's likely root causes from its evidence, with a builtin heuristic analyzer or an LLM.
package rca

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/sdk"
)

// Analyzer names (Report.Analyzer).
const (
	AnalyzerBuiltin = "builtin"
	AnalyzerLLM     = "llm"
)

// Input is everything known about an incident to analyse.
type Input struct {
	Incident hub.IncidentDetail
	Evidence []sdk.Evidence
	// Notes say what enrichment could not gather.
	Notes []string
	// Correlated are the incidents attached to this one.
	Correlated []hub.Incident
	// Related are earlier similar incidents, if any.
	Related []hub.Incident
	// Think, when set, receives the analysis's reasoning as it proceeds,
	// one step at a time, before the next step is taken. It is called from
	// the analyzing goroutine; it may block (to store the step).
	Think func(Thought)
}

// think reports one step of reasoning, if anyone listens.
func (in *Input) think(typ, format string, args ...any) {
	if in.Think == nil {
		return
	}
	text := strings.TrimSpace(fmt.Sprintf(format, args...))
	if text == "" {
		return
	}
	if typ == "" {
		typ = hub.ThoughtAnalysis
	}
	in.Think(Thought{Content: text, Type: typ})
}

// Thought is one step of an analysis's reasoning (hub.Thought types).
type Thought struct {
	Content string `json:"content"`
	Type    string `json:"type"`
}

// Citation is evidence the report's Markdown cites as [Key]: the source
// asked (ToolName, e.g. "pagerduty"), what was asked, and what came back.
type Citation struct {
	Key        string    `json:"key"`
	ToolName   string    `json:"toolName"`
	Command    string    `json:"command"`
	Output     string    `json:"output"`
	ExecutedAt time.Time `json:"executedAt"`
}

// Suggestion is a next step with its kind (hub.Suggestion* types), its risk
// (hub.Risk* levels) and, where one applies, a command to run.
type Suggestion struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	Type        string `json:"type"`
	Risk        string `json:"risk"`
	Command     string `json:"command,omitempty"`
	Rationale   string `json:"rationale,omitempty"`
}

// Cause is one likely root cause.
type Cause struct {
	Title      string  `json:"title"`
	Confidence float64 `json:"confidence"`
	// Evidence are human-readable lines supporting the cause.
	Evidence []string `json:"evidence"`
	// EvidenceIDs are the ids of the sdk.Evidence (or incidents) behind it.
	EvidenceIDs []string `json:"evidenceIds"`
}

// TimelineItem is one moment of the incident's story.
type TimelineItem struct {
	At   time.Time `json:"at"`
	What string    `json:"what"`
}

// Report is the outcome of an analysis.
type Report struct {
	Summary string `json:"summary"`
	// Causes are ranked, highest confidence first.
	Causes           []Cause        `json:"causes"`
	Timeline         []TimelineItem `json:"timeline"`
	RelatedIncidents []string       `json:"relatedIncidents"`
	NextSteps        []string       `json:"nextSteps"`
	// Markdown is the summary as Aurora's incident page shows it: the
	// summary, the likely causes and the timeline, its [n] markers naming
	// Citations by Key ("1", "2", ... in order of first mention).
	Markdown    string       `json:"markdown"`
	Citations   []Citation   `json:"citations"`
	Suggestions []Suggestion `json:"suggestions"`
	RunbookURL  string       `json:"runbookUrl,omitempty"`
	// Analyzer is AnalyzerBuiltin or AnalyzerLLM; Model is the LLM's model.
	Analyzer string `json:"analyzer"`
	Model    string `json:"model,omitempty"`
	// FallbackReason says why the builtin analysis stands in for the LLM's.
	FallbackReason string    `json:"fallbackReason,omitempty"`
	GeneratedAt    time.Time `json:"generatedAt"`
}

// Analyzer produces a report for an incident.
type Analyzer interface {
	Analyze(ctx context.Context, in Input) (*Report, error)
}
