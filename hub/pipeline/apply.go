// Package pipeline is the shared incident pipeline every provider's events
// flow through: the durable jobs that apply webhook events to incidents.
package pipeline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/live"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/riverqueue/river"
	"github.com/uptrace/bun"
)

// MaxEventAttempts is how often an event is tried before it is left as a
// dead letter (visible with its last error, never applied automatically).
const MaxEventAttempts = 10

// chunk is how many events one transaction applies when no webhook is
// arriving (with one incidents.ApplyBatch, a handful of statements whatever
// its size). What a transaction costs besides its events (the commit's page
// writes, marking the chunk applied, its processing job, reading the next
// chunk ahead) is paid per chunk, so larger chunks apply a backlog sooner:
// after a storm of 50,000 new incidents on SQLite the backlog was applied
// 9.9 to 11.5 s after the last webhook with chunks of 32, 7.1 to 10.8 s
// with 128, 5.4 to 7.0 s with 256 and 6.1 to 6.5 s with 512 (two to four
// alternated runs each, docs/performance-history.md, round 8); on
// PostgreSQL 9.0 and 11.8 s with 32, 1.9 and 4.5 s with 256. A
// transaction of 256 new incidents holds SQLite's writer about 20 ms
// (BenchmarkApplyBatch, storm cases), which only a webhook arriving after
// an idle moment waits for: while they keep arriving, ingestChunk applies.
const chunk = 256

// ingestChunk is chunk while webhooks arrive. At 1,000 webhooks/s on SQLite
// a chunk of 32 held the connection 10 to 15 ms (p99 30 to 60 ms), and the
// apply transactions were what the slow webhooks' commits waited on most;
// 8 holds it about 3 ms (p99 12 to 17 ms), at more CPU per event (each
// commit costs about the same whatever its size); the backlog left is
// applied in chunks of chunk once the burst ends.
const ingestChunk = 8

// ApplyEventsArgs wakes a worker to apply every recorded event that is not
// applied yet. The inbox is the data; the job only says "there is work".
type ApplyEventsArgs struct{}

// Kind names the job in River.
func (ApplyEventsArgs) Kind() string { return "apply_webhook_events" }

// Wakeups wakes the apply worker after the inbox commits.
//
// On SQLite an inbox commit enqueues an apply job (in its own transaction)
// only when no job is waiting to start; a starting job applies everything
// committed before it, so no event is left without a job. This is exact:
// the hub is the only writer and uses a single connection, so a commit that
// saw a waiting job finishes before that job can read the inbox.
//
// On PostgreSQL an inbox commit enqueues no job: it wakes this replica's
// ApplyOnCommit, which applies in this process (see there why). Several
// replicas commit at once there, and a job enqueued by one may run on
// another, so only the committing replica's own applier can tell whether it
// has looked at the inbox since the commit.
type Wakeups struct {
	shared  bool // PostgreSQL: replicas share the database
	pending atomic.Bool
	// kick wakes ApplyOnCommit (PostgreSQL; buffered, one wake-up pending).
	kick chan struct{}
	// lastCommit is when the inbox last committed (unix nanoseconds).
	lastCommit atomic.Int64
	// perCommit is how many deliveries the inbox's recent commits took on
	// average (float64 bits; see Saturated).
	perCommit atomic.Uint64
	// window is how long after a commit webhooks count as arriving;
	// ingestWindow unless a test widens it.
	window time.Duration
	// behind: the apply worker's last transaction was full, so more
	// events wait (see yieldToApply).
	behind atomic.Bool
	// gate lets one apply job run at a time on SQLite (nil on PostgreSQL,
	// where replicas' jobs lock disjoint events). Two took turns on the one
	// writer, each taking the events the other had read ahead (readAhead);
	// one after the other, the second applies what the first left.
	gate *applyGate
}

// ingestWindow: webhooks count as arriving for this long after the inbox's
// last commit.
const ingestWindow = 100 * time.Millisecond

