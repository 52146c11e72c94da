package queues_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/live"
	"github.com/aurora-hub/aurora-hub/hub/metrics"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/queues"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/hashicorp/go-hclog"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// env is a migrated database with River on it and the pipeline's workers
// (not started until start is called).
type env struct {
	t      *testing.T
	st     *store.Store
	client *jobs.Client
	q      *queues.Service
}

func newEnv(t *testing.T, driver string) *env {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t, driver)
	log := hclog.NewNullLogger()
	if err := jobs.Migrate(ctx, st, log); err != nil {
		t.Fatal(err)
	}
	deps := pipeline.Deps{Store: st, Live: live.New(st, false, log), Logger: log}
	workers := river.NewWorkers()
	pipeline.AddWorkers(workers, deps, pipeline.WorkerOptions{Wakeups: pipeline.NewWakeups(st.Driver)})
	c, err := jobs.New(st, jobs.Options{Workers: workers, Logger: log, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, st: st, client: c, q: queues.New(st, c, queues.Options{Metrics: metrics.New(metrics.Options{})})}
}

func (e *env) start() {
	e.t.Helper()
	if err := e.client.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.client.Stop(ctx)
	})
}

// inboxEvent records a triggered event of incident ext, received at.
func (e *env) inboxEvent(ext string, received time.Time) int64 {
	e.t.Helper()
	ev := sdk.Event{ID: "ev-" + ext, Type: "incident.triggered", ResourceType: "incident", OccurredAt: received,
		Incident: &sdk.Incident{ExternalID: ext, Title: "Disk full " + ext, Status: "triggered", Urgency: "high", CreatedAt: received}}
	b, _ := json.Marshal(ev)
	rows, err := store.InsertInbox(context.Background(), e.st.Bun(), []store.InboxEvent{{
		Provider: "pagerduty", ConnectionID: "conn-1", OwnerKind: "user", OwnerID: "u-" + ext, EventID: ev.ID,
		EventType: ev.Type, Verified: true, Event: string(b), ReceivedAt: received.UTC(),
	}})
	if err != nil || len(rows) != 1 {
		e.t.Fatalf("recording inbox event: %v", err)
	}
	return rows[0].ID
}

func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	e.t.Fatalf("timed out waiting for %s", what)
}

func group(st *metrics.QueueStats, kind, state string) *metrics.JobGroup {
	for i := range st.Jobs {
		if st.Jobs[i].Kind == kind && st.Jobs[i].State == state {
			return &st.Jobs[i]
		}
	}
	return nil
}

// TestStatsCountsAndAges: pending and dead inbox events, and jobs by kind
// and state, with ages measured from the database's times.
func TestStatsCountsAndAges(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			e := newEnv(t, driver)
			ctx := context.Background()
			st, err := e.q.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.InboxPending != 0 || st.InboxDeadLetters != 0 || st.InboxOldestAge != 0 || len(st.Jobs) != 0 {
				t.Fatalf("empty database: %+v", st)
			}
			hourAgo := time.Now().Add(-time.Hour)
			e.inboxEvent("P1", hourAgo)
			e.inboxEvent("P2", time.Now())
			dead := e.inboxEvent("P3", hourAgo.Add(-time.Hour))
			if _, err := e.st.Bun().NewUpdate().Model((*store.InboxEvent)(nil)).Set("attempts = ?", pipeline.MaxEventAttempts).Where("id = ?", dead).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := e.client.Insert(ctx, pipeline.ApplyEventsArgs{}, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := e.client.Insert(ctx, pipeline.ProcessIncidentArgs{IncidentID: "x"}, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			st, err = e.q.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.InboxPending != 2 || st.InboxDeadLetters != 1 {
				t.Errorf("inbox: pending %d, dead %d; want 2, 1", st.InboxPending, st.InboxDeadLetters)
			}
			// The dead letter is older but is not pending: the oldest pending is an hour old.
			if age := st.InboxOldestAge; age < 59*time.Minute || age > 61*time.Minute {
				t.Errorf("oldest pending age = %s, want about 1h", age)
			}
			if g := group(st, "apply_webhook_events", "available"); g == nil || g.Count != 1 || g.OldestAge > time.Minute {
				t.Errorf("available apply jobs = %+v in %+v", g, st.Jobs)
			}
			if g := group(st, "process_incident", "scheduled"); g == nil || g.Count != 1 || g.OldestAge > time.Minute {
				t.Errorf("scheduled process jobs = %+v in %+v", g, st.Jobs)
			}
			// Known kinds are reported in every state, 0 when empty.
			st, err = queues.New(e.st, e.client, queues.Options{Kinds: []string{"incident_rca", "process_incident"}}).Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if g := group(st, "incident_rca", "running"); g == nil || g.Count != 0 {
				t.Errorf("empty known kind: %+v in %+v", g, st.Jobs)
			}
			if g := group(st, "process_incident", "scheduled"); g == nil || g.Count != 1 || len(st.Jobs) != 13 {
				t.Errorf("known kinds with zeros: %d groups %+v", len(st.Jobs), st.Jobs)
			}
		})
	}
}

