// Package queues shows operators the hub's queues (the webhook inbox and
// River's jobs, across tenants and replicas) and retries their dead letters:
// inbox events that failed to apply too often, and River jobs discarded
// after their last attempt.
package queues

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/metrics"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/uptrace/bun"
)

// Service reads and retries the queues of one database.
type Service struct {
	store   *store.Store
	jobs    *jobs.Client
	metrics *metrics.Metrics
	// rescueAfter: a job running longer is reported stuck.
	rescueAfter    time.Duration
	replicaTimeout time.Duration
	kinds          []string
}

// Options configure a Service.
type Options struct {
	// Metrics counts retries (nil: not counted).
	Metrics *metrics.Metrics
	// RescueAfter is HUB_JOB_RESCUE_AFTER: a job running longer is marked
	// stuck in the status (River rescues it; default 5m).
	RescueAfter time.Duration
	// ReplicaTimeout is HUB_REPLICA_TIMEOUT: a holder whose replica has not
	// heartbeaten for this long is reported dead (default 30s).
	ReplicaTimeout time.Duration
	// Kinds are the job kinds the hub runs: Stats reports each of them in
	// every state, with 0 when it has no job there, so that a series is
	// never absent only because it is empty.
	Kinds []string
}

// New returns a Service; jc may be an insert-only River client.
func New(st *store.Store, jc *jobs.Client, o Options) *Service {
	if o.RescueAfter <= 0 {
		o.RescueAfter = 5 * time.Minute
	}
	if o.ReplicaTimeout <= 0 {
		o.ReplicaTimeout = 30 * time.Second
	}
	return &Service{store: st, jobs: jc, metrics: o.Metrics, rescueAfter: o.RescueAfter, replicaTimeout: o.ReplicaTimeout, kinds: o.Kinds}
}

// jobStates are the states counted: completed and cancelled jobs are done.
var jobStates = []string{
	string(rivertype.JobStateAvailable), string(rivertype.JobStatePending), string(rivertype.JobStateScheduled),
	string(rivertype.JobStateRetryable), string(rivertype.JobStateRunning), string(rivertype.JobStateDiscarded),
}

// Stats counts the queues: inbox events pending and dead, River jobs by
// kind and state, with the age of the oldest of each.
func (s *Service) Stats(ctx context.Context) (*metrics.QueueStats, error) {
	in, err := s.store.CountInbox(ctx, pipeline.MaxEventAttempts)
	if err != nil {
		return nil, err
	}
	st := &metrics.QueueStats{InboxPending: in.Pending, InboxDeadLetters: in.Dead, InboxOldestAge: in.OldestPending}
	groups, err := jobs.Count(ctx, s.store, jobStates)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		st.Jobs = append(st.Jobs, metrics.JobGroup{Kind: g.Kind, State: g.State, Count: g.Count, OldestAge: g.OldestAge})
	}
	st.Jobs = withZeros(st.Jobs, s.kinds)
	return st, nil
}

// withZeros adds a zero group for every kind and state groups lacks.
func withZeros(groups []metrics.JobGroup, kinds []string) []metrics.JobGroup {
	have := make(map[[2]string]bool, len(groups))
	for _, g := range groups {
		have[[2]string{g.Kind, g.State}] = true
	}
	for _, k := range kinds {
		for _, state := range jobStates {
			if !have[[2]string{k, state}] {
				groups = append(groups, metrics.JobGroup{Kind: k, State: state})
			}
		}
	}
	slices.SortFunc(groups, func(a, b metrics.JobGroup) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.State, b.State))
	})
	return groups
}

// Status is what GET /pipeline/status answers.
type Status struct {
	Inbox InboxStatus `json:"inbox"`
	// Jobs are River's jobs by kind and state.
	Jobs []JobGroup `json:"jobs"`
	// Running are the jobs being worked now, oldest attempt first, with
	// the River client (replica) holding each.
	Running []HeldJob `json:"running"`
	// RescueAfterSeconds: a running job older than this is taken for
	// crashed and run again by River (stuck: true).
	RescueAfterSeconds float64   `json:"rescueAfterSeconds"`
	At                 time.Time `json:"at"`
}

// InboxStatus is the webhook inbox.
type InboxStatus struct {
	Pending                 int64   `json:"pending"`
	OldestPendingAgeSeconds float64 `json:"oldestPendingAgeSeconds"`
	DeadLetters             int64   `json:"deadLetters"`
}

// JobGroup is a count of jobs of one kind in one state.
type JobGroup struct {
	Kind             string  `json:"kind"`
	State            string  `json:"state"`
	Count            int64   `json:"count"`
	OldestAgeSeconds float64 `json:"oldestAgeSeconds"`
}

// Job is what the operators' views show of every River job.
type Job struct {
	ID          int64           `json:"id"`
	Kind        string          `json:"kind"`
	Queue       string          `json:"queue"`
	Args        json.RawMessage `json:"args"`
	Attempt     int             `json:"attempt"`
	MaxAttempts int             `json:"maxAttempts"`
	// AttemptedBy are the River client ids (one per attempt) that worked
	// the job; the last of a running job holds it now.
	AttemptedBy []string `json:"attemptedBy"`
}

