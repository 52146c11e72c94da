// Package health answers whether this hub can do its work: the database
// takes writes, the disk has room, the plugins run and the queue keeps up.
package health

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/pluginhost"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"golang.org/x/sys/unix"
)

// Check names, as /readyz lists them in "failed".
const (
	CheckDatabase = "database"
	CheckDisk     = "disk"
	CheckPlugins  = "plugins"
	CheckQueue    = "queue"
)

// Options configure the checks.
type Options struct {
	Store   *store.Store
	Plugins *pluginhost.Host
	// DiskPath is the directory whose file system holds the SQLite
	// database; empty skips the disk check (PostgreSQL: the server's disk
	// shows in the write probe as disk_full).
	DiskPath string
	// MinFreeDisk fails the disk check below this many free bytes.
	MinFreeDisk uint64
	// MaxQueueLag fails the queue check when the oldest webhook event
	// waiting to be applied is older; 0 disables the check.
	MaxQueueLag time.Duration
	// CacheFor reuses a database, disk and queue result this long, so
	// probes every second from several sources cost one write a second.
	CacheFor time.Duration
	// Timeout bounds the database probe (default 5s).
	Timeout time.Duration
	// Replica names this process in the health row.
	Replica string
}

// Checker runs the checks.
type Checker struct {
	o Options

	mu     sync.Mutex
	cached map[string]Check
	at     time.Time
}

// New returns a Checker.
func New(o Options) *Checker {
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	return &Checker{o: o}
}

// Check is one check's result; the fields besides OK and Error are the
// check's details.
type Check struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Skipped says why a check does not apply here.
	Skipped string `json:"skipped,omitempty"`

	// database
	Driver    string   `json:"driver,omitempty"`
	Reason    string   `json:"reason,omitempty"`
	LatencyMS *float64 `json:"latencyMs,omitempty"`
	Since     string   `json:"since,omitempty"`
	Failures  int64    `json:"failures,omitempty"`

	// disk
	Path         string  `json:"path,omitempty"`
	FreeBytes    *uint64 `json:"freeBytes,omitempty"`
	MinFreeBytes *uint64 `json:"minFreeBytes,omitempty"`
	WALBytes     *int64  `json:"walBytes,omitempty"` // SQLite write-ahead log

	// plugins
	Plugins []Plugin `json:"plugins,omitempty"`

	// queue: how long the oldest webhook event still to be applied, and
	// the oldest job ready to run (enrichment, analysis), have waited
	LagSeconds    *float64 `json:"lagSeconds,omitempty"`
	JobLagSeconds *float64 `json:"jobLagSeconds,omitempty"`
	MaxLagSeconds *float64 `json:"maxLagSeconds,omitempty"`
}

// Plugin is a plugin's state as the management view of health shows it.
type Plugin struct {
	Name            string   `json:"name"`
	State           string   `json:"state"`
	Version         string   `json:"version,omitempty"`
	ProtocolVersion int      `json:"protocolVersion,omitempty"`
	Capabilities    []string `json:"capabilities,omitempty"`
	Error           string   `json:"error,omitempty"`
	Restarts        int      `json:"restarts"`
	LastError       string   `json:"lastError,omitempty"`
	Checksum        string   `json:"checksum,omitempty"`
	SHA256          string   `json:"sha256,omitempty"`
}

// Report is the result of all checks.
type Report struct {
	OK        bool
	Failed    []string
	Checks    map[string]Check
	CheckedAt time.Time
}

// Run returns the checks named (all when none are), reusing a database,
// disk and queue result younger than CacheFor; plugin states are read
// fresh, they cost nothing.
func (c *Checker) Run(ctx context.Context, names ...string) Report {
	if len(names) == 0 {
		names = []string{CheckDatabase, CheckDisk, CheckPlugins, CheckQueue}
	}
	cached, at := c.slow(ctx)
	r := Report{OK: true, Checks: map[string]Check{}, CheckedAt: at}
	for _, n := range names {
		var ch Check
		if n == CheckPlugins {
			ch = c.plugins()
		} else {
			ch = cached[n]
		}
		r.Checks[n] = ch
		if !ch.OK {
			r.OK = false
			r.Failed = append(r.Failed, n)
		}
	}
	return r
}

func (c *Checker) slow(ctx context.Context) (map[string]Check, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cached != nil && time.Since(c.at) < c.o.CacheFor {
		return c.cached, c.at
	}
	now := time.Now()
	c.cached = map[string]Check{
		CheckDatabase: c.database(ctx),
		CheckDisk:     c.disk(),
		CheckQueue:    c.queue(ctx),
	}
	c.at = now
	return c.cached, c.at
}

