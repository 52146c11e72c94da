package hub

import "time"

// Thought is one step of an analysis's reasoning, shown while it runs
// (Aurora's streamingThoughts). IDs only grow, so a page that polls can
// append the ones it has not seen.
type Thought struct {
	ID         int64
	IncidentID string
	Content    string
	// Type is ThoughtAnalysis in practice (Aurora also knows finding,
	// hypothesis and action).
	Type      string
	Timestamp time.Time
	CreatedAt time.Time
}

// Thought types.
const (
	ThoughtAnalysis   = "analysis"
	ThoughtFinding    = "finding"
	ThoughtHypothesis = "hypothesis"
	ThoughtAction     = "action"
)

// Citation is a piece of evidence an analysis summary cites as [Key]:
// which tool or source was asked, what was asked, and what came back.
type Citation struct {
	ID         int64
	IncidentID string
	// Key is the number the summary's [n] markers use ("1", "2", ...).
	Key        string
	ToolName   string
	Command    string
	Output     string
	ExecutedAt time.Time
	CreatedAt  time.Time
}

// Suggestion is a next step an analysis proposes.
type Suggestion struct {
	ID          int64
	IncidentID  string
	Title       string
	Description string
	// Type is one of the Suggestion* types; Risk one of the Risk* levels.
	Type      string
	Risk      string
	Command   string
	Rationale string
	CreatedAt time.Time
}

// Suggestion types (Aurora's vocabulary; the hub proposes no code fixes).
const (
	SuggestionDiagnostic    = "diagnostic"
	SuggestionMitigation    = "mitigation"
	SuggestionRemediate     = "remediate"
	SuggestionPrevent       = "prevent"
	SuggestionCommunication = "communication"
)

// Suggestion risk levels.
const (
	RiskSafe   = "safe"
	RiskLow    = "low"
	RiskMedium = "medium"
	RiskHigh   = "high"
)
