package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aurora-hub/aurora-hub/hub/health"
	"github.com/aurora-hub/aurora-hub/hub/jobs"
)

// newReplicaID names this process among the hubs sharing a database: the
// River client id (jobs' attempted_by) and its hub_replicas row.
func newReplicaID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	id := fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	if len(id) > 100 { // River's limit
		id = id[len(id)-100:]
	}
	return id
}

// resumeJobs gets jobs whose process died running again, before this
// hub's workers start: on SQLite all running jobs at once (the lock file
// makes this hub their only possible owner); on PostgreSQL, those of
// replicas silent for HUB_REPLICA_TIMEOUT, now and every third of it.
func (a *App) resumeJobs(ctx context.Context, replicaID string) error {
	switch a.Store.Driver {
	case "sqlite":
		if _, err := jobs.ResumeOwn(ctx, a.Store, a.Log.Named("jobs")); err != nil {
			return fmt.Errorf("resuming jobs left running: %w", err)
		}
	case "postgres":
		r, err := jobs.NewReplicas(a.Store, replicaID, a.Config.Ops.ReplicaTimeout, a.Log.Named("jobs"))
		if err != nil {
			return err
		}
		if err := r.Register(ctx); err != nil {
			return err
		}
		a.replicas = r
		var rctx context.Context
		rctx, a.stopReplicas = context.WithCancel(context.WithoutCancel(ctx))
		a.replicasDone = make(chan struct{})
		go func() { r.Run(rctx); close(a.replicasDone) }()
	}
	return nil
}

func (a *App) healthChecker(replicaID string) *health.Checker {
	o := health.Options{
		Store: a.Store, Plugins: a.Plugins, MinFreeDisk: a.Config.Ops.ReadyMinFreeDisk,
		MaxQueueLag: a.Config.Ops.ReadyMaxQueueLag, CacheFor: a.Config.Ops.ReadyCache, Replica: replicaID,
	}
	if a.Store.Driver == "sqlite" {
		o.DiskPath = filepath.Dir(a.Config.SQLitePath)
		if abs, err := filepath.Abs(o.DiskPath); err == nil {
			o.DiskPath = abs
		}
	}
	return health.New(o)
}
