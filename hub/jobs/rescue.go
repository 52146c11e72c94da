package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/hashicorp/go-hclog"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// Why jobs are taken from a process and run again, as their error says.
const (
	rescuedAtStart = "the hub was restarted while this job ran (SQLite: the restarted hub is its only possible owner)"
	rescuedDead    = "the replica running this job stopped heartbeating (HUB_REPLICA_TIMEOUT)"
)

// ResumeOwn makes every job left running by a previous process of this hub
// run again now. Only for SQLite, where the database's lock file admits one
// hub: a running job there cannot belong to anyone else. Call it before
// Start.
func ResumeOwn(ctx context.Context, st *store.Store, log hclog.Logger) (int, error) {
	if st.Driver != "sqlite" {
		return 0, fmt.Errorf("jobs: resuming at start is for SQLite only (PostgreSQL replicas share jobs)")
	}
	drv, err := driverFor(st)
	if err != nil {
		return 0, err
	}
	n, err := rescue(ctx, drv.GetExecutor(), time.Now().Add(time.Second), rescuedAtStart, nil)
	if n > 0 {
		log.Info("resumed jobs left running by the previous process", "jobs", n)
	}
	return n, err
}

// rescue makes the jobs running since before horizon (and accepted by
// owned, when set) available again at once, or discarded when out of
// attempts, or cancelled when a cancel was asked for: what River's own
// rescuer does after RescueStuckJobsAfter, without the wait. The update
// repeats the horizon condition, so a job fetched again meanwhile (by a
// live process) is left alone.
func rescue(ctx context.Context, exec riverdriver.Executor, horizon time.Time, reason string, owned func(*rivertype.JobRow) bool) (int, error) {
	total := 0
	var after int64
	for {
		stuck, err := exec.JobGetStuck(ctx, &riverdriver.JobGetStuckParams{AfterID: after, Max: 500, StuckHorizon: horizon})
		if err != nil {
			return total, fmt.Errorf("jobs: listing running jobs: %w", err)
		}
		if len(stuck) == 0 {
			return total, nil
		}
		after = stuck[len(stuck)-1].ID
		now := time.Now().UTC()
		p := &riverdriver.JobRescueManyParams{StuckHorizon: horizon}
		for _, j := range stuck {
			if owned != nil && !owned(j) {
				continue
			}
			errData, err := json.Marshal(rivertype.AttemptError{At: now, Attempt: max(j.Attempt, 0), Error: "Job rescued: " + reason})
			if err != nil {
				return total, fmt.Errorf("jobs: encoding rescue error: %w", err)
			}
			var meta struct {
				CancelAttemptedAt time.Time `json:"cancel_attempted_at"`
			}
			_ = json.Unmarshal(j.Metadata, &meta) // unreadable metadata: no cancel asked
			state, finalized, scheduled := rivertype.JobStateAvailable, (*time.Time)(nil), now
			switch {
			case !meta.CancelAttemptedAt.IsZero():
				state, finalized, scheduled = rivertype.JobStateCancelled, &now, j.ScheduledAt
			case j.Attempt >= j.MaxAttempts:
				state, finalized, scheduled = rivertype.JobStateDiscarded, &now, j.ScheduledAt
			}
			p.ID = append(p.ID, j.ID)
			p.Error = append(p.Error, errData)
			p.FinalizedAt = append(p.FinalizedAt, finalized)
			p.ScheduledAt = append(p.ScheduledAt, scheduled)
			p.State = append(p.State, string(state))
		}
		if len(p.ID) > 0 {
			if _, err := exec.JobRescueMany(ctx, p); err != nil {
				return total, fmt.Errorf("jobs: rescuing %d jobs: %w", len(p.ID), err)
			}
			total += len(p.ID)
		}
	}
}

// Replicas keeps this process's heartbeat in hub_replicas (PostgreSQL) and
// runs again the jobs of replicas whose heartbeat stopped: a SIGKILLed or
// partitioned replica's jobs move elsewhere within Timeout plus a sweep,
// instead of River's RescueStuckJobsAfter (which must also outlast the
// longest job).
type Replicas struct {
	st      *store.Store
	exec    riverdriver.Executor
	id      string
	timeout time.Duration
	log     hclog.Logger
}