// Committed tells the appliers that the inbox committed the events of
// deliveries webhooks in one transaction: it is taking webhooks, and on
// PostgreSQL ApplyOnCommit has events to apply.
func (w *Wakeups) Committed(deliveries int) {
	w.lastCommit.Store(time.Now().UnixNano())
	for {
		old := w.perCommit.Load()
		avg := math.Float64frombits(old)
		avg += (float64(deliveries) - avg) / perCommitWeight
		if w.perCommit.CompareAndSwap(old, math.Float64bits(avg)) {
			break
		}
	}
	w.wake()
}

// perCommitWeight: Wakeups.perCommit averages about this many commits.
const perCommitWeight = 16

// Saturated reports whether webhooks arrive as fast as the hub takes them:
// its inbox commits gather saturatedPerCommit or more deliveries each, on
// average, since more arrived while it committed the last. On SQLite, in
// hubbench's runs, about 1.2 at 1,000 webhooks a second, 5 to 6 at 5,000,
// and 7 in the closed loop (64 connections as fast as the hub answers).
func (w *Wakeups) Saturated() bool {
	return w.ingesting() && math.Float64frombits(w.perCommit.Load()) >= saturatedPerCommit
}

const saturatedPerCommit = 3

// wake wakes one of ApplyOnCommit's appliers (PostgreSQL).
func (w *Wakeups) wake() {
	if w.kick != nil {
		select {
		case w.kick <- struct{}{}:
		default: // a wake-up is already pending: it reads the inbox after this commit
		}
	}
}

// ingesting reports whether webhooks arrived within the window.
func (w *Wakeups) ingesting() bool {
	last := w.lastCommit.Load()
	return last != 0 && time.Since(time.Unix(0, last)) < w.window
}

// NewWakeups returns the policy for a database driver.
func NewWakeups(driver string) *Wakeups {
	w := &Wakeups{shared: driver != "sqlite", window: ingestWindow}
	if w.shared {
		w.kick = make(chan struct{}, 1)
	} else {
		w.gate = &applyGate{}
	}
	return w
}

// Claim reports whether the caller must enqueue an apply job in the
// transaction it is about to commit (never on PostgreSQL: Committed wakes
// the replica's own applier). If that transaction fails, call Unclaim.
func (w *Wakeups) Claim() bool {
	return !w.shared && w.pending.CompareAndSwap(false, true)
}

// Unclaim undoes a Claim whose transaction did not commit.
func (w *Wakeups) Unclaim() { w.pending.Store(false) }

// chunk is how many events the next apply transaction takes: on SQLite
// while webhooks arrive, ingestChunk, so that the inbox's commits (which the
// webhooks' answers wait on) wait at most a few milliseconds for its one
// connection; otherwise chunk, the cheapest per event (on PostgreSQL the
// inbox never waits for the appliers' connections, and a smaller chunk is
// only more commits, each a WAL flush).
func (w *Wakeups) chunk() int {
	if !w.shared && w.ingesting() {
		return ingestChunk
	}
	return chunk
}

// rest is how long the apply worker waits, on SQLite while webhooks
// arrive and a backlog waits, after a chunk that took took; oldest is when
// the chunk's first event arrived.
//
// Half as long as the chunk took, as a rule: accepting webhooks keeps most
// of the machine, and the events are applied soon after they arrive. Not
// waiting cost the closed loop 7% for a storm applied about as soon;
// waiting as long as the chunk took applied it about 2 s later
// (docs/performance-history.md, round 7).
//
// While the hub is saturated (more webhooks arrive than it takes), each
// chunk applied is taken from accepting: at 8 events a transaction (while
// webhooks arrive, see ingestChunk) it costs several times what an event
// costs in a backlog's chunks of 256, applied after the burst. The worker
// then rests saturatedRest times as long, until its events have waited
// maxDeferral: a storm is accepted first and applied after it, and a
// longer overload still has its events applied. In alternated hubbench
// runs the closed loops took 8,374 to 9,186 webhooks a second against
// 5,746 to 6,715, and a 10-second storm at 5,000 a second was applied 4.5 s
// after its last delivery, against 2.9 s (docs/performance-history.md,
// round 21).
func (w *Wakeups) rest(took time.Duration, oldest time.Time) time.Duration {
	if w.Saturated() && time.Since(oldest) < maxDeferral {
		return saturatedRest * took
	}
	return took / 2
}

