package pipeline

import (
	"context"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/uptrace/bun"
)

// SetIngestWindow widens how long after a commit webhooks count as arriving,
// so a test on a loaded machine does not depend on its goroutines being
// scheduled every 100 ms.
func (w *Wakeups) SetIngestWindow(d time.Duration) { w.window = d }

// CorrelateEarly runs one early-correlation transaction over ids.
func (w *CorrelateIncidentsWorker) CorrelateEarly(ctx context.Context, ids []string) error {
	return w.correlate(ctx, ids)
}

// ByService orders ids as a correlate_incidents job takes them.
func (w *CorrelateIncidentsWorker) ByService(ctx context.Context, ids []string) ([]string, error) {
	return w.byService(ctx, ids)
}

// CorrelateBatch is how many opened incidents a correlate_incidents job
// takes at most.
const CorrelateBatch = correlateBatch

// ConfirmAhead returns the events an apply transaction takes given those
// read ahead (confirmAhead).
func ConfirmAhead(ctx context.Context, tx bun.Tx, ahead []store.PendingEvent, limit int) ([]store.PendingEvent, error) {
	return confirmAhead(ctx, tx, ahead, limit)
}

// Started is what an apply job does first (Wakeups.started); Finished and
// Stopped what it does last (Wakeups.finished, Wakeups.stopped).
func (w *Wakeups) Started() bool { return w.started() }

func (w *Wakeups) Finished() (again bool) { return w.finished() }

func (w *Wakeups) Stopped() { w.stopped() }

// IdleCorrelateChunk is how many incidents an early-correlation
// transaction takes while no webhook arrives.
const IdleCorrelateChunk = idleCorrelateChunk

// ApplyEach applies ids one transaction each, as after their chunk failed.
func (w *ApplyEventsWorker) ApplyEach(ctx context.Context, ids []int64) error {
	return w.applyEach(ctx, ids, nil)
}