// NewReplicas returns the heartbeat of the River client with id.
func NewReplicas(st *store.Store, id string, timeout time.Duration, log hclog.Logger) (*Replicas, error) {
	drv, err := driverFor(st)
	if err != nil {
		return nil, err
	}
	return &Replicas{st: st, exec: drv.GetExecutor(), id: id, timeout: timeout, log: log}, nil
}

// Register records this replica; call it before the River client starts,
// so no job is attempted by a replica without a row.
func (r *Replicas) Register(ctx context.Context) error {
	host, _ := os.Hostname()
	_, err := r.st.Bun().ExecContext(ctx, `INSERT INTO hub_replicas (id, hostname, pid, started_at, heartbeat_at) VALUES (?, ?, ?, now(), now())
		ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()`, r.id, host, os.Getpid())
	if err != nil {
		return fmt.Errorf("jobs: registering replica %s: %w", r.id, err)
	}
	return nil
}

// Run heartbeats every Timeout/6 and sweeps every Timeout/3 until ctx ends.
func (r *Replicas) Run(ctx context.Context) {
	beat := time.NewTicker(r.timeout / 6)
	defer beat.Stop()
	sweep := time.NewTicker(r.timeout / 3)
	defer sweep.Stop()
	r.sweepOnce(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			_, err := r.st.Bun().ExecContext(ctx, `UPDATE hub_replicas SET heartbeat_at = now() WHERE id = ?`, r.id)
			switch {
			case err == nil:
				r.st.Avail.OK()
			case ctx.Err() == nil:
				// The database's own state is logged by store.Avail.
				r.st.Avail.Observe(err)
			}
		case <-sweep.C:
			r.sweepOnce(ctx)
		}
	}
}

func (r *Replicas) sweepOnce(ctx context.Context) {
	n, dead, err := r.Sweep(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		if r.st.Avail.Observe(err) == err {
			r.log.Warn("rescuing the jobs of dead replicas failed", "error", err)
		}
	case n > 0:
		r.log.Info("ran again the jobs of replicas that stopped heartbeating", "jobs", n, "replicas", dead)
	}
}

// Sweep rescues the running jobs last attempted by a replica not heard of
// for Timeout, and forgets replicas silent for a day.
func (r *Replicas) Sweep(ctx context.Context) (int, []string, error) {
	var now time.Time // the database's clock: attempted_at is written by it
	if err := r.st.Bun().QueryRowContext(ctx, "SELECT now()").Scan(&now); err != nil {
		return 0, nil, fmt.Errorf("jobs: reading the database clock: %w", err)
	}
	var dead []string
	rows, err := r.st.Bun().QueryContext(ctx, "SELECT id FROM hub_replicas WHERE heartbeat_at < ? AND id <> ?", now.Add(-r.timeout), r.id)
	if err != nil {
		return 0, nil, fmt.Errorf("jobs: listing silent replicas: %w", err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, nil, err
		}
		dead = append(dead, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, nil, err
	}
	if len(dead) == 0 {
		return 0, nil, nil
	}
	n, err := rescue(ctx, r.exec, now, rescuedDead, func(j *rivertype.JobRow) bool {
		return len(j.AttemptedBy) > 0 && slices.Contains(dead, j.AttemptedBy[len(j.AttemptedBy)-1])
	})
	if err != nil {
		return n, dead, err
	}
	if _, err := r.st.Bun().ExecContext(ctx, "DELETE FROM hub_replicas WHERE heartbeat_at < ?", now.Add(-24*time.Hour)); err != nil {
		return n, dead, fmt.Errorf("jobs: forgetting old replicas: %w", err)
	}
	return n, dead, nil
}

// Leave marks this replica gone after its River client stopped: jobs it
// could not finish are run elsewhere at the next sweep, not after Timeout.
func (r *Replicas) Leave(ctx context.Context) error {
	_, err := r.st.Bun().ExecContext(ctx, `UPDATE hub_replicas SET heartbeat_at = '1970-01-01T00:00:00Z' WHERE id = ?`, r.id)
	return err
}
