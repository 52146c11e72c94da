package store

import (
	"database/sql"
	"fmt"
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
// round trip, and a delivery cost the hub 30% more CPU. A dsn that sets
// statement_cache_capacity or default_query_exec_mode keeps its choice.
func openPostgres(dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn) // its errors leave the password out
	if err != nil {
		return nil, fmt.Errorf("opening postgres: %w", err)
	}
	if !setsStatementCache(dsn) {
		cfg.StatementCacheCapacity = postgresStatements
	}
	db := stdlib.OpenDB(*cfg)
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
