// Package jobs runs the hub's durable background work on River, in the hub's
// own database (River's SQLite driver for the embedded default, its
// database/sql driver on PostgreSQL), so a job is enqueued in the same
// transaction as the data it is about and survives a crash of the hub.
package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/hashicorp/go-hclog"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// QueueAnalysis runs the jobs that call out (enrichment, RCA): fewer
// workers than the default queue, which applies events.
const QueueAnalysis = "analysis"

// QueueCorrelation runs early correlation (on what the hub knows, before
// enrichment) beside applying: in the default queue it waited until a
// storm's backlog was applied, because the apply jobs took its workers. A
// tenant's decisions are one at a time anyway (its lock on PostgreSQL, the
// one writer on SQLite), so SQLite has one worker. PostgreSQL has two: while
// one job holds the tenant's lock the next is fetched and waits for it,
// instead of the lock standing idle through River's fetch between two jobs
// (about 20 ms each). Once the apply worker kept up with a storm, its
// correlation jobs were three times as many and a third as large, and one
// worker decided 32,396 of 50,000 incidents within 30 s of the storm's
// last 202, two 45,699 (docs/performance-history.md, round 15).
const QueueCorrelation = "correlation"

// correlationWorkers is QueueCorrelation's workers per replica.
func correlationWorkers(driver string) int {
	if driver == "sqlite" {
		return 1
	}
	return 2
}

// Client is River's client over database/sql transactions on either backend.
type Client = river.Client[*sql.Tx]

// Options configure the job runner.
type Options struct {
	Logger hclog.Logger
	// Workers are the job workers to run; nil runs an insert-only client.
	Workers *river.Workers
	// MaxWorkers per queue (default 8).
	MaxWorkers int
	// PollInterval is how often idle workers look for new jobs (default 200ms).
	PollInterval time.Duration
	// RescueAfter is how long a job may stay running before it is taken
	// for crashed and run again (default 5 minutes; JobTimeout is 2).
	RescueAfter time.Duration
	// PeriodicJobs are inserted on schedule by River's elected leader
	// (needs Workers).
	PeriodicJobs []*river.PeriodicJob
	// ID names the River client (jobs' attempted_by); default River's own.
	ID string
}

func driverFor(st *store.Store) (riverdriver.Driver[*sql.Tx], error) {
	switch st.Driver {
	case "sqlite":
		return riversqlite.New(st.Bun().DB), nil
	case "postgres":
		return riverdatabasesql.New(st.Bun().DB), nil
	default:
		return nil, fmt.Errorf("jobs: no River driver for %q", st.Driver)
	}
}

// Migrate creates or upgrades River's tables in the hub's database.
func Migrate(ctx context.Context, st *store.Store, log hclog.Logger) error {
	drv, err := driverFor(st)
	if err != nil {
		return err
	}
	m, err := rivermigrate.New(drv, &rivermigrate.Config{Logger: newSlog(log, nil)})
	if err != nil {
		return fmt.Errorf("jobs: preparing River migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: migrating River tables: %w", err)
	}
	return nil
}

// New returns a River client on the hub's database.
func New(st *store.Store, o Options) (*Client, error) {
	drv, err := driverFor(st)
	if err != nil {
		return nil, err
	}
	if o.MaxWorkers == 0 {
		o.MaxWorkers = 8
		if st.Driver == "sqlite" {
			// SQLite runs one write at a time: more workers only queue for
			// the connection, ahead of the webhook inbox's commits.
			o.MaxWorkers = 2
		}
	}
	if o.PollInterval == 0 {
		o.PollInterval = 200 * time.Millisecond
	}
	if o.RescueAfter == 0 {
		o.RescueAfter = 5 * time.Minute
	}
	cfg := &river.Config{
		ID: o.ID,
		// River logs through slog; the adapter hands it to hclog.
		Logger:               newSlog(o.Logger, func() bool { return st.Avail.State().Reason != "" }),
		FetchPollInterval:    o.PollInterval,
		FetchCooldown:        o.PollInterval / 4,
		MaxAttempts:          10,
		JobTimeout:           min(2*time.Minute, o.RescueAfter/2),
		RescueStuckJobsAfter: o.RescueAfter,
		// Discarded jobs are the dead letters: keep them a week for the API.
		DiscardedJobRetentionPeriod: 7 * 24 * time.Hour,
	}
	if o.Workers != nil {
		cfg.Workers = o.Workers
		cfg.PeriodicJobs = o.PeriodicJobs
		// Applying webhook events has a queue of its own, so a slow
		// enrichment or analysis never delays incidents' state.
		cfg.Queues = map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: o.MaxWorkers},
			QueueAnalysis:      {MaxWorkers: max(1, o.MaxWorkers/2)},
			QueueCorrelation:   {MaxWorkers: correlationWorkers(st.Driver)},
		}
	}
	c, err := river.NewClient(drv, cfg)
	if err != nil {
		return nil, fmt.Errorf("jobs: creating River client: %w", err)
	}
	return c, nil
}

// CompleteTx marks job completed inside tx, so the job's effects and its
// completion commit together: a job killed before the commit runs again, a
// job whose work committed never does.
func CompleteTx[T river.JobArgs](ctx context.Context, st *store.Store, tx *sql.Tx, job *river.Job[T]) error {
	var err error
	switch st.Driver {
	case "sqlite":
		_, err = river.JobCompleteTx[*riversqlite.Driver](ctx, tx, job)
	case "postgres":
		_, err = river.JobCompleteTx[*riverdatabasesql.Driver](ctx, tx, job)
	default:
		err = fmt.Errorf("no River driver for %q", st.Driver)
	}
	if err != nil {
		return fmt.Errorf("jobs: completing %s: %w", job.Kind, err)
	}
	return nil
}
