// Package store keeps the hub's state in SQL through Bun: SQLite (embedded,
// the default) or PostgreSQL, with versioned migrations for each.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
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
	db     *bun.DB
	Driver string
	// Avail is whether the database takes writes, as requests and probes
	// see it; every layer reports what it sees there.
	Avail *Availability

	// reads: on SQLite, read-only connections of their own (see Reads);
	// db on PostgreSQL.
	reads           *bun.DB
	checkpointDB    *sql.DB
	stopCheckpoints context.CancelFunc
	checkpointsDone chan struct{}
	// exclusiveCheckpoints counts the checkpoints run while holding the
	// hub's connection (each one holds up every commit meanwhile).
	exclusiveCheckpoints atomic.Int64
	// prio puts the inbox's commits first on SQLite's one connection (nil
	// on PostgreSQL).
	prio       *priority
	log        hclog.Logger
	sqlitePath string
	walLimit   int64
	lockFile   *os.File
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
	// WALLimit bounds the SQLite write-ahead log (default 64 MiB): from half
	// of it a checkpoint makes the next commit start the log over.
	WALLimit uint64
	// Exclusive takes a lock file beside the SQLite database, so a second
	// hub on the same file is refused: the one running is then the only
	// possible owner of unfinished jobs.
	Exclusive bool
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
		if err := privateSQLiteFiles(o.SQLitePath); err != nil {
			return nil, err
		}
		if o.WALLimit == 0 {
			o.WALLimit = 64 << 20
		}
		sqldb, err = sql.Open(sqliteCachedDriver, sqliteDSN(o.SQLitePath, o.WALLimit, writerCacheKiB))
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
		sqldb, err = openPostgres(o.URL)
		if err != nil {
			return nil, err
		}
		db = bun.NewDB(sqldb, pgdialect.New())
	default:
		return nil, fmt.Errorf("unknown database driver %q", o.Driver)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		if o.Driver == "sqlite" && Reason(err) == ReasonDamaged {
			return nil, damaged(o.SQLitePath, err.Error())
		}
		return nil, fmt.Errorf("database unreachable: %w", err)
	}
	s := &Store{db: db, reads: db, Driver: o.Driver, log: o.Logger, sqlitePath: o.SQLitePath, walLimit: int64(o.WALLimit)}
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	s.Avail = NewAvailability(s.log)
	if o.Driver == "sqlite" {
		if o.Exclusive {
			if s.lockFile, err = lockSQLite(o.SQLitePath); err != nil {
				db.Close()
				return nil, err
			}
		}
		if err := quickCheck(ctx, db.DB, o.SQLitePath); err != nil {
			s.closeLock()
			db.Close()
			return nil, err
		}
		// Checkpoints run on a connection of their own: on the hub's one
		// connection, a checkpoint's fsync would hold up every commit.
		s.checkpointDB, err = sql.Open("sqlite", sqliteDSN(o.SQLitePath, o.WALLimit, checkpointCacheKiB))
		if err != nil {
			s.closeLock()
			db.Close()
			return nil, fmt.Errorf("opening sqlite for checkpoints: %w", err)
		}
		s.checkpointDB.SetMaxOpenConns(1)
		readDB, err := sql.Open(sqliteCachedDriver, sqliteReadDSN(o.SQLitePath))
		if err != nil {
			s.checkpointDB.Close()
			s.closeLock()
			db.Close()
			return nil, fmt.Errorf("opening sqlite for reads: %w", err)
		}
		readDB.SetMaxOpenConns(readConns)
		readDB.SetMaxIdleConns(readConns) // each keeps its compiled statements
		s.reads = bun.NewDB(readDB, sqlitedialect.New())
		s.prio = newPriority()
		ctx, cancel := context.WithCancel(context.Background())
		s.stopCheckpoints = cancel
		s.checkpointsDone = make(chan struct{})
		go s.checkpointLoop(ctx)
	}
	return s, nil
}

// Bun returns the database handle. Each hub table has one owning package
// (see docs/architecture.md, "Persistence"): store for most, incidents,
// jobs, health and apilimit for theirs. Those owners get the handle here,
// once, when hub/app builds them; every other package calls the owners'
// functions and never queries. Where an owner's function takes a bun.IDB
// (so that a caller can run several owners in one transaction, see InTx),
// a caller passes Bun() or the transaction as an opaque handle.
func (s *Store) Bun() *bun.DB { return s.db }

// Reads returns the handle for what the API only reads (listing and
// showing incidents). On SQLite these are read-only connections of their
// own: in WAL mode they read the last commit while the hub's one writing
// connection goes on, so GET /incidents does not queue behind applying and
// correlating a storm, nor they behind it. On PostgreSQL it is Bun().
func (s *Store) Reads() *bun.DB { return s.reads }

// ReadTx runs fn in a read-only transaction on Reads: its statements read
// one moment of the database (a WAL snapshot on SQLite, REPEATABLE READ on
// PostgreSQL), so a page read in several statements never mixes an
// incident with rows written after it.
func (s *Store) ReadTx(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	return s.reads.RunInTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}, fn)
}

// readConns is how many SQLite connections serve Reads.
const readConns = 4

// InTx runs fn in one transaction, committed when fn returns nil and
// rolled back otherwise: the way a package that owns no table makes the
// functions of several owners (each taking a bun.IDB) commit together.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	return s.db.RunInTx(ctx, nil, fn)
}