const (
	saturatedRest = 20
	// maxDeferral is how long the apply worker defers events while the
	// hub is saturated: the pipeline's own bound on a storm's events being
	// applied (issue #13: within 10 s of the last delivery).
	maxDeferral = 10 * time.Second
)

// correlateChunk is how many incidents one early-correlation transaction
// takes: on SQLite while webhooks arrive, ingestCorrelateChunk (a
// correlation costs about as much as eight applied events, and the inbox's
// commits wait for SQLite's one connection meanwhile), otherwise
// idleCorrelateChunk. Since the API reads on connections of its own
// (store.Reads) nothing but background work waits for it.
func (w *Wakeups) correlateChunk() int {
	if w != nil && !w.shared && w.ingesting() {
		return ingestCorrelateChunk
	}
	return idleCorrelateChunk
}

// idleCorrelateChunk: a transaction of 64 holds the writer about 20 ms.
// Against 32, its incidents of a service share one candidate read and one
// commit twice as often: BenchmarkEarlyCorrelation 255 to 279 µs an
// incident against 297 to 330 (two runs each); 128 saved nothing more.
const idleCorrelateChunk = 64

// ingestCorrelateChunk is correlateChunk while webhooks arrive.
const ingestCorrelateChunk = 2

// started is called as an apply job begins: later commits need a new job.
// On SQLite one apply job runs at a time: when another runs, started
// reports false at once and that one looks at the inbox again before it
// ends (a job waiting here instead could wait past River's job timeout
// behind a long backlog, and fail). Otherwise the job calls finished when
// it has applied everything, and again while that reports a job turned
// away meanwhile, or stopped when it ends early (an error: River runs it
// again; its time spent: it enqueues the next).
func (w *Wakeups) started() bool {
	w.pending.Store(false)
	return w.gate.enter()
}

// finished ends a started job that found nothing left to apply, unless a
// job was turned away meanwhile: then it reports true and the job, still
// the one running, looks at the inbox again.
func (w *Wakeups) finished() (again bool) { return w.gate.leave() }

// stopped ends a started job before the inbox is empty.
func (w *Wakeups) stopped() { w.gate.abort() }

// applyGate lets one apply job run at a time; a nil one lets every job run.
type applyGate struct {
	mu      sync.Mutex
	running bool
	again   bool // a job was turned away while one ran
}

