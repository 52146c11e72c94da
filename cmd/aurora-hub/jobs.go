package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/config"
	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/queues"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/hashicorp/go-hclog"
)

const jobsUsage = `usage: aurora-hub jobs list [--json]
       aurora-hub jobs retry job:<id>|event:<id>|<job id>... | --all`

// jobsCmd lists the queues and retries dead letters, directly against the
// configured database (a running hub is not needed, nor disturbed).
func jobsCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "retry") {
		return errors.New(jobsUsage)
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, store.Options{Driver: cfg.Driver, SQLitePath: cfg.SQLitePath, URL: cfg.DatabaseURL})
	if err != nil {
		return fmt.Errorf("HUB_DATABASE_URL (%s): %w", cfg.RedactedDatabaseURL(), err)
	}
	defer st.Close()
	// Insert-only: this client works no jobs, it only reads and retries.
	jc, err := jobs.New(st, jobs.Options{Logger: hclog.NewNullLogger()})
	if err != nil {
		return err
	}
	q := queues.New(st, jc, queues.Options{RescueAfter: cfg.JobRescueAfter, ReplicaTimeout: cfg.Ops.ReplicaTimeout})
	if args[0] == "list" {
		return listJobs(ctx, q, args[1:], out)
	}
	return retryJobs(ctx, q, args[1:], out)
}

// jobsList is what `jobs list --json` prints.
type jobsList struct {
	Status      *queues.Status `json:"status"`
	DeadLetters struct {
		Events []queues.DeadEvent `json:"events"`
		Jobs   []queues.DeadJob   `json:"jobs"`
	} `json:"deadLetters"`
}

func listJobs(ctx context.Context, q *queues.Service, args []string, out io.Writer) error {
	asJSON := false
	for _, a := range args {
		if a != "--json" && a != "-json" {
			return errors.New(jobsUsage)
		}
		asJSON = true
	}
	var l jobsList
	var err error
	if l.Status, err = q.Status(ctx); err != nil {
		return notMigrated(err)
	}
	if l.DeadLetters.Events, err = q.DeadEvents(ctx, 1000); err != nil {
		return err
	}
	if l.DeadLetters.Jobs, err = q.DeadJobs(ctx, 1000); err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(l)
	}
	s := l.Status
	fmt.Fprintf(out, "inbox: %d pending (oldest %s), %d dead letters\n\n", s.Inbox.Pending, secs(s.Inbox.OldestPendingAgeSeconds), s.Inbox.DeadLetters)
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KIND\tSTATE\tCOUNT\tOLDEST")
	for _, g := range s.Jobs {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", g.Kind, g.State, g.Count, secs(g.OldestAgeSeconds))
	}
	w.Flush()
	fmt.Fprintf(out, "\nrunning jobs (%d):\n", len(s.Running))
	if len(s.Running) > 0 {
		w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tKIND\tQUEUE\tATTEMPT\tRUNNING FOR\tHOLDER\tREPLICA\tSTUCK")
		for _, r := range s.Running {
			rep := "-"
			if p := r.Replica; p != nil {
				state := "alive"
				if !p.Alive {
					state = "silent since " + p.HeartbeatAt.Format(time.RFC3339)
				}
				rep = fmt.Sprintf("%s pid %d, %s", p.Hostname, p.PID, state)
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%t\n", r.ID, r.Kind, r.Queue, r.Attempt, r.MaxAttempts, secs(r.RunningSeconds), r.Holder, rep, r.Stuck)
		}
		w.Flush()
	}
	fmt.Fprintf(out, "\ndead letters: events (%d):\n", len(l.DeadLetters.Events))
	if len(l.DeadLetters.Events) > 0 {
		w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tPROVIDER\tOWNER\tEVENT\tTYPE\tRECEIVED\tATTEMPTS\tLAST ERROR")
		for _, e := range l.DeadLetters.Events {
			fmt.Fprintf(w, "event:%d\t%s\t%s:%s\t%s\t%s\t%s\t%d\t%s\n", e.ID, e.Provider, e.OwnerKind, e.OwnerID, e.EventID, e.EventType,
				e.ReceivedAt.Format(time.RFC3339), e.Attempts, oneLine(e.LastError))
		}
		w.Flush()
	}
	fmt.Fprintf(out, "\ndead letters: discarded jobs (%d):\n", len(l.DeadLetters.Jobs))
	if len(l.DeadLetters.Jobs) > 0 {
		w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tKIND\tARGS\tATTEMPTS\tDISCARDED\tLAST ERROR")
		for _, j := range l.DeadLetters.Jobs {
			at := "-"
			if j.DiscardedAt != nil {
				at = j.DiscardedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(w, "job:%d\t%s\t%s\t%d/%d\t%s\t%s\n", j.ID, j.Kind, j.Args, j.Attempt, j.MaxAttempts, at, oneLine(j.LastError))
		}
		w.Flush()
	}
	return nil
}

func retryJobs(ctx context.Context, q *queues.Service, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(jobsUsage)
	}
	if len(args) == 1 && (args[0] == "--all" || args[0] == "-all") {
		events, jobs, err := q.RetryAll(ctx)
		if err != nil {
			return notMigrated(err)
		}
		fmt.Fprintf(out, "retried %d events and %d jobs\n", events, jobs)
		return nil
	}
	for _, a := range args {
		kind, id := "job", a
		if k, v, ok := strings.Cut(a, ":"); ok {
			kind, id = k, v
		}
		n, err := queues.ParseID(id)
		if err != nil {
			return fmt.Errorf("%s: %w", a, err)
		}
		switch kind {
		case "job":
			err = q.RetryJob(ctx, n)
		case "event":
			err = q.RetryEvent(ctx, n)
		default:
			return fmt.Errorf("%s: want job:<id> or event:<id>", a)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", a, notMigrated(err))
		}
		fmt.Fprintf(out, "retried %s:%d\n", kind, n)
	}
	return nil
}

// notMigrated explains a missing table: the hub creates them at start.
func notMigrated(err error) error {
	if s := err.Error(); strings.Contains(s, "no such table") || strings.Contains(s, "does not exist") {
		return fmt.Errorf("%w (has the hub run on this database? `aurora-hub serve` creates the tables)", err)
	}
	return err
}

func secs(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Second).String()
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