// TestDeadLettersRetry: a job discarded by its worker and an event that
// failed to apply are listed as dead letters across tenants; retried, the
// job runs again and the event is applied.
func TestDeadLettersRetry(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			e := newEnv(t, driver)
			ctx := context.Background()
			e.start()

			// A job that fails on its only attempt: the incident does not exist.
			ins, err := e.client.Insert(ctx, pipeline.ProcessIncidentArgs{IncidentID: "no-such-incident"}, &river.InsertOpts{MaxAttempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			jobID := ins.Job.ID
			state := func() rivertype.JobState {
				j, err := e.client.JobGet(ctx, jobID)
				if err != nil {
					t.Fatal(err)
				}
				return j.State
			}
			e.waitFor("the job to be discarded", func() bool { return state() == rivertype.JobStateDiscarded })
			dead, err := e.q.DeadJobs(ctx, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(dead) != 1 || dead[0].ID != jobID || dead[0].Kind != "process_incident" || !strings.Contains(dead[0].LastError, "no-such-incident") || len(dead[0].AttemptedBy) != 1 {
				t.Fatalf("dead jobs = %+v", dead)
			}
			st, err := e.q.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if g := group(st, "process_incident", "discarded"); g == nil || g.Count != 1 {
				t.Errorf("discarded group = %+v", g)
			}

			// Only a discarded job can be retried through the dead letters.
			var nf *hub.Error
			for _, id := range []int64{jobID + 1000} {
				if err := e.q.RetryJob(ctx, id); !asCode(err, &nf, hub.ENotFound) {
					t.Errorf("retrying job %d: %v, want not found", id, err)
				}
			}
			if err := e.q.RetryJob(ctx, jobID); err != nil {
				t.Fatal(err)
			}
			// It runs again (a second attempt, granted by the retry) and,
			// still failing, is discarded again.
			e.waitFor("the retried job's second attempt", func() bool {
				j, err := e.client.JobGet(ctx, jobID)
				return err == nil && j.Attempt == 2 && j.State == rivertype.JobStateDiscarded && len(j.Errors) == 2
			})

			// An inbox event that failed to apply ten times.
			evID := e.inboxEvent("PDEAD", time.Now())
			if _, err := e.st.Bun().NewUpdate().Model((*store.InboxEvent)(nil)).
				Set("attempts = ?", pipeline.MaxEventAttempts).Set("last_error = 'boom'").Where("id = ?", evID).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			events, err := e.q.DeadEvents(ctx, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 1 || events[0].ID != evID || events[0].OwnerID != "u-PDEAD" || events[0].LastError != "boom" {
				t.Fatalf("dead events = %+v", events)
			}
			if err := e.q.RetryEvent(ctx, evID); err != nil {
				t.Fatal(err)
			}
			e.waitFor("the retried event to be applied", func() bool {
				var row store.InboxEvent
				return e.st.Bun().NewSelect().Model(&row).Where("id = ?", evID).Scan(ctx) == nil && row.AppliedAt != nil
			})
			n, err := e.st.Bun().NewSelect().Table("incidents").Where("external_id = 'PDEAD'").Count(ctx)
			if err != nil || n != 1 {
				t.Fatalf("incidents from the retried event: %d, %v", n, err)
			}
			if err := e.q.RetryEvent(ctx, evID); !asCode(err, &nf, hub.ENotFound) {
				t.Errorf("retrying an applied event: %v, want not found", err)
			}

			// RetryAll takes every dead letter.
			e.waitFor("the job to be discarded again", func() bool { return state() == rivertype.JobStateDiscarded })
			ev2 := e.inboxEvent("PDEAD2", time.Now())
			if _, err := e.st.Bun().NewUpdate().Model((*store.InboxEvent)(nil)).Set("attempts = ?", pipeline.MaxEventAttempts).Where("id = ?", ev2).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			nEvents, nJobs, err := e.q.RetryAll(ctx)
			if err != nil || nEvents != 1 || nJobs != 1 {
				t.Fatalf("RetryAll = %d events, %d jobs, %v; want 1, 1", nEvents, nJobs, err)
			}
			e.waitFor("the third attempt", func() bool {
				j, err := e.client.JobGet(ctx, jobID)
				return err == nil && j.Attempt == 3 && j.State == rivertype.JobStateDiscarded
			})
		})
	}
}

// TestStatusListsRunningJobsAndHolder: a job being worked is listed with
// the River client that holds it.
func TestStatusListsRunningJobsAndHolder(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			st := storetest.Open(t, driver)
			log := hclog.NewNullLogger()
			if err := jobs.Migrate(ctx, st, log); err != nil {
				t.Fatal(err)
			}
			release := make(chan struct{})
			workers := river.NewWorkers()
			river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, _ *river.Job[blockArgs]) error {
				select {
				case <-release:
				case <-ctx.Done():
				}
				return nil
			}))
			c, err := jobs.New(st, jobs.Options{Workers: workers, Logger: log, PollInterval: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				close(release)
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				c.Stop(sctx)
			})
			ins, err := c.Insert(ctx, blockArgs{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			q := queues.New(st, c, queues.Options{RescueAfter: time.Minute})
			var status *queues.Status
			deadline := time.Now().Add(20 * time.Second)
			for {
				status, err = q.Status(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(status.Running) == 1 || time.Now().After(deadline) {
					break
				}
				time.Sleep(25 * time.Millisecond)
			}
			if len(status.Running) != 1 {
				t.Fatalf("running = %+v", status.Running)
			}
			r := status.Running[0]
			if r.ID != ins.Job.ID || r.Kind != "test_block" || r.Holder == "" || r.Holder != c.ID() || r.AttemptedAt == nil || r.Stuck {
				t.Errorf("running job = %+v (client %s)", r, c.ID())
			}
			if status.RescueAfterSeconds != 60 {
				t.Errorf("rescueAfterSeconds = %v", status.RescueAfterSeconds)
			}
			if r.Replica != nil {
				t.Errorf("a holder without a heartbeat row has replica %+v", r.Replica)
			}
			// The holder's heartbeat, as a PostgreSQL replica records it:
			// recent, then an hour old (the replica died).
			for _, tt := range []struct {
				age   time.Duration
				alive bool
			}{{0, true}, {time.Hour, false}} {
				beat := time.Now().Add(-tt.age).UTC()
				if _, err := st.Bun().ExecContext(ctx, "DELETE FROM hub_replicas"); err != nil {
					t.Fatal(err)
				}
				if _, err := st.Bun().ExecContext(ctx, "INSERT INTO hub_replicas (id, hostname, pid, started_at, heartbeat_at) VALUES (?, 'hub-7', 4242, ?, ?)", c.ID(), beat, beat); err != nil {
					t.Fatal(err)
				}
				status, err := q.Status(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(status.Running) != 1 {
					t.Fatalf("running = %+v", status.Running)
				}
				r := status.Running[0]
				if rep := r.Replica; rep == nil || rep.Hostname != "hub-7" || rep.PID != 4242 || rep.Alive != tt.alive || r.Stuck == tt.alive {
					t.Errorf("heartbeat %s old: replica %+v, stuck %v", tt.age, rep, r.Stuck)
				}
			}
		})
	}
}

type blockArgs struct{}

func (blockArgs) Kind() string { return "test_block" }

func asCode(err error, target **hub.Error, code hub.Code) bool {
	return err != nil && errors.As(err, target) && (*target).Code == code
}
