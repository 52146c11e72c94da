// Package retention prunes what the hub keeps only for a while: applied
// webhook inbox rows (kept for deduplication) and expired OAuth states.
package retention

import (
	"context"
	"fmt"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/hashicorp/go-hclog"
	"github.com/riverqueue/river"
)

// Defaults.
const (
	// DefaultWebhookRetention is how long an applied webhook event is kept.
	DefaultWebhookRetention = 7 * 24 * time.Hour
	// MinWebhookRetention: PagerDuty retries a delivery for up to 48 hours,
	// and a redelivery is recognised only while its inbox row exists.
	MinWebhookRetention = 48 * time.Hour
	// Interval is how often the prune job runs.
	Interval = time.Hour
)

// Options say what to prune and how.
type Options struct {
	// WebhookRetention: applied inbox rows received and applied longer ago
	// are deleted.
	WebhookRetention time.Duration
	// Batch is how many rows one statement deletes (default 500): small
	// enough that SQLite's one connection is free again within milliseconds.
	Batch int
	// Pause between batches (default 20ms), so webhooks waiting to commit
	// go first.
	Pause time.Duration
	// Budget bounds one run (default 1 minute); what is left waits for the
	// next run.
	Budget time.Duration
}

func (o *Options) defaults() {
	if o.WebhookRetention == 0 {
		o.WebhookRetention = DefaultWebhookRetention
	}
	if o.Batch == 0 {
		o.Batch = 500
	}
	if o.Pause == 0 {
		o.Pause = 20 * time.Millisecond
	}
	if o.Budget == 0 {
		o.Budget = time.Minute
	}
}

// Result counts what a run deleted.
type Result struct {
	InboxEvents int64
	OAuthStates int64
}

// Prune deletes, in batches, the applied inbox rows older than the
// retention and the OAuth states expired before now. It stops early when
// ctx ends or the budget is spent, returning what it deleted so far.
func Prune(ctx context.Context, st *store.Store, now time.Time, o Options) (Result, error) {
	o.defaults()
	if o.WebhookRetention < MinWebhookRetention {
		return Result{}, fmt.Errorf("retention: webhook retention %s is shorter than %s", o.WebhookRetention, MinWebhookRetention)
	}
	ctx, cancel := context.WithTimeout(ctx, o.Budget)
	defer cancel()
	var r Result
	var err error
	r.InboxEvents, err = batches(ctx, o, func(ctx context.Context) (int64, error) {
		return st.PruneAppliedInbox(ctx, now.Add(-o.WebhookRetention), o.Batch)
	})
	if err != nil {
		return r, err
	}
	r.OAuthStates, err = batches(ctx, o, func(ctx context.Context) (int64, error) {
		return st.PruneExpiredOAuthStates(ctx, now, o.Batch)
	})
	return r, err
}

// batches calls del until it deletes less than a batch; running out of
// time is not an error.
func batches(ctx context.Context, o Options, del func(context.Context) (int64, error)) (int64, error) {
	var total int64
	for {
		n, err := del(ctx)
		total += n
		if ctx.Err() != nil {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		if n < int64(o.Batch) {
			return total, nil
		}
		t := time.NewTimer(o.Pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return total, nil
		case <-t.C:
		}
	}
}

// Args is the River job that prunes.
type Args struct{}

// Kind names the job in River.
func (Args) Kind() string { return "prune_retention" }

// Worker runs Prune as a River job.
type Worker struct {
	river.WorkerDefaults[Args]
	Store   *store.Store
	Options Options
	Logger  hclog.Logger
}

// Work prunes once.
func (w *Worker) Work(ctx context.Context, _ *river.Job[Args]) error {
	r, err := Prune(ctx, w.Store, time.Now(), w.Options)
	if r.InboxEvents > 0 || r.OAuthStates > 0 {
		w.Logger.Info("pruned", "webhook_events", r.InboxEvents, "oauth_states", r.OAuthStates)
	}
	return err
}

// PeriodicJob schedules the prune every Interval, and once at start: River
// inserts periodic jobs on its elected leader only, so replicas sharing a
// PostgreSQL database prune once, not once each.
func PeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(Interval),
		func() (river.JobArgs, *river.InsertOpts) { return Args{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true, ID: Args{}.Kind()})
}