func (g *applyGate) enter() bool {
	if g == nil {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running {
		g.again = true
		return false
	}
	g.running = true
	return true
}

// leave ends a job that found nothing left to apply, unless a job was
// turned away meanwhile: then it reports true, still holding the gate, and
// the job looks at the inbox again.
func (g *applyGate) leave() (again bool) {
	if g == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.again {
		g.again = false
		return true
	}
	g.running = false
	return false
}

// abort ends a job that stops before the inbox is empty; the job run next
// (River's retry, or the one it enqueues) applies what the jobs turned away
// meanwhile came for.
func (g *applyGate) abort() {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.running = false
	g.mu.Unlock()
}

// yieldToApply is called by background work that shares the apply
// worker's database (early correlation) after a piece of work that took
// since began. While the apply worker has a backlog it waits until that is
// applied: applying is what makes incidents visible, and a storm's
// correlation taking half of the time beside it delayed the last of 50,000
// events by about 1.5 s for a few thousand correlations more
// (docs/performance-history.md, round 6). While webhooks arrive (and are
// applied as they come) it rests ingestRest times as long as the work took, so
// accepting them keeps most of the machine and SQLite's one connection,
// and a steady stream never stops it. A nil Wakeups never waits.
func (w *Wakeups) yieldToApply(ctx context.Context, began time.Time) error {
	if w == nil {
		return nil
	}
	if !w.behind.Load() {
		if w.ingesting() {
			return pause(ctx, ingestRest*time.Since(began))
		}
		return nil
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for w.behind.Load() {
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// ingestRest is how many times as long as a piece of its work early
// correlation rests while webhooks arrive: it then has a quarter of the
// time. Resting as long as the work took (half the time) left the storm's
// p99 at 1,000/s a median 2.5 ms higher (13 alternated runs, 9 of them
// higher; docs/performance-history.md, round 10); correlating 1,000
// new incidents a second needs about an eighth of a core, so it still keeps
// up, and after a storm every correlation was still decided within 30 s.
const ingestRest = 3

// pause waits for d, or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ApplyEventsWorker applies inbox events to incidents, in the order they
// were recorded, each chunk in one transaction that also marks them applied,
// so a retried job (after a crash or an error) applies the rest exactly once.
type ApplyEventsWorker struct {
	river.WorkerDefaults[ApplyEventsArgs]
	Deps
	Wakeups *Wakeups
	// jobs enqueues the jobs an apply transaction starts when the worker
	// runs outside River (ApplyOnCommit); River's client of the job's
	// context otherwise.
	jobs *jobs.Client
}

// client is the River client the worker enqueues jobs with.
func (w *ApplyEventsWorker) client(ctx context.Context) *jobs.Client {
	if w.jobs != nil {
		return w.jobs
	}
	return river.ClientFromContext[*sql.Tx](ctx)
}

// Work implements river.Worker. A job applies until the inbox has nothing
// pending, or until half of its time (River cancels a job at its timeout)
// is spent: it then enqueues the next, so a backlog longer than a job's
// time is applied by a chain of jobs, none cut off mid-transaction.
func (w *ApplyEventsWorker) Work(ctx context.Context, _ *river.Job[ApplyEventsArgs]) error {
	var until time.Time
	if deadline, ok := ctx.Deadline(); ok {
		until = time.Now().Add(time.Until(deadline) / 2)
	}
	if !w.Wakeups.started() {
		return nil // the job running looks at the inbox again before it ends
	}
	for {
		more, err := w.run(ctx, until)
		switch {
		case err != nil:
			w.Wakeups.stopped()
			return err
		case more:
			// The rest in a new job, available at once (a snoozed job
			// waited for River's scheduler: seconds on PostgreSQL).
			w.Wakeups.stopped()
			if _, err := river.ClientFromContext[*sql.Tx](ctx).Insert(ctx, ApplyEventsArgs{}, nil); err != nil {
				return fmt.Errorf("enqueueing the rest of the backlog's apply job: %w", err)
			}
			return nil
		case !w.Wakeups.finished():
			return nil
		}
	}
}

// run applies pending events chunk by chunk until none is left (more
// false) or, after a chunk, until has passed (more true).
func (w *ApplyEventsWorker) run(ctx context.Context, until time.Time) (more bool, _ error) {
	defer w.Wakeups.behind.Store(false)
	// carried: incidents opened by committed chunks of this run whose early
	// correlation is not enqueued yet (see enqueueCorrelation).
	var carried []string
	// On SQLite each chunk's events are read and decoded on a read
	// connection, the next while the current one is applied (readAhead).
	ahead := w.readAhead(ctx, 0, w.Wakeups.chunk())
	for {
		began := time.Now()
		var ids []int64
		var oldest time.Time // the chunk's first event's arrival
		out := applied{correlate: slices.Clip(carried)}
		limit := w.Wakeups.chunk()
		var rows []store.PendingEvent
		if ahead != nil {
			// A failed read is read again in the transaction.
			if r, err := ahead.wait(ctx); err == nil {
				rows, limit = r, ahead.limit
			}
			ahead = nil
		}
		// last: the job's time is half spent, this is its last chunk.
		last := !until.IsZero() && time.Now().After(until)
		err := w.Store.InTxDeferring(ctx, func(ctx context.Context, tx bun.Tx) error {
			pending, err := confirmAhead(ctx, tx, rows, limit)
			if err != nil {
				return err
			}
			if len(pending) > 0 {
				oldest = pending[0].ReceivedAt
			}
			// The next chunk is read meanwhile: the events after this one.
			if ahead == nil && len(pending) == limit {
				ahead = w.readAhead(ctx, pending[len(pending)-1].ID, w.Wakeups.chunk())
			}
			if ids, err = w.applyRows(ctx, tx, pending, &out); err != nil {
				return err
			}
			return enqueueCorrelation(ctx, w.client(ctx), tx, &out, len(ids) < limit || last)
		})
		if err == nil {
			w.committed(ctx, &out)
			carried = out.correlate
		} else {
			if ctx.Err() != nil || len(ids) == 0 {
				return false, err
			}
			// One bad event must not hold back the others: apply each on its
			// own and record the error against the one that fails.
			return false, w.applyEach(ctx, ids, carried)
		}
		if len(ids) < limit {
			return false, nil
		}
		if last {
			return true, nil
		}
		w.Wakeups.behind.Store(true)
		// More is pending: on PostgreSQL another applier takes the events
		// after these (ApplyOnCommit).
		w.Wakeups.wake()
		// A backlog while webhooks keep arriving: on SQLite applying rests
		// (Wakeups.rest), so accepting webhooks (what PagerDuty waits on)
		// keeps most of the machine; the backlog is applied at full speed
		// once the burst ends. PostgreSQL's inbox has connections of its own
		// and its apply transactions wait for round trips, not for the CPU.
		if !w.Wakeups.shared && w.Wakeups.ingesting() {
			if err := pause(ctx, w.Wakeups.rest(time.Since(began), oldest)); err != nil {
				return false, err
			}
		}
	}
}

// applyEach applies ids one transaction each, after their chunk failed,
// and records the failure of those that fail. When ctx ends (the hub
// stops) it stops: the events left are not at fault and stay pending, with
// no attempt counted. It went on, and logged an error for each of a
// chunk's events that it could not record as failed.
func (w *ApplyEventsWorker) applyEach(ctx context.Context, ids []int64, carried []string) error {
	var errs []error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, fmt.Errorf("stopped before inbox event %d: %w", id, err))...)
		}
		out := applied{correlate: slices.Clip(carried)}
		err := w.Store.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			if _, err := w.apply(ctx, tx, []int64{id}, 1, &out); err != nil {
				return err
			}
			return enqueueCorrelation(ctx, w.client(ctx), tx, &out, true)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("inbox event %d: %w", id, err))
			if ctx.Err() == nil {
				w.recordFailure(ctx, id, err)
			}
			continue
		}
		w.committed(ctx, &out)
		carried = nil
	}
	return errors.Join(errs...)
}

