package health_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/health"
	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/pluginhost"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
)

func TestChecks(t *testing.T) {
	tests := []struct {
		name   string
		opts   func(o *health.Options)
		setup  func(t *testing.T, st *store.Store)
		failed []string
	}{
		{"all well", nil, nil, nil},
		{"too little disk", func(o *health.Options) { o.MinFreeDisk = 1 << 62 }, nil, []string{health.CheckDisk}},
		{"missing disk path", func(o *health.Options) { o.DiskPath = "/nonexistent/dir" }, nil, []string{health.CheckDisk}},
		{"queue lagging", func(o *health.Options) { o.MaxQueueLag = time.Minute }, func(t *testing.T, st *store.Store) {
			pending(t, st, time.Now().Add(-2*time.Minute))
		}, []string{health.CheckQueue}},
		{"jobs waiting", func(o *health.Options) { o.MaxQueueLag = time.Minute }, func(t *testing.T, st *store.Store) {
			waitingJob(t, st, time.Now().Add(-2*time.Minute))
		}, []string{health.CheckQueue}},
		{"jobs just queued", func(o *health.Options) { o.MaxQueueLag = time.Minute }, func(t *testing.T, st *store.Store) {
			waitingJob(t, st, time.Now())
		}, nil},
		{"queue lag check off", func(o *health.Options) { o.MaxQueueLag = 0 }, func(t *testing.T, st *store.Store) {
			pending(t, st, time.Now().Add(-2*time.Hour))
		}, nil},
		{"database read-only", nil, func(t *testing.T, st *store.Store) {
			// A real SQLITE_READONLY: the health row is written through a
			// connection that may only read.
			if _, err := st.Bun().ExecContext(context.Background(), "PRAGMA query_only = ON"); err != nil {
				t.Fatal(err)
			}
		}, []string{health.CheckDatabase}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t)
			o := health.Options{
				Store: st, Plugins: pluginhost.New(pluginhost.Options{}), DiskPath: t.TempDir(),
				MinFreeDisk: 1 << 20, MaxQueueLag: time.Hour, CacheFor: time.Minute,
			}
			if tt.opts != nil {
				tt.opts(&o)
			}
			if tt.setup != nil {
				tt.setup(t, st)
			}
			r := health.New(o).Run(context.Background())
			if r.OK != (len(tt.failed) == 0) || !slices.Equal(r.Failed, tt.failed) {
				t.Fatalf("failed = %v (ok %v), want %v: %+v", r.Failed, r.OK, tt.failed, r.Checks)
			}
		})
	}
}

// waitingJob enqueues a job that has been ready to run since at (no
// worker runs in this test).
func waitingJob(t *testing.T, st *store.Store, at time.Time) {
	t.Helper()
	ctx := context.Background()
	jc, err := jobs.New(st, jobs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jc.Insert(ctx, pipeline.ApplyEventsArgs{}, nil); err != nil {
		t.Fatal(err)
	}
	// Backdate it as a job that waited would be.
	if _, err := st.Bun().NewUpdate().Table("river_job").Set("scheduled_at = ?", at.UTC()).Where("TRUE").Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

// openStore is a hub database as the hub has it: its tables and River's.
func openStore(t *testing.T) *store.Store {
	t.Helper()
	st := storetest.Open(t, "sqlite")
	if err := jobs.Migrate(context.Background(), st, nil); err != nil {
		t.Fatal(err)
	}
	return st
}

func pending(t *testing.T, st *store.Store, at time.Time) {
	t.Helper()
	row := &store.InboxEvent{Provider: "pagerduty", ConnectionID: "c", OwnerKind: "user", OwnerID: "u", EventID: "e1",
		EventType: "incident.triggered", Event: "{}", ReceivedAt: at.UTC()}
	if _, err := st.Bun().NewInsert().Model(row).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestCachedChecksWriteOnce: probes within CacheFor share one database
// write, and a failure seen by requests shows in the next check.
func TestCachedChecksWriteOnce(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	c := health.New(health.Options{Store: st, Plugins: pluginhost.New(pluginhost.Options{}), DiskPath: filepath.Dir(t.TempDir()), CacheFor: time.Hour})
	first := c.Run(ctx)
	var checked time.Time
	if err := st.Bun().QueryRowContext(ctx, "SELECT checked_at FROM hub_health").Scan(&checked); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if r := c.Run(ctx); !r.CheckedAt.Equal(first.CheckedAt) {
			t.Fatalf("checks ran again within CacheFor")
		}
	}
	var again time.Time
	if err := st.Bun().QueryRowContext(ctx, "SELECT checked_at FROM hub_health").Scan(&again); err != nil {
		t.Fatal(err)
	}
	if !again.Equal(checked) {
		t.Fatalf("the health row was written again: %v then %v", checked, again)
	}
}
