package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/hashicorp/go-hclog"
)

// legacyTriggered is an inbox row as hubs before the versioned record wrote
// it (json.Marshal of sdk.Event, copied from a database): rows received
// before an upgrade are applied after it.
const legacyTriggered = `{"ID":"ev-legacy","Type":"incident.triggered","ResourceType":"incident","OccurredAt":"2026-11-30T09:15:00Z","Agent":null,"Incident":{"ExternalID":"PLEGACY","Number":7,"Title":"Disk full","Status":"triggered","Urgency":"high","Priority":"","Service":{"id":"PSVC1","type":"service_reference","summary":"storage"},"EscalationPolicy":null,"Assignees":null,"Teams":null,"IncidentKey":"","HTMLURL":"","CreatedAt":"2026-11-30T09:14:00Z","ResolveReason":"","HasCustomFields":false,"CustomFields":null,"ChangedCustomFields":null,"Partial":false},"Data":null}`

// TestApplyReadsEveryInboxForm: one chunk holding a legacy row, a current
// record and a record from a newer hub applies the first two and leaves the
// third as a dead letter at once, with an error naming its version.
func TestApplyReadsEveryInboxForm(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			st := storetest.Open(t, driver)
			client := pipelineJobs(t, st, testDeps(st), pipeline.WorkerOptions{Wakeups: pipeline.NewWakeups(st.Driver)})

			at := time.Date(2026, 11, 30, 9, 15, 0, 0, time.UTC)
			current, err := store.EncodeInboxEvent(&sdk.Event{ID: "ev-current", Type: "incident.triggered", ResourceType: "incident", OccurredAt: at,
				Incident: &sdk.Incident{ExternalID: "PCURRENT", Title: "CPU hot", Status: "triggered", Urgency: "low", CreatedAt: at}})
			if err != nil {
				t.Fatal(err)
			}
			future := `{"v":99,"id":"ev-future","type":"incident.triggered","incident":{"key":"PFUTURE"}}`
			row := func(id, enc string) store.InboxEvent {
				return store.InboxEvent{Provider: "pagerduty", ConnectionID: "conn-1", OwnerKind: "user", OwnerID: "u1", EventID: id,
					EventType: "incident.triggered", Verified: true, Event: enc, ReceivedAt: time.Now().UTC()}
			}
			rows, err := store.InsertInbox(ctx, st.Bun(), []store.InboxEvent{row("ev-legacy", legacyTriggered), row("ev-future", future), row("ev-current", current)})
			if err != nil || len(rows) != 3 {
				t.Fatalf("recording: %d rows, %v", len(rows), err)
			}
			if _, err := client.Insert(ctx, pipeline.ApplyEventsArgs{}, nil); err != nil {
				t.Fatal(err)
			}
			runJobs(t, client)

			if c := waitInboxDrained(t, st, 20*time.Second); c.Pending != 0 || c.Dead != 1 {
				t.Fatalf("inbox: %+v, want nothing pending and one dead letter", c)
			}
			for _, ext := range []string{"PLEGACY", "PCURRENT"} {
				n, err := st.Bun().NewSelect().Table("incidents").Where("external_id = ?", ext).Count(ctx)
				if err != nil || n != 1 {
					t.Errorf("incident %s: %d rows, %v; want 1", ext, n, err)
				}
			}
			dead, err := st.DeadInbox(ctx, pipeline.MaxEventAttempts, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(dead) != 1 || dead[0].EventID != "ev-future" || dead[0].Attempts != pipeline.MaxEventAttempts ||
				!strings.Contains(dead[0].LastError, "version 99") || dead[0].AppliedAt != nil {
				t.Fatalf("dead letters = %+v, want ev-future with its version in the error", dead)
			}
			// The stored record is kept as it was, for a hub that reads it.
			var kept string
			if err := st.Bun().NewSelect().Model((*store.InboxEvent)(nil)).Column("event").Where("event_id = 'ev-future'").Scan(ctx, &kept); err != nil || kept != future {
				t.Fatalf("stored record = %q, %v; want it unchanged", kept, err)
			}
		})
	}
}

// TestApplyEachStopsWithTheHub: when a chunk failed and its events are
// applied one by one as the hub stops, the events are not at fault: they
// stay pending with no attempt counted, and nothing is logged as an error.
// It logged "recording failed event" for each of the chunk's events (39 at
// the end of one PostgreSQL bench phase).
func TestApplyEachStopsWithTheHub(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			st := storetest.Open(t, driver)
			var logs bytes.Buffer
			deps := testDeps(st)
			deps.Logger = hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Trace, JSONFormat: true})
			w := &pipeline.ApplyEventsWorker{Deps: deps}
			recordTriggered(t, st, 3, "STOP")
			var ids []int64
			if err := st.Bun().NewSelect().Table("webhook_inbox").Column("id").Order("id").Scan(context.Background(), &ids); err != nil || len(ids) != 3 {
				t.Fatalf("inbox ids %v, %v", ids, err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := w.ApplyEach(ctx, ids); !errors.Is(err, context.Canceled) {
				t.Errorf("ApplyEach as the hub stops returned %v, want context.Canceled", err)
			}
			if strings.Contains(logs.String(), `"@level":"error"`) {
				t.Errorf("errors logged as the hub stopped:\n%s", logs.String())
			}
			var attempts []int
			if err := st.Bun().NewSelect().Table("webhook_inbox").Column("attempts").Where("applied_at IS NULL").Scan(context.Background(), &attempts); err != nil {
				t.Fatal(err)
			}
			if len(attempts) != 3 || slices.Max(attempts) != 0 {
				t.Errorf("pending events' attempts %v, want three at 0", attempts)
			}
		})
	}
}