func jobOf(j *rivertype.JobRow) Job {
	return Job{ID: j.ID, Kind: j.Kind, Queue: j.Queue, Args: rawJSON(j.EncodedArgs), Attempt: j.Attempt,
		MaxAttempts: j.MaxAttempts, AttemptedBy: nonNil(j.AttemptedBy)}
}

// HeldJob is a running job and who holds it.
type HeldJob struct {
	Job
	AttemptedAt *time.Time `json:"attemptedAt"`
	Holder      string     `json:"holder"`
	// Replica is the holder's heartbeat (PostgreSQL replicas register
	// one; nil when the holder has none, as on SQLite).
	Replica        *Replica `json:"replica"`
	RunningSeconds float64  `json:"runningSeconds"`
	// Stuck: running longer than HUB_JOB_RESCUE_AFTER, or held by a
	// replica that stopped heartbeating; it will be run again.
	Stuck bool `json:"stuck"`
}

// Replica is a hub process as hub_replicas knows it.
type Replica struct {
	Hostname    string    `json:"hostname"`
	PID         int       `json:"pid"`
	HeartbeatAt time.Time `json:"heartbeatAt"`
	// Alive: heard of within HUB_REPLICA_TIMEOUT. The jobs of a dead
	// replica are run again by a live one at its next sweep.
	Alive bool `json:"alive"`
}

// replicas returns the heartbeats of the replicas ids.
func (s *Service) replicas(ctx context.Context, ids []string, now time.Time) (map[string]*Replica, error) {
	out := map[string]*Replica{}
	rows, err := jobs.ReplicasByID(ctx, s.store, ids)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.ID] = &Replica{Hostname: r.Hostname, PID: r.PID, HeartbeatAt: r.HeartbeatAt.UTC(), Alive: now.Sub(r.HeartbeatAt) < s.replicaTimeout}
	}
	return out, nil
}

// maxRunning bounds the running jobs listed.
const maxRunning = 200

