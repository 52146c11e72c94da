// Package pipeline is the shared incident pipeline every provider's events
// flow through: the durable jobs that apply webhook events to incidents.
package pipeline

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/hashicorp/go-hclog"
	"github.com/riverqueue/river"
	"github.com/uptrace/bun"
)

// MaxEventAttempts is how often an event is tried before it is left as a
// dead letter (visible with its last error, never applied automatically).
const MaxEventAttempts = 10

// chunk is how many events one transaction applies: small enough that a
// chunk never holds SQLite's one connection long enough to delay the
// inbox's commits (and so the webhooks waiting on them).
const chunk = 16

// ApplyEventsArgs wakes a worker to apply every recorded event that is not
// applied yet. The inbox is the data; the job only says "there is work".
type ApplyEventsArgs struct{}

// Kind names the job in River.
func (ApplyEventsArgs) Kind() string { return "apply_webhook_events" }

// Wakeups coalesces apply jobs. An inbox commit enqueues a job (in its own
// transaction) only when no job is waiting to start; a starting job applies
// everything committed before it, so no event is left without a job.
//
// On SQLite this is exact: the hub is the only writer and uses a single
// connection, so a commit that saw a waiting job finishes before that job
// can read the inbox. On PostgreSQL (several replicas, concurrent
// transactions) every commit enqueues; River's batched inserts make that
// cheap there, while River's SQLite insert costs a third of the webhook
// path's CPU.
type Wakeups struct {
	always  bool
	pending atomic.Bool
}

// NewWakeups returns the policy for a database driver.
func NewWakeups(driver string) *Wakeups { return &Wakeups{always: driver != "sqlite"} }

// Claim reports whether the caller must enqueue an apply job in the
// transaction it is about to commit. If that transaction fails, call Unclaim.
func (w *Wakeups) Claim() bool {
	if w.always {
		return true
	}
	return w.pending.CompareAndSwap(false, true)
}

// Unclaim undoes a Claim whose transaction did not commit.
func (w *Wakeups) Unclaim() { w.pending.Store(false) }

// started is called as an apply job begins: later commits need a new job.
func (w *Wakeups) started() { w.pending.Store(false) }

// ApplyEventsWorker applies inbox events to incidents, in the order they
// were recorded, each chunk in one transaction that also marks them applied,
// so a retried job (after a crash or an error) applies the rest exactly once.
type ApplyEventsWorker struct {
	river.WorkerDefaults[ApplyEventsArgs]
	Store   *store.Store
	Wakeups *Wakeups
	Logger  hclog.Logger
}

// Work implements river.Worker.
func (w *ApplyEventsWorker) Work(ctx context.Context, _ *river.Job[ApplyEventsArgs]) error {
	w.Wakeups.started()
	for {
		var ids []int64
		err := w.Store.DB.RunInTx(ctx, &sql.TxOptions{}, func(ctx context.Context, tx bun.Tx) error {
			var err error
			ids, err = w.apply(ctx, tx, nil)
			return err
		})
		if err != nil {
			if ctx.Err() != nil || len(ids) == 0 {
				return err
			}
			// One bad event must not hold back the others: apply each on its
			// own and record the error against the one that fails.
			return w.applyEach(ctx, ids)
		}
		if len(ids) < chunk {
			return nil
		}
	}
}

func (w *ApplyEventsWorker) applyEach(ctx context.Context, ids []int64) error {
	var errs []error
	for _, id := range ids {
		err := w.Store.DB.RunInTx(ctx, &sql.TxOptions{}, func(ctx context.Context, tx bun.Tx) error {
			_, err := w.apply(ctx, tx, []int64{id})
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("inbox event %d: %w", id, err))
			w.recordFailure(ctx, id, err)
		}
	}
	return errors.Join(errs...)
}

// apply applies, in id order, up to chunk pending events (only those in
// only, when given) and marks them applied. It returns the ids it selected,
// also when applying fails.
func (w *ApplyEventsWorker) apply(ctx context.Context, tx bun.Tx, only []int64) ([]int64, error) {
	var rows []store.InboxEvent
	q := tx.NewSelect().Model(&rows).
		Where("applied_at IS NULL").
		Where("attempts < ?", MaxEventAttempts).
		Order("id").
		Limit(chunk)
	if only != nil {
		q = q.Where("id IN (?)", bun.In(only))
	}
	if w.Store.Driver == "postgres" {
		q = q.For("UPDATE SKIP LOCKED")
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("loading events: %w", err)
	}
	ids := make([]int64, len(rows))
	for i, row := range rows {
		ids[i] = row.ID
	}
	if len(rows) == 0 {
		return ids, nil
	}
	for _, row := range rows {
		var ev sdk.Event
		if err := json.Unmarshal([]byte(row.Event), &ev); err != nil {
			return ids, fmt.Errorf("event %d: decoding stored event: %w", row.ID, err)
		}
		src := incidents.Source{Provider: row.Provider, OwnerKind: row.OwnerKind, OwnerID: row.OwnerID, ConnectionID: row.ConnectionID}
		if _, _, err := incidents.Apply(ctx, tx, src, ev); err != nil {
			return ids, fmt.Errorf("event %d: applying %s: %w", row.ID, row.EventType, err)
		}
	}
	_, err := tx.NewUpdate().Model((*store.InboxEvent)(nil)).
		Set("applied_at = ?", time.Now().UTC()).
		Set("attempts = attempts + 1").
		Set("last_error = ''").
		Where("id IN (?)", bun.In(ids)).
		Exec(ctx)
	if err != nil {
		return ids, fmt.Errorf("marking events applied: %w", err)
	}
	return ids, nil
}

func (w *ApplyEventsWorker) recordFailure(ctx context.Context, id int64, cause error) {
	var attempts int
	err := w.Store.DB.NewUpdate().Model((*store.InboxEvent)(nil)).
		Set("attempts = attempts + 1").
		Set("last_error = ?", truncate(cause.Error(), 1000)).
		Where("id = ?", id).
		Returning("attempts").
		Scan(ctx, &attempts)
	if err != nil {
		w.Logger.Error("recording failed event", "inbox_id", id, "error", err)
		return
	}
	if attempts >= MaxEventAttempts {
		w.Logger.Error("event left as a dead letter after repeated failures", "inbox_id", id, "attempts", attempts, "error", cause)
		return
	}
	w.Logger.Warn("event not applied, will retry", "inbox_id", id, "attempts", attempts, "error", cause)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
