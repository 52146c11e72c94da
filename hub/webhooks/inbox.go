package webhooks

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/hashicorp/go-hclog"
	"github.com/uptrace/bun"
)

// Inbox records events durably with group commit: concurrent deliveries are
// gathered into one transaction (inbox rows, on SQLite an apply job when
// none waits, delivery times), so each delivery still gets its answer only
// after its rows are committed, while the database sees one commit for many
// deliveries. Each commit wakes the appliers (pipeline.Wakeups). Rows come
// in through Send (a plugin batch's answers, handed over together) or
// Record (rows already made).
type Inbox struct {
	store   *store.Store
	jobs    *jobs.Client
	wakeups *pipeline.Wakeups
	log     hclog.Logger
	reqs    chan *pendingWrite
	// touched is when each connection's last_delivery_at was last written:
	// once a second is enough for a status page.
	touchMu  sync.Mutex
	touched  map[string]time.Time
	maxBatch int
	writers  int
	// answered are the deliveries whose plugin answers came in since the
	// end of the last plugin batch (see Send).
	answeredMu sync.Mutex
	answered   []*pendingWrite
	// handMu orders hand-overs (hand) against the stop: each holds it
	// shared while it sends, and Run holds it to close shut. After that
	// nothing more comes in, and the writers commit what the channel
	// holds and return.
	handMu sync.RWMutex
	shut   chan struct{}
	wg     sync.WaitGroup
}

type pendingWrite struct {
	connID string
	rows   []store.InboxEvent
	done   chan writeResult
	// batch, when set, are the writes this one stands for: a plugin
	// batch's deliveries, handed over together (see WebhookBatchEnd).
	batch []*pendingWrite
}

// appendTo appends the writes p stands for to b.
func (p *pendingWrite) appendTo(b []*pendingWrite) []*pendingWrite {
	if p.batch != nil {
		return append(b, p.batch...)
	}
	return append(b, p)
}

type writeResult struct {
	inserted int
	err      error
}

// ErrClosed answers a delivery handed to the inbox after it began to stop
// (503: the sender retries, against this replica once it is back or
// another one).
var ErrClosed = &hub.Error{Code: hub.EUnavailable, Message: "The hub is shutting down; retry the delivery"}

// NewInbox returns an inbox writing to st and enqueuing apply jobs on jc
// as wakeups says.
func NewInbox(st *store.Store, jc *jobs.Client, wakeups *pipeline.Wakeups, log hclog.Logger) *Inbox {
	writers := 1 // SQLite has one writer; more would only wait on its lock
	if st.Driver == "postgres" {
		writers = 4
	}
	return &Inbox{store: st, jobs: jc, wakeups: wakeups, log: log, reqs: make(chan *pendingWrite, 4096), maxBatch: 256, writers: writers, touched: map[string]time.Time{}, shut: make(chan struct{})}
}

// Run commits batches until ctx ends, then finishes what it was given;
// what comes after is answered ErrClosed. Run once.
func (i *Inbox) Run(ctx context.Context) {
	for range i.writers {
		i.wg.Add(1)
		go func() {
			defer i.wg.Done()
			i.loop(context.WithoutCancel(ctx))
		}()
	}
	<-ctx.Done()
	// A hand-over blocked on a full channel holds handMu shared until the
	// writers, still committing, take its write.
	i.handMu.Lock()
	close(i.shut)
	i.handMu.Unlock()
	i.wg.Wait()
}

// hand gives p to the writers, unless the inbox is closed.
func (i *Inbox) hand(ctx context.Context, p *pendingWrite) error {
	i.handMu.RLock()
	defer i.handMu.RUnlock()
	select {
	case <-i.shut:
		return ErrClosed
	default:
	}
	select {
	case i.reqs <- p:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (i *Inbox) loop(ctx context.Context) {
	batch := make([]*pendingWrite, 0, i.maxBatch)
	for {
		select {
		case <-i.shut:
			// Finish what was handed over before the stop.
			for {
				select {
				case p := <-i.reqs:
					i.commit(ctx, p.appendTo(nil))
				default:
					return
				}
			}
		case p := <-i.reqs:
			batch = p.appendTo(batch[:0])
		gather:
			for len(batch) < i.maxBatch {
				select {
				case q := <-i.reqs:
					batch = q.appendTo(batch)
				default:
					break gather
				}
			}
			i.commit(ctx, batch)
		}
	}
}

// Record stores rows and enqueues their processing; it returns how many
// were new (the rest were already recorded).
func (i *Inbox) Record(ctx context.Context, connID string, rows []store.InboxEvent) (int, error) {
	p := &pendingWrite{connID: connID, rows: rows, done: make(chan writeResult, 1)}
	if err := i.hand(ctx, p); err != nil {
		return 0, err
	}
	select {
	case r := <-p.done:
		return r.inserted, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

type inboxKey struct{ provider, conn, event string }

func (i *Inbox) commit(ctx context.Context, batch []*pendingWrite) {
	var rows []store.InboxEvent
	conns := map[string]bool{}
	for _, p := range batch {
		rows = append(rows, p.rows...)
		conns[p.connID] = true
	}
	var inserted []store.InboxEvent
	claimed := false
	err := i.store.InTxUrgent(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		inserted, err = store.InsertInbox(ctx, tx, rows)
		if err != nil {
			return err
		}
		if len(inserted) > 0 && i.wakeups.Claim() {
			claimed = true
			if _, err := i.jobs.InsertTx(ctx, tx.Tx, pipeline.ApplyEventsArgs{}, nil); err != nil {
				return fmt.Errorf("enqueuing event processing: %w", err)
			}
		}
		return store.TouchWebhookDeliveries(ctx, tx, i.due(conns), time.Now())
	})
	if err != nil {
		if claimed {
			i.wakeups.Unclaim()
		}
		// An unavailable database is logged once per change of state by
		// Avail; anything else here is a bug worth a line per batch.
		if store.Unavailable(err) == nil {
			i.log.Error("recording webhook batch failed", "deliveries", len(batch), "error", err)
		}
		err = i.store.Avail.Observe(err)
		for _, p := range batch {
			p.done <- writeResult{err: err}
		}
		return
	}
	i.wakeups.Committed(len(batch))
	i.store.Avail.OK()
	// Credit each new row to the first delivery in the batch that carried it.
	fresh := make(map[inboxKey]bool, len(inserted))
	for _, r := range inserted {
		fresh[inboxKey{r.Provider, r.ConnectionID, r.EventID}] = true
	}
	for _, p := range batch {
		n := 0
		for _, r := range p.rows {
			k := inboxKey{r.Provider, r.ConnectionID, r.EventID}
			if fresh[k] {
				n++
				delete(fresh, k)
			}
		}
		p.done <- writeResult{inserted: n}
	}
}

// due returns the connections whose delivery time is more than a second old.
func (i *Inbox) due(conns map[string]bool) []string {
	now := time.Now()
	i.touchMu.Lock()
	defer i.touchMu.Unlock()
	var out []string
	for id := range conns {
		if now.Sub(i.touched[id]) >= time.Second {
			i.touched[id] = now
			out = append(out, id)
		}
	}
	return out
}
