package pipeline_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/live"
	"github.com/aurora-hub/aurora-hub/hub/metrics"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/pluginhost"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/webhooks"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/hashicorp/go-hclog"
	"github.com/riverqueue/river"
	"github.com/uptrace/bun"
)

// testDeps are the pipeline's dependencies on st with nothing else set up:
// no log, metrics of their own, a plugin host with no plugin. Tests set
// Config as they need.
func testDeps(st *store.Store) pipeline.Deps {
	log := hclog.NewNullLogger()
	return pipeline.Deps{Store: st, Live: live.New(st, false, log), Logger: log,
		Metrics: metrics.New(metrics.Options{}), Plugins: pluginhost.New(pluginhost.Options{Logger: log})}
}

// pipelineJobs adds River's tables to st and returns a job client (not yet
// started) running the pipeline's workers with deps and o, polling often.
func pipelineJobs(t *testing.T, st *store.Store, deps pipeline.Deps, o pipeline.WorkerOptions) *jobs.Client {
	t.Helper()
	return pipelineJobsWith(t, st, deps, o, jobs.Options{})
}

// pipelineJobsWith is pipelineJobs with River's options jo (its workers,
// logger and poll interval set here).
func pipelineJobsWith(t *testing.T, st *store.Store, deps pipeline.Deps, o pipeline.WorkerOptions, jo jobs.Options) *jobs.Client {
	t.Helper()
	if err := jobs.Migrate(context.Background(), st, deps.Logger); err != nil {
		t.Fatal(err)
	}
	workers := river.NewWorkers()
	pipeline.AddWorkers(workers, deps, o)
	jo.Workers, jo.Logger, jo.PollInterval = workers, deps.Logger, 50*time.Millisecond
	jc, err := jobs.New(st, jo)
	if err != nil {
		t.Fatal(err)
	}
	return jc
}

// runJobs starts jc and stops it when the test ends.
func runJobs(t *testing.T, jc *jobs.Client) {
	t.Helper()
	if err := jc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		jc.Stop(ctx)
	})
}

// startInbox saves the connection the tests' events name (conn-1, of user
// u1) and runs an inbox on st, committing with jc and wakeups as the
// webhook path does, until the test ends.
func startInbox(t *testing.T, st *store.Store, jc *jobs.Client, wakeups *pipeline.Wakeups) *webhooks.Inbox {
	t.Helper()
	now := time.Now().UTC()
	if err := st.SaveConnection(context.Background(), &hub.Connection{ID: "conn-1", Provider: "pagerduty", OwnerKind: "user", OwnerID: "u1",
		CreatedBy: "u1", DisplayName: "PagerDuty", AuthType: "api_token", Secret: []byte{1}, Capabilities: map[string]bool{},
		Status: hub.StatusConnected, ValidatedAt: now, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	inbox := webhooks.NewInbox(st, jc, wakeups, hclog.NewNullLogger())
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { inbox.Run(ctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	return inbox
}

// recordTriggered records n verified incident.triggered events, each of a
// new incident (external ids prefix00000, prefix00001, ...), in st's inbox
// as the webhook path does.
func recordTriggered(t *testing.T, st *store.Store, n int, prefix string) {
	t.Helper()
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	rows := make([]store.InboxEvent, n)
	for i := range rows {
		id := fmt.Sprintf("ev-%s%05d", prefix, i)
		enc, err := store.EncodeInboxEvent(&sdk.Event{ID: id, Type: "incident.triggered", ResourceType: "incident", OccurredAt: at,
			Incident: &sdk.Incident{ExternalID: fmt.Sprintf("%s%05d", prefix, i), Title: "CPU hot", Status: "triggered", Urgency: "low", CreatedAt: at}})
		if err != nil {
			t.Fatal(err)
		}
		rows[i] = store.InboxEvent{Provider: "pagerduty", ConnectionID: "conn-1", OwnerKind: "user", OwnerID: "u1", EventID: id,
			EventType: "incident.triggered", Verified: true, Event: enc, ReceivedAt: time.Now().UTC()}
	}
	if got, err := store.InsertInbox(context.Background(), st.Bun(), rows); err != nil || len(got) != n {
		t.Fatalf("recording: %d rows, %v", len(got), err)
	}
}

// waitInboxDrained waits up to d for nothing to be pending in st's inbox
// and returns its counts (the last read's when d passed). A failed read
// fails the test: its zero counts would read as a drained inbox.
func waitInboxDrained(t *testing.T, st *store.Store, d time.Duration) store.InboxCounts {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		c, err := st.CountInbox(context.Background(), pipeline.MaxEventAttempts)
		if err != nil {
			t.Fatalf("counting the inbox: %v", err)
		}
		if c.Pending == 0 || time.Now().After(deadline) {
			return c
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// opened is an incident for openAll: what tells them apart.
type opened struct {
	at                  time.Time
	service, key, title string
}

// openAll opens an incident for each of specs (an incident.triggered
// event each, external ids P0000, P0001, ...), in one transaction, as
// src's tenant, and returns their ids in order.
func openAll(t testing.TB, st *store.Store, src incidents.Source, specs []opened) []string {
	t.Helper()
	var ids []string
	err := st.Bun().RunInTx(context.Background(), nil, func(ctx context.Context, tx bun.Tx) error {
		for i, s := range specs {
			id, _, err := incidents.Apply(ctx, tx, src, sdk.Event{ID: fmt.Sprintf("e%d", i), Type: "incident.triggered", OccurredAt: s.at,
				Incident: &sdk.Incident{ExternalID: fmt.Sprintf("P%04d", i), Status: "triggered", Urgency: "high", CreatedAt: s.at,
					Title: s.title, IncidentKey: s.key, Service: &sdk.Reference{ID: s.service, Summary: "svc-" + s.service}}})
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