// database writes the health row: a database that answers reads but
// cannot write (read-only, full) is not ready.
func (c *Checker) database(ctx context.Context) Check {
	st := c.o.Store
	ch := Check{OK: true, Driver: st.Driver}
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	start := time.Now()
	_, err := st.Bun().NewUpdate().Table("hub_health").
		Set("checked_at = ?", time.Now().UTC()).Set("checked_by = ?", c.o.Replica).
		Where("id = 1").Exec(ctx)
	ms := float64(time.Since(start).Microseconds()) / 1000
	ch.LatencyMS = &ms
	if err != nil {
		st.Avail.Observe(err) // records the outage; the check shows the driver's own words
		if ctx.Err() != nil {
			err = fmt.Errorf("no answer within %s: %w", c.o.Timeout, err)
		}
		err = fmt.Errorf("writing the health row: %w", err)
	} else {
		st.Avail.OK()
	}
	// A damaged database stays failed even when this one row can be
	// written: other pages are not.
	s := st.Avail.State()
	if s.Reason != "" {
		ch.Reason, ch.Failures = s.Reason, s.Failures
		ch.Since = s.Since.UTC().Format(time.RFC3339)
		if err == nil {
			err = fmt.Errorf("database %s since %s: %s", s.Reason, ch.Since, s.LastError)
		}
	}
	if err != nil {
		ch.OK, ch.Error = false, err.Error()
	}
	return ch
}

// disk fails when the database's file system has less than MinFreeDisk
// free, or is mounted read-only.
func (c *Checker) disk() Check {
	if c.o.DiskPath == "" {
		return Check{OK: true, Skipped: "no local database file: a full database server disk fails the database check (disk_full)"}
	}
	ch := Check{OK: true, Path: c.o.DiskPath, MinFreeBytes: &c.o.MinFreeDisk}
	var fs unix.Statfs_t
	if err := unix.Statfs(c.o.DiskPath, &fs); err != nil {
		ch.OK, ch.Error = false, fmt.Sprintf("statfs %s: %v", c.o.DiskPath, err)
		return ch
	}
	free := fs.Bavail * uint64(fs.Bsize)
	ch.FreeBytes = &free
	if c.o.Store.Driver == "sqlite" {
		wal := c.o.Store.WALSize()
		ch.WALBytes = &wal
	}
	switch {
	case fs.Flags&unix.ST_RDONLY != 0:
		ch.OK, ch.Error = false, "file system is mounted read-only"
	case free < c.o.MinFreeDisk:
		ch.OK, ch.Error = false, fmt.Sprintf("%d bytes free, fewer than HUB_READY_MIN_FREE_DISK (%d)", free, c.o.MinFreeDisk)
	}
	return ch
}

func (c *Checker) plugins() Check {
	ch := Check{OK: true, Plugins: []Plugin{}}
	for _, p := range c.o.Plugins.Plugins() {
		ch.Plugins = append(ch.Plugins, Plugin{
			Name: p.Name, State: p.State, Version: p.Manifest.Version,
			ProtocolVersion: p.Manifest.ProtocolVersion, Capabilities: p.Manifest.Capabilities, Error: p.Error,
			Restarts: p.Restarts, LastError: p.LastError, Checksum: p.Checksum, SHA256: p.SHA256,
		})
		// Refused binaries are deliberate; a restarting plugin recovers on
		// its own and its routes answer 503 with Retry-After meanwhile.
		if p.State == pluginhost.StateFailed || p.State == pluginhost.StateDisabled {
			ch.OK = false
			ch.Error = fmt.Sprintf("plugin %s is %s", p.Name, p.State)
		}
	}
	return ch
}

// queue measures how long the oldest webhook event still to be applied,
// and the oldest job ready to run, have waited.
func (c *Checker) queue(ctx context.Context) Check {
	ch := Check{OK: true}
	if c.o.MaxQueueLag > 0 {
		m := c.o.MaxQueueLag.Seconds()
		ch.MaxLagSeconds = &m
	}
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	oldest, ok, err := c.o.Store.OldestPendingInbox(ctx, pipeline.MaxEventAttempts)
	if err != nil {
		ch.OK, ch.Error = false, err.Error()
		return ch
	}
	lag := 0.0
	if ok {
		lag = max(0, time.Since(oldest).Seconds())
	}
	ch.LagSeconds = &lag
	jobLag, err := jobs.OldestAvailable(ctx, c.o.Store)
	if err != nil {
		ch.OK, ch.Error = false, err.Error()
		return ch
	}
	jl := jobLag.Seconds()
	ch.JobLagSeconds = &jl
	if lim := c.o.MaxQueueLag.Seconds(); c.o.MaxQueueLag > 0 && max(lag, jl) > lim {
		what := "the oldest pending webhook event"
		if jl > lag {
			what = "the oldest job ready to run (enrichment, analysis)"
		}
		ch.OK, ch.Error = false, fmt.Sprintf("%s has waited %.0fs, more than HUB_READY_MAX_QUEUE_LAG (%s)", what, max(lag, jl), c.o.MaxQueueLag)
	}
	return ch
}
