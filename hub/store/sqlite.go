package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"golang.org/x/sys/unix"
)

// lockSQLite takes an exclusive lock on a file beside the database, held
// while the hub runs: SQLite serves one hub.
func lockSQLite(path string) (*os.File, error) {
	name := path + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("another hub is running on %s (it holds %s): SQLite serves one hub; run several on PostgreSQL", path, name)
		}
		return nil, fmt.Errorf("locking %s: %w", name, err)
	}
	return f, nil
}

func (s *Store) closeLock() {
	if s.lockFile != nil {
		s.lockFile.Close()
		s.lockFile = nil
	}
}

// quickCheck refuses a damaged database file at start: a hub that starts on
// one answers most writes with "database disk image is malformed".
func quickCheck(ctx context.Context, db *sql.DB, path string) error {
	rows, err := db.QueryContext(ctx, "PRAGMA quick_check(5)")
	if err != nil {
		return damaged(path, err.Error())
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return damaged(path, err.Error())
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return damaged(path, err.Error())
	}
	if len(problems) > 0 {
		return damaged(path, "quick_check: "+strings.Join(problems, "; "))
	}
	return nil
}

func damaged(path, what string) error {
	return fmt.Errorf("SQLite database %s is damaged (%s): refusing to start on it; "+
		"restore it from a backup, or recover what is readable with: sqlite3 %s .recover | sqlite3 recovered.db", path, what, path)
}

// WALSize is the size of the SQLite write-ahead log file in bytes (0 for
// PostgreSQL or when there is none).
func (s *Store) WALSize() int64 {
	if s.Driver != "sqlite" {
		return 0
	}
	fi, err := os.Stat(s.sqlitePath + "-wal")
	if err != nil {
		return 0
	}
	return fi.Size()
}

// walIdleFloor: an idle log smaller than this is left alone (River's
// leader election writes a few pages every few seconds).
const walIdleFloor = 1 << 20

// checkpointLoop copies the SQLite write-ahead log back into the database
// file outside of any request's commit, and keeps the log bounded:
//
//   - every second a PASSIVE checkpoint, which never blocks writers;
//   - when the log file grows past a quarter of the limit (looked at every
//     50 ms), three PASSIVE ones (each copies what the writer added during
//     the one before) and then a RESTART one, so the next commit starts
//     the log over and cuts the file back to journal_size_limit (a quarter
//     of the limit): under a burst, PASSIVE alone rarely catches up with a
//     writer that never pauses, and the log grew to several times the
//     database; from half the limit (looked at before each copy too), the
//     RESTART alone, which copies with writers held back (a writer faster
//     than the copies otherwise took the log past the limit) and takes
//     the connection without standing back for the inbox's commits (see
//     exclusiveCheckpoint);
//   - when the log has been fully copied and nothing was written since the
//     previous look, a TRUNCATE one, whatever the file's size: an idle hub
//     gives the disk back.
//
// RESTART and TRUNCATE wait for writers, so they run while this loop holds
// the hub's one connection: writers queue in database/sql for the few
// milliseconds left to copy (PASSIVE did the bulk) instead of sleeping in
// SQLite's busy handler, and no checkpoint ever runs inside a commit.
func (s *Store) checkpointLoop(ctx context.Context) {
	defer close(s.checkpointsDone)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	var (
		lastWarned  time.Time
		lastPassive time.Time
		prevFrames  = int64(-1)
	)
	warn := func(mode string, err error) {
		// A failing checkpoint lets the write-ahead log grow: say so, but
		// once a minute at most.
		if err != nil && ctx.Err() == nil && time.Since(lastWarned) > time.Minute {
			s.log.Warn("SQLite checkpoint failed; the write-ahead log grows until one succeeds", "mode", mode, "error", err)
			lastWarned = time.Now()
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		size := s.WALSize()
		// Strictly more than a quarter: when a commit starts the log over,
		// SQLite cuts the file back to exactly a quarter (journal_size_limit)
		// and reuses it, so a file of that size says nothing about how much
		// of it is in use; taking it for a full log ran a RESTART, holding
		// every commit up, every 50 ms.
		over := size > s.walLimit/4
		if size >= s.walLimit/2 {
			// A writer outran the PASSIVE copies: copy and restart the log
			// while holding the connection, so it cannot grow meanwhile.
			// Only the next writer starts the log over (and cuts the file
			// back): when nothing was written since the last look, cut it
			// here, or an idle hub keeps the file and runs this every 50 ms.
			frames, done, err := s.exclusiveCheckpoint(ctx, "RESTART")
			warn("RESTART", err)
			if err == nil && frames == done && frames == prevFrames {
				_, _, err = s.exclusiveCheckpoint(ctx, "TRUNCATE")
				warn("TRUNCATE", err)
			}
			prevFrames = frames
			continue
		}
		if !over && time.Since(lastPassive) < time.Second {
			continue
		}
		lastPassive = time.Now()
		frames, done, err := s.checkpoint(ctx, "PASSIVE")
		if err != nil {
			warn("PASSIVE", err)
			continue
		}
		idle := frames == done && frames == prevFrames
		prevFrames = frames
		switch {
		case idle && size > walIdleFloor:
			_, _, err = s.exclusiveCheckpoint(ctx, "TRUNCATE")
			warn("TRUNCATE", err)
		case over:
			// What the writer added during that copy is copied again, twice,
			// without holding anything, so the RESTART, which holds up every
			// commit, has only the last few milliseconds' frames to copy;
			// unless the writer outran the copies to half the limit already:
			// then the RESTART at once (another copy let the log pass the
			// limit under a loaded machine's burst).
			for range 2 {
				if s.WALSize() >= s.walLimit/2 {
					break
				}
				if _, _, err := s.checkpoint(ctx, "PASSIVE"); err != nil {
					break
				}
			}
			_, _, err = s.exclusiveCheckpoint(ctx, "RESTART")
			warn("RESTART", err)
		}
	}
}

// checkpoint runs one checkpoint on the checkpoint connection and returns
// the log's frames and how many of them are in the database file.
func (s *Store) checkpoint(ctx context.Context, mode string) (frames, done int64, err error) {
	var busy int
	err = s.checkpointDB.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &done)
	if err == nil && busy != 0 {
		err = fmt.Errorf("wal_checkpoint(%s) could not finish: the database was busy", mode)
	}
	return frames, done, err
}

// exclusiveCheckpoint runs a checkpoint that must wait for writers while
// holding the hub's one connection, so none is inside a transaction.
//
// It stands back for the inbox's commits (connDeferring) unless the log
// is past half its limit: then bounding it comes first. Standing back, up
// to 50 ms, let a writer that fills the log at 150 MB a second (the inbox
// and an applier with nothing else to do, TestSQLiteWALStaysBounded) take
// it from 22 past 34 MiB of a 32 MiB limit before the RESTART began.
func (s *Store) exclusiveCheckpoint(ctx context.Context, mode string) (frames, done int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var conn bun.Conn
	if s.WALSize() >= s.walLimit/2 {
		conn, err = s.db.Conn(ctx)
	} else {
		conn, err = s.connDeferring(ctx)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("waiting for the hub's connection: %w", err)
	}
	s.exclusiveCheckpoints.Add(1)
	defer conn.Close()
	return s.checkpoint(ctx, mode)
}
