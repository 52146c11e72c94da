package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// PendingEvent is an inbox event still to be applied, with its record
// decoded.
type PendingEvent struct {
	ID           int64
	Provider     string
	ConnectionID string
	OwnerKind    string
	OwnerID      string
	EventType    string
	ReceivedAt   time.Time
	Event        sdk.Event
	// Err (wrapping ErrInboxRecord) means the stored record cannot be read
	// by this hub; Event is then zero and the event is to be dead-lettered.
	Err error
}

// On SQLite the apply path's statements pass their values as arguments, so
// their text never changes and the store's connection keeps them compiled
// (see the statement cache); Bun would inline the values and SQLite would
// compile each statement again, every chunk.
const (
	sqlitePending = "SELECT id, provider, connection_id, owner_kind, owner_id, event_type, event, received_at" +
		" FROM webhook_inbox WHERE applied_at IS NULL AND attempts < ?"
	sqlitePendingInbox      = sqlitePending + " ORDER BY id LIMIT ?"
	sqlitePendingInboxAfter = sqlitePending + " AND id > ? ORDER BY id LIMIT ?"
	sqlitePendingInboxIDs   = "SELECT id FROM webhook_inbox WHERE applied_at IS NULL AND attempts < ? ORDER BY id LIMIT ?"
	sqliteMarkInboxApplied  = "UPDATE webhook_inbox SET applied_at = ?, attempts = attempts + 1, last_error = ''" +
		" WHERE id IN (SELECT value FROM json_each(?))"
)

// PendingInbox returns up to limit events not applied yet and tried fewer
// than maxAttempts times, in id order (only those in only, when given),
// each decoded once here. On PostgreSQL it locks them for tx's duration,
// skipping those another replica holds.
func PendingInbox(ctx context.Context, tx bun.IDB, only []int64, limit, maxAttempts int) ([]PendingEvent, error) {
	var rows *sql.Rows
	var err error
	if q := SQLiteConn(tx); q != nil && only == nil {
		rows, err = q.QueryContext(ctx, sqlitePendingInbox, maxAttempts, limit)
	} else {
		q := tx.NewSelect().Model((*InboxEvent)(nil)).
			Column("id", "provider", "connection_id", "owner_kind", "owner_id", "event_type", "event", "received_at").
			Where("applied_at IS NULL").
			Where("attempts < ?", maxAttempts).
			Order("id").
			Limit(int64(limit))
		if only != nil {
			q = q.Where("id IN (?)", bun.List(only))
		}
		if tx.Dialect().Name() == dialect.PG {
			q = q.For("UPDATE SKIP LOCKED")
			if only == nil {
				if err := plainIndexScan(ctx, tx); err != nil {
					return nil, err
				}
			}
		}
		rows, err = q.Rows(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("reading pending inbox events: %w", err)
	}
	return scanPending(rows, limit)
}

// plainIndexScan makes PostgreSQL read the pending events (applied_at IS
// NULL) by walking the webhook_inbox_pending index in id order, for the
// rest of tx. Each applied event leaves a dead entry in that partial index
// until VACUUM; a plain index scan marks the entries it finds dead
// (kill_prior_tuple) and the next scans skip them, but the planner chose a
// bitmap scan, which never does: every read of the pending events visited
// every event applied since the last VACUUM (3,529 index entries a scan
// ten seconds into the bench's lifecycle load, 4.4 ms each: after the
// waits for the correlation lock, the statement PostgreSQL spent most time
// on; docs/performance-history.md, round 12).
func plainIndexScan(ctx context.Context, tx bun.IDB) error {
	if _, err := tx.ExecContext(ctx, "SET LOCAL enable_bitmapscan = off"); err != nil {
		return fmt.Errorf("reading pending inbox events: %w", err)
	}
	return nil
}

// scanPending reads PendingInbox's rows and closes them.
func scanPending(rows *sql.Rows, limit int) ([]PendingEvent, error) {
	defer rows.Close()
	out := make([]PendingEvent, 0, limit)
	// The record is read in place (RawBytes, valid until the next Scan):
	// decoding copies what the event keeps.
	var enc sql.RawBytes
	for rows.Next() {
		var e PendingEvent
		if err := rows.Scan(&e.ID, &e.Provider, &e.ConnectionID, &e.OwnerKind, &e.OwnerID, &e.EventType, &enc, &e.ReceivedAt); err != nil {
			return nil, fmt.Errorf("reading pending inbox events: %w", err)
		}
		e.Event, e.Err = DecodeInboxEvent(enc)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading pending inbox events: %w", err)
	}
	return out, nil
}

// PendingInboxAfter is PendingInbox on SQLite, without a transaction, for
// events with ids above after: the apply worker reads and decodes its next
// chunk on a read connection (Store.Reads) while its current transaction
// holds the writer, and confirms it with PendingInboxIDs once its turn
// comes. On SQLite an event with a larger id always committed later.
func PendingInboxAfter(ctx context.Context, db bun.IDB, after int64, limit, maxAttempts int) ([]PendingEvent, error) {
	q := SQLiteConn(db)
	if q == nil {
		return nil, fmt.Errorf("reading pending inbox events ahead: SQLite only")
	}
	rows, err := q.QueryContext(ctx, sqlitePendingInboxAfter, maxAttempts, after, limit)
	if err != nil {
		return nil, fmt.Errorf("reading pending inbox events: %w", err)
	}
	return scanPending(rows, limit)
}

// PendingInboxIDs returns the ids of the first limit events PendingInbox
// would return on SQLite, without reading their records.
func PendingInboxIDs(ctx context.Context, tx bun.IDB, limit, maxAttempts int) ([]int64, error) {
	q := SQLiteConn(tx)
	if q == nil {
		return nil, fmt.Errorf("reading pending inbox ids: SQLite only")
	}
	rows, err := q.QueryContext(ctx, sqlitePendingInboxIDs, maxAttempts, limit)
	if err != nil {
		return nil, fmt.Errorf("reading pending inbox ids: %w", err)
	}
	defer rows.Close()
	ids := make([]int64, 0, limit)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("reading pending inbox ids: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading pending inbox ids: %w", err)
	}
	return ids, nil
}

