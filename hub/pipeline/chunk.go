package pipeline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/riverqueue/river"
	"github.com/uptrace/bun"
)

// ProcessIncidentsArgs asks for the processing of the incidents one applied
// chunk of events opened, in order (a storm's parent first). One job per
// chunk instead of one per incident: River's insert of a job was a sixth of
// the hub's CPU per delivery in a storm.
type ProcessIncidentsArgs struct {
	IncidentIDs []string `json:"incident_ids"`
}

// Kind names the job in River.
func (ProcessIncidentsArgs) Kind() string { return "process_incidents" }

// InsertOpts: the queue and priority of ProcessIncidentArgs (analyses
// first). No uniqueness: only the transaction that applies the chunk
// inserts it, once.
func (ProcessIncidentsArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: jobs.QueueAnalysis, Priority: 2}
}

// chunkBudget is how long one run of a chunk's job starts new incidents by
// default; then a job ahead of the chunks not started continues with the
// rest (continueInPlace). Short, so that an analysis a chunk scheduled
// (priority 1, the same workers) waits at most about this long for a
// worker, and far from River taking a long run for a crashed one.
const chunkBudget = time.Second

// ProcessIncidentsWorker processes a chunk's incidents one after another,
// each exactly as ProcessIncidentWorker does, and marks each processed in
// the transaction that finishes it: a retried or rescued job (its replica
// killed mid-chunk) skips the incidents already done. An incident whose
// processing fails is handed to a process_incident job of its own (which
// retries it and, in the end, leaves it as a dead letter) while the chunk
// goes on, so one failure neither redoes nor blocks the others.
type ProcessIncidentsWorker struct {
	river.WorkerDefaults[ProcessIncidentsArgs]
	Deps
	// RunFor is how long one run starts new incidents (at least one);
	// 0: 1 s. Keep it well under HUB_JOB_RESCUE_AFTER.
	RunFor time.Duration
}

// Work implements river.Worker.
func (w *ProcessIncidentsWorker) Work(ctx context.Context, job *river.Job[ProcessIncidentsArgs]) error {
	ids := job.Args.IncidentIDs
	done, err := incidents.Processed(ctx, w.Store.Bun(), ids)
	if err != nil {
		return err
	}
	one := &ProcessIncidentWorker{Deps: w.Deps}
	runFor := w.RunFor
	if runFor <= 0 {
		runFor = chunkBudget
	}
	began := time.Now()
	// progress: this run marked an incident done. A run stops only after
	// one, so every run moves the chunk on. (An incident that no longer
	// exists cannot be marked: it is handed off again by each run, which
	// its own job's uniqueness makes a no-op.)
	progress := false
	for i, id := range ids {
		if done[id] {
			continue
		}
		if progress && time.Since(began) > runFor {
			return w.continueInPlace(ctx, job, ids[i:])
		}
		err := one.process(ctx, id, nil)
		progress = progress || !errors.Is(err, sql.ErrNoRows)
		var snooze *river.JobSnoozeError
		switch {
		case err == nil:
		case errors.As(err, &snooze), ctx.Err() != nil:
			// Paced (the provider's budget or rate limit, which the
			// incidents after it share) or stopping: the chunk continues
			// from here later.
			return err
		default:
			w.Logger.Warn("processing incident failed, retrying it in a job of its own", "incident", id, "error", err)
			if err := w.handOff(ctx, id, err); err != nil {
				return err
			}
		}
	}
	return nil
}

// continueInPlace hands the rest of the chunk to a job that goes ahead of
// the chunks not started yet, and completes this one, in one transaction.
// River takes a queue's jobs by priority, then scheduled time: a snoozed
// job (scheduled now) went behind every chunk enqueued since, and in a
// storm of thousands of chunks the rest of the first ones (the storm's
// parents: seven of twenty services' in hubbench's storm) waited behind
// every child's light enrichment. At an analysis's priority (1) a started
// chunk finishes before the next one starts, and an analysis enqueued
// before this run still goes first.
func (w *ProcessIncidentsWorker) continueInPlace(ctx context.Context, job *river.Job[ProcessIncidentsArgs], rest []string) error {
	err := w.Store.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		opts := &river.InsertOpts{Priority: 1}
		if _, err := river.ClientFromContext[*sql.Tx](ctx).InsertTx(ctx, tx.Tx, ProcessIncidentsArgs{IncidentIDs: rest}, opts); err != nil {
			return fmt.Errorf("enqueuing the rest of the chunk: %w", err)
		}
		return jobs.CompleteTx(ctx, w.Store, tx.Tx, job)
	})
	if err != nil {
		return fmt.Errorf("continuing the chunk (%d incidents left): %w", len(rest), err)
	}
	return nil
}

// handOff leaves incident id, whose processing failed with cause, to a
// process_incident job of its own (retried after River's backoff), and
// marks it done for the chunk, in one transaction.
func (w *ProcessIncidentsWorker) handOff(ctx context.Context, id string, cause error) error {
	err := w.Store.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		opts := &river.InsertOpts{ScheduledAt: time.Now().Add(time.Second)}
		if _, err := river.ClientFromContext[*sql.Tx](ctx).InsertTx(ctx, tx.Tx, ProcessIncidentArgs{IncidentID: id}, opts); err != nil {
			return fmt.Errorf("enqueuing its own job: %w", err)
		}
		return incidents.MarkProcessed(ctx, tx, id, time.Now())
	})
	if err != nil {
		return fmt.Errorf("handing off incident %s (processing failed: %v): %w", id, cause, err)
	}
	return nil
}