// Status reads the queues and the running jobs.
func (s *Service) Status(ctx context.Context) (*Status, error) {
	st, err := s.Stats(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	out := &Status{
		Inbox: InboxStatus{Pending: st.InboxPending, OldestPendingAgeSeconds: st.InboxOldestAge.Seconds(), DeadLetters: st.InboxDeadLetters},
		Jobs:  make([]JobGroup, 0, len(st.Jobs)), Running: []HeldJob{}, RescueAfterSeconds: s.rescueAfter.Seconds(), At: now,
	}
	for _, g := range st.Jobs {
		if g.Count == 0 {
			continue
		}
		out.Jobs = append(out.Jobs, JobGroup{Kind: g.Kind, State: g.State, Count: g.Count, OldestAgeSeconds: g.OldestAge.Seconds()})
	}
	res, err := s.jobs.JobList(ctx, river.NewJobListParams().States(rivertype.JobStateRunning).
		OrderBy(river.JobListOrderByTime, river.SortOrderAsc).First(maxRunning))
	if err != nil {
		return nil, fmt.Errorf("listing running jobs: %w", err)
	}
	for _, j := range res.Jobs {
		h := HeldJob{Job: jobOf(j), AttemptedAt: utc(j.AttemptedAt)}
		if n := len(j.AttemptedBy); n > 0 {
			h.Holder = j.AttemptedBy[n-1]
		}
		if j.AttemptedAt != nil {
			d := max(now.Sub(*j.AttemptedAt), 0)
			h.RunningSeconds, h.Stuck = d.Seconds(), d > s.rescueAfter
		}
		out.Running = append(out.Running, h)
	}
	var holders []string
	for _, h := range out.Running {
		if h.Holder != "" && !slices.Contains(holders, h.Holder) {
			holders = append(holders, h.Holder)
		}
	}
	reps, err := s.replicas(ctx, holders, now)
	if err != nil {
		return nil, err
	}
	for i := range out.Running {
		h := &out.Running[i]
		if h.Replica = reps[h.Holder]; h.Replica != nil && !h.Replica.Alive {
			h.Stuck = true
		}
	}
	return out, nil
}

// DeadEvent is an inbox event that failed to apply MaxEventAttempts times.
type DeadEvent struct {
	ID           int64     `json:"id"`
	Provider     string    `json:"provider"`
	ConnectionID string    `json:"connectionId"`
	OwnerKind    string    `json:"ownerKind"`
	OwnerID      string    `json:"ownerId"`
	EventID      string    `json:"eventId"`
	EventType    string    `json:"eventType"`
	ReceivedAt   time.Time `json:"receivedAt"`
	Attempts     int       `json:"attempts"`
	LastError    string    `json:"lastError"`
}

// DeadEvents lists inbox dead letters of every tenant, newest first.
func (s *Service) DeadEvents(ctx context.Context, limit int) ([]DeadEvent, error) {
	rows, err := s.store.DeadInbox(ctx, pipeline.MaxEventAttempts, limit)
	if err != nil {
		return nil, err
	}
	out := make([]DeadEvent, 0, len(rows))
	for _, r := range rows {
		out = append(out, DeadEvent{ID: r.ID, Provider: r.Provider, ConnectionID: r.ConnectionID, OwnerKind: r.OwnerKind, OwnerID: r.OwnerID,
			EventID: r.EventID, EventType: r.EventType, ReceivedAt: r.ReceivedAt.UTC(), Attempts: r.Attempts, LastError: r.LastError})
	}
	return out, nil
}

// DeadJob is a River job discarded after its last attempt (or cancelled
// for good by its worker).
type DeadJob struct {
	Job
	CreatedAt   time.Time  `json:"createdAt"`
	DiscardedAt *time.Time `json:"discardedAt"`
	LastError   string     `json:"lastError"`
}

// DeadJobs lists discarded River jobs, most recently discarded first.
func (s *Service) DeadJobs(ctx context.Context, limit int) ([]DeadJob, error) {
	res, err := s.jobs.JobList(ctx, river.NewJobListParams().States(rivertype.JobStateDiscarded).
		OrderBy(river.JobListOrderByTime, river.SortOrderDesc).First(limit))
	if err != nil {
		return nil, fmt.Errorf("listing discarded jobs: %w", err)
	}
	out := make([]DeadJob, 0, len(res.Jobs))
	for _, j := range res.Jobs {
		d := DeadJob{Job: jobOf(j), CreatedAt: j.CreatedAt.UTC(), DiscardedAt: utc(j.FinalizedAt)}
		if n := len(j.Errors); n > 0 {
			d.LastError = j.Errors[n-1].Error
		}
		out = append(out, d)
	}
	return out, nil
}

// RetryEvent gives an inbox dead letter its attempts back and wakes an
// applier, in one transaction. It is ENotFound unless id is a dead letter.
func (s *Service) RetryEvent(ctx context.Context, id int64) error {
	n, err := s.retryEvents(ctx, &id)
	if err != nil {
		return err
	}
	if n == 0 {
		return hub.Errorf(hub.ENotFound, "Inbox event %d is not a dead letter", id)
	}
	return nil
}

// retryEvents retries the dead letter id, or every one when id is nil.
func (s *Service) retryEvents(ctx context.Context, id *int64) (int, error) {
	var n int64
	err := s.store.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if n, err = store.RetryDeadInbox(ctx, tx, id, pipeline.MaxEventAttempts); err != nil || n == 0 {
			return err
		}
		if _, err := s.jobs.InsertTx(ctx, tx.Tx, pipeline.ApplyEventsArgs{}, nil); err != nil {
			return fmt.Errorf("enqueuing event processing: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	s.metrics.DeadLettersRetried("event", int(n))
	return int(n), nil
}

// RetryJob makes a discarded job available again (River's JobRetry, which
// also grants it one more attempt). It is ENotFound unless id is discarded.
func (s *Service) RetryJob(ctx context.Context, id int64) error {
	j, err := s.jobs.JobGet(ctx, id)
	if errors.Is(err, river.ErrNotFound) || (err == nil && j.State != rivertype.JobStateDiscarded) {
		return hub.Errorf(hub.ENotFound, "Job %d is not a discarded job", id)
	}
	if err != nil {
		return fmt.Errorf("loading job %d: %w", id, err)
	}
	if _, err := s.jobs.JobRetry(ctx, id); err != nil {
		return fmt.Errorf("retrying job %d: %w", id, err)
	}
	s.metrics.DeadLettersRetried("job", 1)
	return nil
}

// RetryAll retries every inbox dead letter and every discarded job.
func (s *Service) RetryAll(ctx context.Context) (events, jobsRetried int, err error) {
	if events, err = s.retryEvents(ctx, nil); err != nil {
		return 0, 0, err
	}
	for {
		// Retried jobs leave the discarded state, so each page is the next.
		res, err := s.jobs.JobList(ctx, river.NewJobListParams().States(rivertype.JobStateDiscarded).First(500))
		if err != nil {
			return events, jobsRetried, fmt.Errorf("listing discarded jobs: %w", err)
		}
		if len(res.Jobs) == 0 {
			return events, jobsRetried, nil
		}
		for _, j := range res.Jobs {
			if _, err := s.jobs.JobRetry(ctx, j.ID); err != nil {
				return events, jobsRetried, fmt.Errorf("retrying job %d: %w", j.ID, err)
			}
			jobsRetried++
			s.metrics.DeadLettersRetried("job", 1)
		}
	}
}

// ParseID reads a dead letter's id.
func ParseID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || id <= 0 {
		return 0, hub.Errorf(hub.EInvalid, "Invalid id %q: want a positive number", s)
	}
	return id, nil
}

func rawJSON(b []byte) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return json.RawMessage("null")
	}
	return json.RawMessage(b)
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
