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
}

// Options say which database to open.
type Options struct {
	// Driver is "sqlite" or "postgres".
	Driver string
	// SQLitePath is the database file (sqlite).
	SQLitePath string
	// URL is the postgres:// URL (postgres).
	URL string
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
		// One writer at a time is SQLite's rule; a small pool serves readers
		// in WAL mode while writes queue on busy_timeout.
		sqldb.SetMaxOpenConns(4)
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
	return &Store{DB: db, Driver: o.Driver}, nil
}

func sqliteDSN(path string) string {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	// BEGIN IMMEDIATE: a write transaction takes the write lock up front
	// instead of failing with SQLITE_BUSY when it upgrades from a read.
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// Close closes the database.
func (s *Store) Close() error { return s.DB.Close() }

// Migrate applies every pending migration. Concurrent hubs on one
// PostgreSQL serialise on bun's migration lock.
func (s *Store) Migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrationFiles, "migrations/"+s.Driver)
	if err != nil {
		return fmt.Errorf("migrations for %s: %w", s.Driver, err)
	}
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
