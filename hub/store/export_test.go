package store

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"testing/fstest"
	"time"

	"github.com/uptrace/bun/migrate"
)

// MigrateBefore applies the pending migrations older than version, so a
// test can build a database as an earlier release left it.
func (s *Store) MigrateBefore(ctx context.Context, version string) error {
	sub, err := s.migrations()
	if err != nil {
		return err
	}
	entries, err := fs.ReadDir(sub, ".")
	if err != nil {
		return fmt.Errorf("listing migrations: %w", err)
	}
	older := fstest.MapFS{}
	for _, e := range entries {
		if e.Name() >= version {
			continue
		}
		b, err := fs.ReadFile(sub, e.Name())
		if err != nil {
			return err
		}
		older[e.Name()] = &fstest.MapFile{Data: b}
	}
	return s.migrateFS(ctx, older, version)
}

// ExclusiveCheckpoints is how many checkpoints ran holding the hub's connection.
func (s *Store) ExclusiveCheckpoints() int64 { return s.exclusiveCheckpoints.Load() }

// SetMaxDefer sets how long deferring transactions stand back at most.
func (s *Store) SetMaxDefer(d time.Duration) { s.prio.limit = d }

// UndoParentWithoutForeignKey runs the Down of the SQLite migration that
// removed incidents.parent_incident_id's foreign key.
func (s *Store) UndoParentWithoutForeignKey(ctx context.Context) error {
	return sqliteParentWithoutForeignKey.Down(ctx, migrate.NewMigrator(s.db, migrate.NewMigrations()), nil)
}

// SetsStatementCache is setsStatementCache.
var SetsStatementCache = setsStatementCache

// CheckpointDB is the connection checkpoints run on (SQLite only).
func (s *Store) CheckpointDB() *sql.DB { return s.checkpointDB }

// UndoInboxWithoutAutoincrement runs the Down of the SQLite migration that
// took AUTOINCREMENT off webhook_inbox.id.
func (s *Store) UndoInboxWithoutAutoincrement(ctx context.Context) error {
	return sqliteInboxWithoutAutoincrement.Down(ctx, migrate.NewMigrator(s.db, migrate.NewMigrations()), nil)
}
