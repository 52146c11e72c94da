// Package pipeline is the shared incident pipeline every provider's events
// flow through: the durable jobs that apply webhook events to incidents.
package pipeline

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/hashicorp/go-hclog"
	"github.com/riverqueue/river"
	"github.com/uptrace/bun"
)

// ApplyEventsArgs asks a worker to apply recorded webhook events, in order.
// One job covers the events committed together (see webhooks' group commit).
type ApplyEventsArgs struct {
	InboxIDs []int64 `json:"inbox_ids"`
}

// Kind names the job in River.
func (ApplyEventsArgs) Kind() string { return "apply_webhook_events" }

// ApplyEventsWorker applies inbox events to incidents. Each event is applied
// and marked applied in one transaction, so a retried job (after a crash or
// an error) skips what is done and applies the rest exactly once.
type ApplyEventsWorker struct {
	river.WorkerDefaults[ApplyEventsArgs]
	Store  *store.Store
	Logger hclog.Logger
}

// Work implements river.Worker.
func (w *ApplyEventsWorker) Work(ctx context.Context, job *river.Job[ApplyEventsArgs]) error {
	var errs []error
	for _, id := range job.Args.InboxIDs {
		if err := w.applyOne(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("inbox event %d: %w", id, err))
			w.recordFailure(ctx, id, err)
		}
	}
	return errors.Join(errs...)
}

func (w *ApplyEventsWorker) applyOne(ctx context.Context, id int64) error {
	return w.Store.DB.RunInTx(ctx, &sql.TxOptions{}, func(ctx context.Context, tx bun.Tx) error {
		var row store.InboxEvent
		q := tx.NewSelect().Model(&row).Where("id = ?", id)
		if w.Store.Driver == "postgres" {
			q = q.For("UPDATE")
		}
		if err := q.Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil // pruned with its connection: nothing to do
			}
			return fmt.Errorf("loading: %w", err)
		}
		if row.AppliedAt != nil {
			return nil
		}
		var ev sdk.Event
		if err := json.Unmarshal([]byte(row.Event), &ev); err != nil {
			return fmt.Errorf("decoding stored event: %w", err)
		}
		src := incidents.Source{Provider: row.Provider, OwnerKind: row.OwnerKind, OwnerID: row.OwnerID, ConnectionID: row.ConnectionID}
		if _, _, err := incidents.Apply(ctx, tx, src, ev); err != nil {
			return fmt.Errorf("applying %s: %w", row.EventType, err)
		}
		now := time.Now().UTC()
		_, err := tx.NewUpdate().Model((*store.InboxEvent)(nil)).
			Set("applied_at = ?", now).
			Set("attempts = attempts + 1").
			Set("last_error = ''").
			Where("id = ?", id).
			Exec(ctx)
		if err != nil {
			return fmt.Errorf("marking applied: %w", err)
		}
		return nil
	})
}

func (w *ApplyEventsWorker) recordFailure(ctx context.Context, id int64, cause error) {
	_, err := w.Store.DB.NewUpdate().Model((*store.InboxEvent)(nil)).
		Set("attempts = attempts + 1").
		Set("last_error = ?", truncate(cause.Error(), 1000)).
		Where("id = ?", id).
		Exec(ctx)
	if err != nil {
		w.Logger.Error("recording failed event", "inbox_id", id, "error", err)
	}
	w.Logger.Warn("event not applied, will retry", "inbox_id", id, "error", cause)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
