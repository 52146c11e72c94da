package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
)

// Ops configures what operators watch and bound: readiness, the SQLite
// write-ahead log and how fast a dead replica's jobs move elsewhere.
type Ops struct {
	// ReadyMinFreeDisk fails /readyz when the SQLite database's file system
	// has less free (HUB_READY_MIN_FREE_DISK, default 64MiB).
	ReadyMinFreeDisk uint64
	// ReadyMaxQueueLag fails /readyz when the oldest webhook event still to
	// be applied has waited longer; 0 disables (HUB_READY_MAX_QUEUE_LAG,
	// default 10m).
	ReadyMaxQueueLag time.Duration
	// ReadyCache reuses a readiness result this long (HUB_READY_CACHE,
	// default 1s): probes from several sources cost one write a second.
	ReadyCache time.Duration
	// SQLiteWALLimit bounds the SQLite write-ahead log under load
	// (HUB_SQLITE_WAL_LIMIT, default 64MiB); when idle it is truncated.
	SQLiteWALLimit uint64
	// ReplicaTimeout: a PostgreSQL replica not heard of for this long is
	// taken for dead and its running jobs are run again elsewhere
	// (HUB_REPLICA_TIMEOUT, default 30s).
	ReplicaTimeout time.Duration
}

// Ops defaults.
const (
	DefaultReadyMinFreeDisk = 64 << 20
	DefaultReadyMaxQueueLag = 10 * time.Minute
	DefaultReadyCache       = time.Second
	DefaultSQLiteWALLimit   = 64 << 20
	DefaultReplicaTimeout   = 30 * time.Second
)

func (c *Config) parseOps(env map[string]string) error {
	o := &c.Ops
	var err error
	if o.ReadyMinFreeDisk, err = byteSize(env, "HUB_READY_MIN_FREE_DISK", DefaultReadyMinFreeDisk, 0); err != nil {
		return err
	}
	if o.SQLiteWALLimit, err = byteSize(env, "HUB_SQLITE_WAL_LIMIT", DefaultSQLiteWALLimit, 1<<20); err != nil {
		return err
	}
	if o.ReadyMaxQueueLag, err = duration(env, "HUB_READY_MAX_QUEUE_LAG", DefaultReadyMaxQueueLag, 0, 24*time.Hour); err != nil {
		return err
	}
	if o.ReadyCache, err = duration(env, "HUB_READY_CACHE", DefaultReadyCache, 0, time.Minute); err != nil {
		return err
	}
	if o.ReplicaTimeout, err = duration(env, "HUB_REPLICA_TIMEOUT", DefaultReplicaTimeout, 3*time.Second, time.Hour); err != nil {
		return err
	}
	return nil
}

// byteSize reads a size such as 64MiB, 100MB or 1048576, at least lo.
func byteSize(env map[string]string, key string, def, lo uint64) (uint64, error) {
	v := strings.TrimSpace(env[key])
	if v == "" {
		return def, nil
	}
	n, err := humanize.ParseBytes(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a size such as 64MiB or 100MB", key, v)
	}
	if n < lo {
		return 0, fmt.Errorf("%s: %s is below the minimum %s", key, v, humanize.IBytes(lo))
	}
	return n, nil
}
