package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/app"
	"github.com/aurora-hub/aurora-hub/hub/config"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// runJobs runs `aurora-hub jobs args...` and returns what it printed.
func runJobs(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := jobsCmd(ctx, args, &out)
	return out.String(), err
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestJobsListAndRetry: against the database of a running hub, `jobs list`
// shows a discarded job and a dead inbox event, and `jobs retry` sends them
// back to the hub's workers.
func TestJobsListAndRetry(t *testing.T) {
	for _, backend := range storetest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			dbURL := "sqlite://" + filepath.Join(t.TempDir(), "hub.db")
			if backend == "postgres" {
				dbURL = storetest.PostgresURL(t)
			}
			key := make([]byte, 32)
			rand.Read(key)
			env := map[string]string{"HUB_DATABASE_URL": dbURL, "HUB_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(key), "HUB_LISTEN": "127.0.0.1:0"}
			for k, v := range env {
				t.Setenv(k, v) // what the command reads
			}
			cfg, err := config.FromEnv(env)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			a, err := app.New(ctx, cfg, app.Options{SkipPluginDir: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close(context.Background()) })

			// A job discarded on its only attempt (the incident does not exist).
			ins, err := a.Jobs.Insert(ctx, pipeline.ProcessIncidentArgs{IncidentID: "no-such-incident"}, &river.InsertOpts{MaxAttempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			jobID := ins.Job.ID
			job := func() *rivertype.JobRow {
				j, err := a.Jobs.JobGet(ctx, jobID)
				if err != nil {
					t.Fatal(err)
				}
				return j
			}
			waitUntil(t, "the job to be discarded", func() bool { return job().State == rivertype.JobStateDiscarded })
			// An inbox event that failed to apply ten times.
			ev := sdk.Event{ID: "ev-cli", Type: "incident.triggered", ResourceType: "incident", OccurredAt: time.Now(),
				Incident: &sdk.Incident{ExternalID: "PCLI", Title: "Disk full", Status: "triggered", Urgency: "high", CreatedAt: time.Now()}}
			b, _ := json.Marshal(ev)
			rows, err := store.InsertInbox(ctx, a.Store.Bun(), []store.InboxEvent{{Provider: "pagerduty", ConnectionID: "c1", OwnerKind: "user", OwnerID: "u1",
				EventID: ev.ID, EventType: ev.Type, Verified: true, Event: string(b), ReceivedAt: time.Now().UTC(), Attempts: pipeline.MaxEventAttempts, LastError: "boom"}})
			if err != nil || len(rows) != 1 {
				t.Fatalf("recording the event: %v", err)
			}
			eventID := rows[0].ID

			out, err := runJobs(t, "list")
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"inbox: 0 pending", "1 dead letters", fmt.Sprintf("job:%d", jobID), "process_incident", "no-such-incident",
				fmt.Sprintf("event:%d", eventID), "user:u1", "boom", "dead letters: discarded jobs (1)"} {
				if !strings.Contains(out, want) {
					t.Errorf("jobs list lacks %q:\n%s", want, out)
				}
			}
			out, err = runJobs(t, "list", "--json")
			if err != nil {
				t.Fatal(err)
			}
			var l jobsList
			if err := json.Unmarshal([]byte(out), &l); err != nil {
				t.Fatalf("jobs list --json: %v\n%s", err, out)
			}
			if len(l.DeadLetters.Jobs) != 1 || l.DeadLetters.Jobs[0].ID != jobID || len(l.DeadLetters.Events) != 1 || l.DeadLetters.Events[0].ID != eventID || l.Status.Inbox.DeadLetters != 1 {
				t.Errorf("jobs list --json = %s", out)
			}

			// Bad arguments and ids that are no dead letters fail, changing nothing.
			for _, args := range [][]string{{"retry"}, {"retry", "job:abc"}, {"retry", "task:1"}, {"retry", fmt.Sprintf("job:%d", jobID+1000)}, {"retry", "event:999999"}, {"frobnicate"}} {
				if out, err := runJobs(t, args...); err == nil {
					t.Errorf("jobs %v succeeded: %s", args, out)
				}
			}

			out, err = runJobs(t, "retry", fmt.Sprintf("job:%d", jobID), fmt.Sprintf("event:%d", eventID))
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("retried job:%d\nretried event:%d\n", jobID, eventID); out != want {
				t.Errorf("jobs retry printed %q, want %q", out, want)
			}
			// The hub's workers take them: the job runs a second time (and,
			// still failing, is discarded again); the event is applied.
			waitUntil(t, "the job's second attempt", func() bool {
				j := job()
				return j.Attempt == 2 && j.State == rivertype.JobStateDiscarded
			})
			waitUntil(t, "the event to be applied", func() bool {
				var row store.InboxEvent
				return a.Store.Bun().NewSelect().Model(&row).Where("id = ?", eventID).Scan(ctx) == nil && row.AppliedAt != nil
			})

			out, err = runJobs(t, "retry", "--all")
			if err != nil || out != "retried 0 events and 1 jobs\n" {
				t.Fatalf("jobs retry --all = %q, %v", out, err)
			}
			waitUntil(t, "the job's third attempt", func() bool { return job().Attempt == 3 })
		})
	}
}