// correlateBatch is how many newly opened incidents one correlate_incidents
// job takes. One job per apply transaction (8 events while webhooks arrive)
// left early correlation waiting on River's fetches, one job at a time
// every 50 ms: about 160 incidents a second in a storm. Between two jobs
// the worker waits for River's next fetch (15 ms on average in a storm's
// drain): at 128 a job, that was 3.2 s of 18 after a storm was applied.
const correlateBatch = 512

// enqueueCorrelation enqueues, in tx, the early correlation of the
// incidents out carries once there are correlateBatch of them or the run
// has applied everything (last). Those carried between transactions are
// in memory only: if the hub stops first, their process_incidents jobs
// (enqueued with their chunks) correlate them instead.
func enqueueCorrelation(ctx context.Context, jc *jobs.Client, tx bun.Tx, out *applied, last bool) error {
	if len(out.correlate) == 0 || (!last && len(out.correlate) < correlateBatch) {
		return nil
	}
	params := []river.InsertManyParams{{Args: CorrelateIncidentsArgs{IncidentIDs: out.correlate}}}
	if _, err := jc.InsertManyFastTx(ctx, tx.Tx, params); err != nil {
		return fmt.Errorf("enqueuing early correlation of %d incidents: %w", len(out.correlate), err)
	}
	out.correlate = nil
	return nil
}