// MarkInboxApplied marks the events ids applied at now (one more attempt,
// no error).
func MarkInboxApplied(ctx context.Context, tx bun.IDB, ids []int64, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	if q := SQLiteConn(tx); q != nil {
		list, err := json.Marshal(ids)
		if err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, sqliteMarkInboxApplied, SQLiteTime(tx, now), string(list)); err != nil {
			return fmt.Errorf("marking inbox events applied: %w", err)
		}
		return nil
	}
	_, err := tx.NewUpdate().Model((*InboxEvent)(nil)).
		Set("applied_at = ?", now.UTC()).
		Set("attempts = attempts + 1").
		Set("last_error = ''").
		Where("id IN (?)", bun.List(ids)).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("marking inbox events applied: %w", err)
	}
	return nil
}

// RecordInboxFailure counts a failed attempt at event id with its error
// (cut to 1000 bytes) and returns the attempts made so far.
func RecordInboxFailure(ctx context.Context, db bun.IDB, id int64, msg string) (int, error) {
	var attempts int
	err := db.NewUpdate().Model((*InboxEvent)(nil)).
		Set("attempts = attempts + 1").
		Set("last_error = ?", truncate(msg, 1000)).
		Where("id = ?", id).
		Returning("attempts").
		Scan(ctx, &attempts)
	if err != nil {
		return 0, fmt.Errorf("recording failure of inbox event %d: %w", id, err)
	}
	return attempts, nil
}

// DeadLetterInbox leaves event id as a dead letter at once (attempts set to
// maxAttempts, unless more were made) with msg as its error: for an event
// no retry can apply, such as one whose record this hub cannot read.
func DeadLetterInbox(ctx context.Context, db bun.IDB, id int64, msg string, maxAttempts int) error {
	_, err := db.NewUpdate().Model((*InboxEvent)(nil)).
		Set("attempts = CASE WHEN attempts < ? THEN ? ELSE attempts END", maxAttempts, maxAttempts).
		Set("last_error = ?", truncate(msg, 1000)).
		Where("id = ? AND applied_at IS NULL", id).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("dead-lettering inbox event %d: %w", id, err)
	}
	return nil
}

