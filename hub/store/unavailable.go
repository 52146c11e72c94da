package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Reasons a database cannot take writes, as Unavailable and /readyz name them.
const (
	ReasonUnreachable = "unreachable"
	ReasonReadOnly    = "read-only"
	ReasonFull        = "full"
	ReasonDamaged     = "damaged"
	ReasonIOError     = "io-error"
	ReasonBusy        = "busy"
)

// retryAfter is what a client is told to wait for each reason: a busy
// database clears in moments, a full disk or a read-only database needs an
// operator.
var retryAfter = map[string]time.Duration{
	ReasonUnreachable: 5 * time.Second,
	ReasonReadOnly:    30 * time.Second,
	ReasonFull:        30 * time.Second,
	ReasonDamaged:     60 * time.Second,
	ReasonIOError:     30 * time.Second,
	ReasonBusy:        time.Second,
}

// Reason says why err means the database is unavailable (see the Reason
// constants), or "" when err is something else (a bad query, a constraint).
func Reason(err error) string {
	if err == nil {
		return ""
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // primary result code of an extended one
		case sqlite3.SQLITE_FULL:
			return ReasonFull
		case sqlite3.SQLITE_READONLY:
			return ReasonReadOnly
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return ReasonDamaged
		case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
			return ReasonIOError
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return ReasonBusy
		}
		return ""
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "25006": // read_only_sql_transaction
			return ReasonReadOnly
		case pe.Code == "53100": // disk_full
			return ReasonFull
		case pe.Code == "53200", pe.Code == "53300": // out_of_memory, too_many_connections
			return ReasonBusy
		case strings.HasPrefix(pe.Code, "08"), // connection exceptions
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // admin_shutdown, crash_shutdown, cannot_connect_now
			pe.Code == "58030": // io_error
			return ReasonUnreachable
		case pe.Code == "XX001", pe.Code == "XX002": // data_corrupted, index_corrupted
			return ReasonDamaged
		}
		return ""
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return ReasonUnreachable
	}
	// A request that ended or ran out of time says nothing about the
	// database (context.DeadlineExceeded is a net.Error too).
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ""
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.ErrUnexpectedEOF), pgconn.SafeToRetry(err):
		return ReasonUnreachable
	}
	return ""
}

// Unavailable returns err as a hub EUnavailable error with a RetryAfter
// when it means the database cannot take writes now, else nil.
func Unavailable(err error) *hub.Error {
	r := Reason(err)
	if r == "" {
		return nil
	}
	return &hub.Error{Code: hub.EUnavailable, Message: "Database unavailable (" + r + "): retry later", RetryAfter: retryAfter[r], Err: err}
}

// Availability remembers whether the database takes writes, from what
// requests and probes see, and logs each change of state once (not once per
// failing request).
type Availability struct {
	log hclog.Logger

	mu      sync.Mutex
	reason  string // "" while available
	lastErr string
	since   time.Time
	failed  int64 // failures observed in the current outage
}

// NewAvailability returns a tracker logging to log.
func NewAvailability(log hclog.Logger) *Availability {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Availability{log: log}
}

// Observe classifies err: a database-unavailable error is recorded (logged
// when the state changes) and returned as its *hub.Error; anything else is
// returned unchanged.
func (a *Availability) Observe(err error) error {
	u := Unavailable(err)
	if u == nil {
		return err
	}
	r := Reason(err)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failed++
	a.lastErr = err.Error()
	if a.reason == r {
		return u
	}
	if a.reason == "" {
		a.since = time.Now()
	}
	a.reason = r
	a.log.Error("database unavailable: requests answer 503 with Retry-After until it recovers", "reason", r, "error", err)
	return u
}

// OK records that a write succeeded. A damaged database stays damaged: its
// other pages may still fail, and a restart checks the whole file.
func (a *Availability) OK() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.reason == "" || a.reason == ReasonDamaged {
		return
	}
	a.log.Info("database available again", "was", a.reason, "after", time.Since(a.since).Round(time.Millisecond).String(), "failures", a.failed)
	a.reason, a.lastErr, a.failed = "", "", 0
}

// AvailabilityState is a snapshot of an Availability.
type AvailabilityState struct {
	Reason    string // "" while available
	LastError string
	Since     time.Time
	Failures  int64
}

// State returns the current state.
func (a *Availability) State() AvailabilityState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return AvailabilityState{Reason: a.reason, LastError: a.lastErr, Since: a.since, Failures: a.failed}
}
