// Package rca explains an incident's likely root causes from its evidence, with a builtin heuristic analyzer or an LLM.
package rca

import (
	"context"
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
	RunbookURL       string         `json:"runbookUrl,omitempty"`
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
