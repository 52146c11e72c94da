package pipeline

import (
	"context"
	"fmt"
	"slices"

	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/uptrace/bun"
)

// readAhead is the apply worker's next chunk, read and decoded on one of
// SQLite's read connections (store.Reads) while the current chunk's
// transaction holds the writer. Reading and decoding the stored records
// took a fifth of the apply worker's time on the writer, which the inbox,
// early correlation and River wait for; beside it, it runs on the other
// core.
type readAhead struct {
	limit int
	done  chan readAheadResult
}

type readAheadResult struct {
	rows []store.PendingEvent
	err  error
}

// readAhead starts reading up to limit pending events with ids above
// after; nil on PostgreSQL, where the transaction reads and locks them.
func (w *ApplyEventsWorker) readAhead(ctx context.Context, after int64, limit int) *readAhead {
	if w.Store.Driver != "sqlite" {
		return nil
	}
	r := &readAhead{limit: limit, done: make(chan readAheadResult, 1)}
	go func() {
		rows, err := store.PendingInboxAfter(ctx, w.Store.Reads(), after, limit, MaxEventAttempts)
		r.done <- readAheadResult{rows, err}
	}()
	return r
}

// wait returns what the read found.
func (r *readAhead) wait(ctx context.Context) ([]store.PendingEvent, error) {
	select {
	case res := <-r.done:
		return res.rows, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// confirmAhead returns the events tx applies: those read ahead when they
// are still the first pending ones, found by their ids alone; otherwise
// (an event before them came back for a retry, they were applied or given
// up on meanwhile, nothing was read ahead) up to limit events read in tx.
func confirmAhead(ctx context.Context, tx bun.Tx, ahead []store.PendingEvent, limit int) ([]store.PendingEvent, error) {
	if len(ahead) > 0 {
		ids, err := store.PendingInboxIDs(ctx, tx, len(ahead), MaxEventAttempts)
		if err != nil {
			return nil, err
		}
		if slices.EqualFunc(ids, ahead, func(id int64, e store.PendingEvent) bool { return id == e.ID }) {
			return ahead, nil
		}
	}
	rows, err := store.PendingInbox(ctx, tx, nil, limit, MaxEventAttempts)
	if err != nil {
		return nil, fmt.Errorf("loading events: %w", err)
	}
	return rows, nil
}
