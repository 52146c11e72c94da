package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// SQLConn is the database/sql handle under a Bun database, transaction or
// connection.
type SQLConn interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// SQLiteConn returns db's database/sql handle when db is SQLite, and nil
// otherwise. A hot statement run through it keeps its arguments as
// arguments (Bun would inline them), so its text never changes and the
// connection keeps it compiled (see the statement cache).
func SQLiteConn(db bun.IDB) SQLConn {
	if db.Dialect().Name() != dialect.SQLite {
		return nil
	}
	switch d := db.(type) {
	case bun.Tx:
		return d.Tx
	case *bun.Tx:
		return d.Tx
	case *bun.DB:
		return d.DB
	case bun.Conn:
		return d.Conn
	}
	return nil
}

// scanOne scans q's one row into its model and reports whether there was
// one: a missing row is an answer, not an error.
func scanOne(ctx context.Context, q *bun.SelectQuery, doing string) (bool, error) {
	err := q.Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s: %w", doing, err)
	}
	return true, nil
}

// upsert inserts model (a row or a slice of rows); a row whose key columns
// are taken instead updates cols of the stored row from the new one. with
// may narrow the update (a WHERE on the conflict) before it runs.
func upsert(ctx context.Context, db bun.IDB, model any, key string, cols []string, doing string, with ...func(*bun.InsertQuery) *bun.InsertQuery) error {
	q := db.NewInsert().Model(model).On("CONFLICT (" + key + ") DO UPDATE")
	for _, c := range cols {
		q = q.Set(c + " = EXCLUDED." + c)
	}
	for _, w := range with {
		q = w(q)
	}
	if _, err := q.Exec(ctx); err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	return nil
}

// Exec runs q, whose placeholders are "?", with args: on SQLite as a
// statement the connection keeps compiled (its text is the same every
// time), elsewhere through Bun, which writes the values into the text.
// Times are written as Bun writes them on both, so comparisons with stored
// times hold.
func Exec(ctx context.Context, db bun.IDB, q string, args ...any) (sql.Result, error) {
	if ex := SQLiteConn(db); ex != nil {
		return ex.ExecContext(ctx, q, sqliteArgs(db, args)...)
	}
	return db.ExecContext(ctx, q, args...)
}

// Select runs the query q (see Exec) and scans its rows into dst, a
// pointer to a slice of a Bun model.
func Select(ctx context.Context, db bun.IDB, dst any, q string, args ...any) error {
	ex := SQLiteConn(db)
	if ex == nil {
		return db.NewRaw(q, args...).Scan(ctx, dst)
	}
	rows, err := ex.QueryContext(ctx, q, sqliteArgs(db, args)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return db.NewSelect().DB().ScanRows(ctx, rows, dst)
}

// sqliteArgs are args with times in Bun's text form (a copy when any is a
// time: the caller's slice is left as it is).
func sqliteArgs(db bun.IDB, args []any) []any {
	var out []any
	for i, a := range args {
		if t, ok := a.(time.Time); ok {
			if out == nil {
				out = slices.Clone(args)
			}
			out[i] = SQLiteTime(db, t)
		}
	}
	if out == nil {
		return args
	}
	return out
}

// SQLiteTime is t as Bun writes times into SQLite's text, for a statement
// that takes its values as arguments: every reader and comparison then
// sees one format (retention's cutoffs, correlation's windows).
func SQLiteTime(db bun.IDB, t time.Time) string {
	b := db.Dialect().AppendTime(nil, t)
	return string(b[1 : len(b)-1])
}