// InboxCounts are the inbox's unapplied events.
type InboxCounts struct {
	// Pending have been tried fewer than the maximum of times; Dead as
	// often (dead letters).
	Pending, Dead int64
	// OldestPending is the age of the oldest pending event (0: none).
	OldestPending time.Duration
}

// CountInbox counts the unapplied events, dead when tried maxAttempts times.
func (s *Store) CountInbox(ctx context.Context, maxAttempts int) (InboxCounts, error) {
	age := "extract(epoch from now() - min(CASE WHEN attempts < ? THEN received_at END))"
	if s.Driver == "sqlite" {
		age = "(julianday('now') - min(julianday(CASE WHEN attempts < ? THEN received_at END))) * 86400.0"
	}
	q := "SELECT coalesce(sum(CASE WHEN attempts < ? THEN 1 ELSE 0 END), 0), " +
		"coalesce(sum(CASE WHEN attempts >= ? THEN 1 ELSE 0 END), 0), " + age +
		" FROM webhook_inbox WHERE applied_at IS NULL"
	var c InboxCounts
	var oldest sql.NullFloat64
	if err := s.db.QueryRowContext(ctx, q, maxAttempts, maxAttempts, maxAttempts).Scan(&c.Pending, &c.Dead, &oldest); err != nil {
		return c, fmt.Errorf("counting inbox events: %w", err)
	}
	if oldest.Valid && oldest.Float64 > 0 {
		c.OldestPending = time.Duration(oldest.Float64 * float64(time.Second))
	}
	return c, nil
}

// OldestPendingInbox returns when the oldest pending event (tried fewer
// than maxAttempts times) was received; ok is false when there is none.
func (s *Store) OldestPendingInbox(ctx context.Context, maxAttempts int) (at time.Time, ok bool, err error) {
	var oldest []InboxEvent
	err = s.db.NewSelect().Model(&oldest).Column("received_at").
		Where("applied_at IS NULL AND attempts < ?", maxAttempts).
		Order("id").Limit(1).Scan(ctx)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("reading the oldest pending event: %w", err)
	}
	if len(oldest) == 0 {
		return time.Time{}, false, nil
	}
	return oldest[0].ReceivedAt, true, nil
}

// DeadInbox lists the dead letters (unapplied events tried maxAttempts
// times) of every tenant, newest first.
func (s *Store) DeadInbox(ctx context.Context, maxAttempts, limit int) ([]InboxEvent, error) {
	return deadInbox(ctx, s.db, maxAttempts, limit)
}

// deadInbox lists the newest dead letters (at most limit), without their
// event records, narrowed by where (a tenant).
func deadInbox(ctx context.Context, db bun.IDB, maxAttempts, limit int, where ...func(*bun.SelectQuery) *bun.SelectQuery) ([]InboxEvent, error) {
	var rows []InboxEvent
	q := db.NewSelect().Model(&rows).ExcludeColumn("event").
		Where("applied_at IS NULL AND attempts >= ?", maxAttempts)
	for _, w := range where {
		q = w(q)
	}
	if err := q.Order("id DESC").Limit(int64(limit)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("listing dead inbox events: %w", err)
	}
	return rows, nil
}

// RetryDeadInbox gives the dead letter id (every one when id is nil) its
// attempts back and returns how many it revived.
func RetryDeadInbox(ctx context.Context, db bun.IDB, id *int64, maxAttempts int) (int64, error) {
	q := db.NewUpdate().Model((*InboxEvent)(nil)).
		Set("attempts = 0").Set("last_error = ''").
		Where("applied_at IS NULL AND attempts >= ?", maxAttempts)
	if id != nil {
		q = q.Where("id = ?", *id)
	}
	res, err := q.Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("retrying inbox events: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("retrying inbox events: %w", err)
	}
	return n, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
