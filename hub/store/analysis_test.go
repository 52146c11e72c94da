package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
)

func TestAnalysisRecords(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			s := storetest.Open(t, driver)
			past := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
			_, err := s.Bun().ExecContext(ctx, `INSERT INTO incidents (id, provider, owner_kind, owner_id, external_id, status, severity,
				alert_fired_at, started_at, created_at, updated_at) VALUES (?, 'pagerduty', 'user', 'u1', 'P1', ?, ?, ?, ?, ?, ?)`,
				"inc-1", hub.IncidentInvestigating, hub.SeverityHigh, past, past, past, past)
			if err != nil {
				t.Fatal(err)
			}

			steps := []hub.Thought{{Content: "Reading the timeline."}, {Content: "A deploy landed 4 minutes before.", Type: hub.ThoughtFinding}}
			if err := store.AppendThoughts(ctx, s.Bun(), "inc-1", steps[:1]); err != nil {
				t.Fatal(err)
			}
			if err := store.AppendThoughts(ctx, s.Bun(), "inc-1", steps[1:]); err != nil {
				t.Fatal(err)
			}
			got, err := store.Thoughts(ctx, s.Bun(), "inc-1")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].Content != steps[0].Content || got[1].Content != steps[1].Content {
				t.Fatalf("thoughts = %+v", got)
			}
			if got[0].ID >= got[1].ID || got[0].Type != hub.ThoughtAnalysis || got[1].Type != hub.ThoughtFinding {
				t.Fatalf("ids must grow and types default to analysis: %+v", got)
			}

			for round, keys := range [][]string{{"1", "2", "3"}, {"1"}} {
				var cs []hub.Citation
				for _, k := range keys {
					cs = append(cs, hub.Citation{Key: k, ToolName: "pagerduty", Command: "change events", Output: "deploy v2"})
				}
				ss := []hub.Suggestion{{Title: "Roll back", Type: hub.SuggestionMitigation, Risk: hub.RiskMedium}, {Title: "Check logs"}}
				if err := store.ReplaceFindings(ctx, s.Bun(), "inc-1", cs, ss[:round+1]); err != nil {
					t.Fatal(err)
				}
				gotC, err := store.Citations(ctx, s.Bun(), "inc-1")
				if err != nil {
					t.Fatal(err)
				}
				gotS, err := store.Suggestions(ctx, s.Bun(), "inc-1")
				if err != nil {
					t.Fatal(err)
				}
				if len(gotC) != len(keys) || len(gotS) != round+1 {
					t.Fatalf("round %d: %d citations, %d suggestions", round, len(gotC), len(gotS))
				}
				if last := gotS[len(gotS)-1]; round == 1 && (last.Type != hub.SuggestionDiagnostic || last.Risk != hub.RiskSafe) {
					t.Fatalf("suggestion defaults: %+v", last)
				}
			}
		})
	}
}