// apply applies, in id order, up to chunk pending events (only those in
// only, when given), marks them applied, and enqueues the processing of the
// incidents they opened. An event whose stored record this hub cannot read
// is left as a dead letter in the same transaction. It returns the ids it
// selected, also when applying fails, and adds what to report after the
// commit (live updates, metrics) to out.
func (w *ApplyEventsWorker) apply(ctx context.Context, tx bun.Tx, only []int64, limit int, out *applied) ([]int64, error) {
	rows, err := store.PendingInbox(ctx, tx, only, limit, MaxEventAttempts)
	if err != nil {
		return nil, fmt.Errorf("loading events: %w", err)
	}
	return w.applyRows(ctx, tx, rows, out)
}

// applyRows is apply's work on the pending events rows, read in tx or
// confirmed in it (confirmAhead).
func (w *ApplyEventsWorker) applyRows(ctx context.Context, tx bun.Tx, rows []store.PendingEvent, out *applied) ([]int64, error) {
	ids := make([]int64, len(rows))
	for i, row := range rows {
		ids[i] = row.ID
	}
	items := make([]incidents.Item, 0, len(rows))
	good := make([]store.PendingEvent, 0, len(rows))
	for _, row := range rows {
		if row.Err != nil {
			// No retry can read it: a dead letter now, kept for an operator
			// (a hub that reads it can retry it from the dead letters).
			if err := store.DeadLetterInbox(ctx, tx, row.ID, row.Err.Error(), MaxEventAttempts); err != nil {
				return ids, err
			}
			out.dead = append(out.dead, deadEvent{id: row.ID, err: row.Err})
			continue
		}
		good = append(good, row)
		items = append(items, incidents.Item{Event: row.Event,
			Src: incidents.Source{Provider: row.Provider, OwnerKind: row.OwnerKind, OwnerID: row.OwnerID, ConnectionID: row.ConnectionID}})
	}
	if len(items) == 0 {
		return ids, nil
	}
	results, lc, err := incidents.ApplyBatchLifecycle(ctx, tx, items)
	if err != nil {
		if len(good) == 1 {
			return ids, fmt.Errorf("event %d: applying %s: %w", good[0].ID, good[0].EventType, err)
		}
		return ids, fmt.Errorf("events %d to %d: applying: %w", good[0].ID, good[len(good)-1].ID, err)
	}
	// An incident that has its first full state now is new to the pipeline:
	// one processing job for the chunk's new incidents, not one per
	// incident (River's insert of a job, a large statement with JSON
	// functions on SQLite, was a sixth of the hub's CPU per delivery in a
	// storm, where every event opens one), and their early correlation
	// with those of the next chunks (enqueueCorrelation).
	if len(lc.Opened) > 0 {
		order := inArrivalOrder(results, lc.Opened)
		params := []river.InsertManyParams{{Args: ProcessIncidentsArgs{IncidentIDs: order}}}
		if _, err := w.client(ctx).InsertManyFastTx(ctx, tx.Tx, params); err != nil {
			return ids, fmt.Errorf("enqueuing processing of %d incidents: %w", len(lc.Opened), err)
		}
		out.correlate = append(out.correlate, order...)
	}
	out.updates = append(out.updates, incidentUpdates(items, results)...)
	out.count(items, results, lc)
	appliedIDs := make([]int64, len(good))
	for i, row := range good {
		out.received = append(out.received, row.ReceivedAt)
		appliedIDs[i] = row.ID
	}
	if err := store.MarkInboxApplied(ctx, tx, appliedIDs, time.Now()); err != nil {
		return ids, err
	}
	return ids, nil
}

