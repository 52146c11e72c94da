// Package store keeps the hub's state in SQL through Bun: SQLite (embedded,
// the default) or PostgreSQL, with versioned migrations for each.
package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/migrate"
	_ "modernc.org/sqlite" // database/sql driver "sqlite": pure Go, so `make dev` needs no C toolchain
)

//go:embed migrations
var migrationFiles embed.FS

// Store is the hub's database.
type Store struct {
	DB     *bun.DB
	Driver string

	checkpointDB    *sql.DB
	stopCheckpoints context.CancelFunc
	checkpointsDone chan struct{}
	log             hclog.Logger
}

// Options say which database to open.
type Options struct {
	// Driver is "sqlite" or "postgres".
	Driver string
	// SQLitePath is the database file (sqlite).
	SQLitePath string
	// URL is the postgres:// URL (postgres).
	URL string
	// Logger receives the store's own warnings (default: none).
	Logger hclog.Logger
}

// Open connects to the database and checks it answers. It does not migrate.
func Open(ctx context.Context, o Options) (*Store, error) {
	var (
		sqldb *sql.DB
		db    *bun.DB
		err   error
	)
	switch o.Driver {
	case "sqlite":
		if err := os.MkdirAll(filepath.Dir(o.SQLitePath), 0o700); err != nil {
			return nil, fmt.Errorf("creating database directory: %w", err)
		}
		sqldb, err = sql.Open("sqlite", sqliteDSN(o.SQLitePath))
		if err != nil {
			return nil, fmt.Errorf("opening sqlite: %w", err)
		}
		// One connection: SQLite runs one write at a time, and writers that
		// wait in SQLite's busy handler sleep up to 100 ms between tries,
		// while waiters for database/sql's one connection are handed it the
		// moment it is free. River's SQLite driver asks for the same.
		sqldb.SetMaxOpenConns(1)
		db = bun.NewDB(sqldb, sqlitedialect.New())
	case "postgres":
		sqldb, err = sql.Open("pgx", o.URL)
		if err != nil {
			return nil, fmt.Errorf("opening postgres: %w", err)
		}
		sqldb.SetMaxOpenConns(20)
		sqldb.SetConnMaxIdleTime(5 * time.Minute)
		db = bun.NewDB(sqldb, pgdialect.New())
	default:
		return nil, fmt.Errorf("unknown database driver %q", o.Driver)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database unreachable: %w", err)
	}
	s := &Store{DB: db, Driver: o.Driver, log: o.Logger}
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	if o.Driver == "sqlite" {
		// Checkpoints run on a connection of their own: on the hub's one
		// connection, a checkpoint's fsync would hold up every commit.
		s.checkpointDB, err = sql.Open("sqlite", sqliteDSN(o.SQLitePath))
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("opening sqlite for checkpoints: %w", err)
		}
		s.checkpointDB.SetMaxOpenConns(1)
		ctx, cancel := context.WithCancel(context.Background())
		s.stopCheckpoints = cancel
		s.checkpointsDone = make(chan struct{})
		go s.checkpointLoop(ctx)
	}
	return s, nil
}

// checkpointLoop copies the SQLite write-ahead log back into the database
// file outside of any request's commit. PASSIVE never blocks writers.
func (s *Store) checkpointLoop(ctx context.Context) {
	defer close(s.checkpointsDone)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var lastWarned time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, err := s.checkpointDB.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
			// A failing checkpoint lets the write-ahead log grow: say so,
			// but once a minute at most.
			if err != nil && ctx.Err() == nil && time.Since(lastWarned) > time.Minute {
				s.log.Warn("SQLite checkpoint failed; the write-ahead log grows until one succeeds", "error", err)
				lastWarned = time.Now()
			}
		}
	}
}

func sqliteDSN(path string) string {
	q := url.Values{}
	// wal_autocheckpoint(0): a checkpoint (and its fsync) would otherwise run
	// inside whichever commit crosses the threshold, stalling every webhook
	// waiting on that commit; Store checkpoints in the background instead.
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(1)", "wal_autocheckpoint(0)"} {
		q.Add("_pragma", p)
	}
	// BEGIN IMMEDIATE: a write transaction takes the write lock up front
	// instead of failing with SQLITE_BUSY when it upgrades from a read.
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// Close stops background work and closes the database, truncating the
// SQLite write-ahead log.
func (s *Store) Close() error {
	if s.stopCheckpoints != nil {
		s.stopCheckpoints()
		<-s.checkpointsDone
		s.checkpointDB.Exec("PRAGMA wal_checkpoint(TRUNCATE)") //nolint:errcheck // best effort at shutdown
		s.checkpointDB.Close()
	}
	return s.DB.Close()
}

// Migrate applies every pending migration. Concurrent hubs on one
// PostgreSQL serialise on bun's migration lock.
func (s *Store) Migrate(ctx context.Context) error {
	sub, err := s.migrations()
	if err != nil {
		return err
	}
	return s.migrateFS(ctx, sub)
}

// migrations is the migration files of the store's driver.
func (s *Store) migrations() (fs.FS, error) {
	sub, err := fs.Sub(migrationFiles, "migrations/"+s.Driver)
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", s.Driver, err)
	}
	return sub, nil
}

// migrateFS applies the pending migrations of sub.
func (s *Store) migrateFS(ctx context.Context, sub fs.FS) error {
	ms := migrate.NewMigrations()
	if err := ms.Discover(sub); err != nil {
		return fmt.Errorf("discovering migrations: %w", err)
	}
	m := migrate.NewMigrator(s.DB, ms, migrate.WithTableName("hub_migrations"), migrate.WithLocksTableName("hub_migration_locks"))
	if err := m.Init(ctx); err != nil {
		return fmt.Errorf("initialising migrations: %w", err)
	}
	if s.Driver == "postgres" {
		if err := m.Lock(ctx); err != nil {
			return fmt.Errorf("locking migrations: %w", err)
		}
		defer m.Unlock(context.WithoutCancel(ctx)) //nolint:errcheck // best effort; the lock row is removed on success
	}
	if _, err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrating: %w", err)
	}
	return nil
}