// privateSQLiteFiles creates the database file 0600 before SQLite would
// create it 0644 (its default, whatever the umask), and makes an existing
// one and its -wal and -shm files 0600: they hold incidents, emails and
// webhook payloads. SQLite gives the -wal and -shm files it creates the
// database file's mode.
func privateSQLiteFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("creating database file: %w", err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("making %s private: %w", p, err)
		}
	}
	return nil
}

// Each SQLite connection keeps a page cache of its own, up to these sizes
// (SQLite's default is 2,000 KiB each). The writer's holds the pages of the
// inbox and the incidents being written; 1,000 KiB took 1 MB off a storm's
// peak with no measurable CPU. The readers list pages of incidents, which
// the OS's file cache serves about as fast, and a checkpoint copies the
// log's frames without the cache: with the default, the six connections'
// caches grew to several MB of the hub's memory in a storm (rounds 16 and
// 17 in docs/performance-history.md).
const (
	writerCacheKiB     = 1000
	readerCacheKiB     = 256
	checkpointCacheKiB = 64
)

func sqliteDSN(path string, walLimit uint64, cacheKiB int) string {
	q := url.Values{}
	// wal_autocheckpoint(0): a checkpoint (and its fsync) would otherwise run
	// inside whichever commit crosses the threshold, stalling every webhook
	// waiting on that commit; Store checkpoints in the background instead.
	// journal_size_limit: when a commit starts the log over, the file is cut
	// back to a quarter of the limit (SQLite otherwise keeps its peak size).
	pragmas := []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(1)", "wal_autocheckpoint(0)",
		fmt.Sprintf("journal_size_limit(%d)", walLimit/4), fmt.Sprintf("cache_size(-%d)", cacheKiB)}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	// BEGIN IMMEDIATE: a write transaction takes the write lock up front
	// instead of failing with SQLITE_BUSY when it upgrades from a read.
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// sqliteReadDSN opens the database for Reads: query_only, so nothing
// written there by mistake can bypass the writer's order, and deferred
// transactions (a read never takes the write lock).
func sqliteReadDSN(path string) string {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "query_only(1)", fmt.Sprintf("cache_size(-%d)", readerCacheKiB)} {
		q.Add("_pragma", p)
	}
	return "file:" + path + "?" + q.Encode()
}

// Close stops background work and closes the database, truncating the
// SQLite write-ahead log.
func (s *Store) Close() error {
	if s.reads != s.db {
		s.reads.Close()
	}
	if s.stopCheckpoints != nil {
		s.stopCheckpoints()
		<-s.checkpointsDone
		s.checkpointDB.Exec("PRAGMA wal_checkpoint(TRUNCATE)") //nolint:errcheck // best effort at shutdown
		s.checkpointDB.Close()
	}
	err := s.db.Close()
	s.closeLock()
	return err
}

// Migrate applies every pending migration. Concurrent hubs on one
// PostgreSQL serialise on bun's migration lock.
func (s *Store) Migrate(ctx context.Context) error {
	sub, err := s.migrations()
	if err != nil {
		return err
	}
	return s.migrateFS(ctx, sub, "")
}

// migrations is the migration files of the store's driver.
func (s *Store) migrations() (fs.FS, error) {
	sub, err := fs.Sub(migrationFiles, "migrations/"+s.Driver)
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", s.Driver, err)
	}
	return sub, nil
}

// goMigrations are the driver's migrations written in Go, applied in
// version order with its SQL files.
func (s *Store) goMigrations() []migrate.Migration {
	if s.Driver == "sqlite" {
		return []migrate.Migration{sqliteParentWithoutForeignKey, sqliteInboxWithoutAutoincrement}
	}
	return nil
}

// migrateFS applies the pending migrations of sub, and those written in
// Go older than before (all when before is empty).
func (s *Store) migrateFS(ctx context.Context, sub fs.FS, before string) error {
	ms := migrate.NewMigrations()
	if err := ms.Discover(sub); err != nil {
		return fmt.Errorf("discovering migrations: %w", err)
	}
	for _, m := range s.goMigrations() {
		if before == "" || m.Name < before {
			ms.Add(m)
		}
	}
	m := migrate.NewMigrator(s.db, ms, migrate.WithTableName("hub_migrations"), migrate.WithLocksTableName("hub_migration_locks"))
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

// Notify sends payloads, in order, on a PostgreSQL notification channel
// (pg_notify) in one statement: one round trip and one transaction however
// many there are (each notification in a transaction of its own cost the
// apply worker a round trip and a commit per updated incident). Within one
// transaction PostgreSQL delivers identical payloads once. Listeners are
// not the store's business (see hub/live).
func (s *Store) Notify(ctx context.Context, channel string, payloads ...string) error {
	if len(payloads) == 0 {
		return nil
	}
	// pg_notify is volatile, so it runs after the sort: in the array's order.
	const q = "SELECT pg_notify(?, t.p) FROM unnest(?::text[]) WITH ORDINALITY AS t(p, n) ORDER BY t.n"
	if _, err := s.db.ExecContext(ctx, q, channel, pgdialect.Array(payloads)); err != nil {
		return fmt.Errorf("notifying %s (%d): %w", channel, len(payloads), err)
	}
	return nil
}