// inArrivalOrder orders opened (incident ids) by their first event in the
// chunk, so a storm's first incident, its likely parent, is processed
// first (ApplyBatch reports them in the order of its keys).
func inArrivalOrder(results []incidents.Result, opened []string) []string {
	want := make(map[string]bool, len(opened))
	for _, id := range opened {
		want[id] = true
	}
	out := make([]string, 0, len(opened))
	for _, r := range results {
		if want[r.IncidentID] {
			out = append(out, r.IncidentID)
			delete(want, r.IncidentID)
		}
	}
	// Every opened incident has an event in the chunk; kept if not.
	for _, id := range opened {
		if want[id] {
			out = append(out, id)
		}
	}
	return out
}

// customFieldsUpdated ends the type of events that only set custom fields
// (PagerDuty's incident.custom_field_values.updated).
const customFieldsUpdated = "custom_field_values.updated"

// incidentUpdates are the incident_update events of the incidents a chunk changed.
func incidentUpdates(items []incidents.Item, results []incidents.Result) []live.Update {
	seen := map[string]bool{}
	var out []live.Update
	for i, r := range results {
		if !r.Changed || r.IncidentID == "" || seen[r.IncidentID] {
			continue
		}
		seen[r.IncidentID] = true
		src := items[i].Src
		ev := live.Event{Type: live.IncidentUpdate, IncidentID: r.IncidentID, Source: src.Provider}
		// A chunk may hold several events of one incident: the flag is set
		// when any of them set custom fields.
		for j := i; j < len(results); j++ {
			if results[j].IncidentID == r.IncidentID && strings.HasSuffix(items[j].Event.Type, customFieldsUpdated) {
				ev.CustomFieldsUpdated = true
			}
		}
		out = append(out, live.Update{OwnerKind: src.OwnerKind, OwnerID: src.OwnerID, Event: ev})
	}
	return out
}

// applied is what a committed chunk reports: live updates and metrics.
type applied struct {
	// correlate: opened incidents whose early correlation is not enqueued.
	correlate []string
	updates   []live.Update
	received  []time.Time // of the events applied
	dead      []deadEvent // left as dead letters, unreadable
	// opened and resolved count incidents by provider.
	opened, resolved map[string]int
}

// count adds the incidents lc opened and resolved, by provider.
func (a *applied) count(items []incidents.Item, results []incidents.Result, lc incidents.Lifecycle) {
	if len(lc.Opened)+len(lc.Resolved) == 0 {
		return
	}
	provider := make(map[string]string, len(results))
	for i, r := range results {
		provider[r.IncidentID] = items[i].Src.Provider
	}
	add := func(m *map[string]int, ids []string) {
		for _, id := range ids {
			if *m == nil {
				*m = map[string]int{}
			}
			(*m)[provider[id]]++
		}
	}
	add(&a.opened, lc.Opened)
	add(&a.resolved, lc.Resolved)
}

// deadEvent is an event left as a dead letter without retries.
type deadEvent struct {
	id  int64
	err error
}

// committed publishes a committed chunk's live updates and counts it.
func (w *ApplyEventsWorker) committed(ctx context.Context, a *applied) {
	for _, d := range a.dead {
		w.Metrics.EventFailed(true)
		w.Logger.Error("event left as a dead letter: its stored record cannot be read", "inbox_id", d.id, "error", d.err)
	}
	w.Live.PublishAll(ctx, a.updates)
	w.Metrics.EventsApplied(time.Now(), a.received)
	for p, n := range a.opened {
		w.Metrics.IncidentsOpened(p, n)
	}
	for p, n := range a.resolved {
		w.Metrics.IncidentsResolved(p, n)
	}
}

func (w *ApplyEventsWorker) recordFailure(ctx context.Context, id int64, cause error) {
	attempts, err := store.RecordInboxFailure(ctx, w.Store.Bun(), id, cause.Error())
	if err != nil {
		w.Logger.Error("recording failed event", "inbox_id", id, "error", err)
		return
	}
	w.Metrics.EventFailed(attempts >= MaxEventAttempts)
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
