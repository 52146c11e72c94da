package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"hash/maphash"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// postgresConns is how many connections to PostgreSQL one hub opens at
// most, and keeps.
const postgresConns = 20

// postgresStatements is how many prepared statements each connection keeps
// (pgx's default is 512).
const postgresStatements = 16

// openPostgres opens the pool of connections to PostgreSQL at dsn (a URL
// or key=value string, as pgx reads it).
//
// Bun writes every value into a statement's text, so nearly every
// statement the hub queries with is new to the server, and pgx prepared
// and kept each (512 a connection, on the server too, each one round trip
// more); with the connections kept, a storm's drain held 330 MB in the hub.
// River's statements, the ones that repeat, stay prepared in a small cache:
// without any (default_query_exec_mode=describe_exec) every query took that
// round trip, and a delivery cost the hub 30% more CPU. A query without
// arguments (all of Bun's) is prepared only the second time its text is
// seen (oneRoundTripConnector). A dsn that sets statement_cache_capacity or
// default_query_exec_mode keeps pgx's own choice.
func openPostgres(dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn) // its errors leave the password out
	if err != nil {
		return nil, fmt.Errorf("opening postgres: %w", err)
	}
	var db *sql.DB
	if setsStatementCache(dsn) {
		db = stdlib.OpenDB(*cfg)
	} else {
		cfg.StatementCacheCapacity = postgresStatements
		db = sql.OpenDB(oneRoundTripConnector{stdlib.GetConnector(*cfg)})
	}
	// As many kept idle as may be open: database/sql keeps two by default,
	// and under load each statement beyond them connected anew (a server
	// process, its authentication, its statement cache).
	db.SetMaxOpenConns(postgresConns)
	db.SetMaxIdleConns(postgresConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

// setsStatementCache reports whether dsn chooses how statements are cached
// (statement_cache_capacity or default_query_exec_mode). pgx.ParseConfig
// takes both out of the settings it reads and leaves no trace of whether
// a value was given; pgconn's parser, which it builds on, keeps every
// setting it does not use itself, by name.
func setsStatementCache(dsn string) bool {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return false // pgx.ParseConfig accepted it; never reached
	}
	_, capacity := cfg.RuntimeParams["statement_cache_capacity"]
	_, mode := cfg.RuntimeParams["default_query_exec_mode"]
	return capacity || mode
}

// oneRoundTripConnector hands out pgx's connections that prepare a query
// without arguments only the second time they see its text.
//
// In pgx's default mode a query is first prepared (Parse, Describe, Sync:
// one round trip and a named statement on the server) and then executed (a
// second round trip), so that its parameters' types are known and the
// statement, kept, is neither parsed nor planned again the next time. Bun
// writes every value into the text, so most of its statements are new each
// time: they cost two round trips and a statement evicted from the cache
// soon after. Its statements without values (the pending-events read, say)
// repeat, and gain from being kept. So, as PgJDBC's prepareThreshold does,
// a text is sent unprepared the first time (Parse, Bind, Describe, Execute
// and Sync together: one round trip) and prepared from the second on.
// River's queries, with arguments, are prepared as before; an Exec without
// arguments pgx already sends in one round trip.
type oneRoundTripConnector struct{ driver.Connector }

func (c oneRoundTripConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	pc, ok := conn.(*stdlib.Conn)
	if !ok {
		return conn, nil // not pgx's: nothing to change
	}
	return &oneRoundTripConn{Conn: pc, seen: make(map[uint64]struct{})}, nil
}

// oneRoundTripConn is a pgx connection (every interface database/sql looks
// for is *stdlib.Conn's) whose QueryContext sends a query without arguments
// unprepared unless its text was queried on the connection before.
// database/sql uses a connection from one goroutine at a time, so seen
// needs no lock.
type oneRoundTripConn struct {
	*stdlib.Conn
	// seen holds the hashes of the texts queried without arguments, up to
	// maxSeen (then it starts over): a collision only prepares a text
	// the first time.
	seen map[uint64]struct{}
}

const maxSeen = 4096

var seenSeed = maphash.MakeSeed()

// unprepared is the argument list pgx reads as "this query's mode": pgx
// takes a leading pgx.QueryExecMode as an option, not a parameter.
var unprepared = []driver.NamedValue{{Ordinal: 1, Value: pgx.QueryExecModeExec}}

func (c *oneRoundTripConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) == 0 {
		h := maphash.String(seenSeed, query)
		if _, ok := c.seen[h]; !ok {
			if len(c.seen) >= maxSeen {
				clear(c.seen)
			}
			c.seen[h] = struct{}{}
			args = unprepared
		}
	}
	return c.Conn.QueryContext(ctx, query, args)
}
