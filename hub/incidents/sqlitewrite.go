package incidents

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// On SQLite, ApplyBatch writes each row with one statement whose values are
// arguments: its text is the same every time, so the store's connection
// keeps it compiled, where a multi-row statement with the values inlined
// (as Bun writes it) was parsed and compiled again for every chunk.

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// sqliteExecer returns db's database/sql handle when db is SQLite.
func sqliteExecer(db bun.IDB) execer {
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

// insertStatements caches the statement text per row type and suffix.
var insertStatements sync.Map

type insertKey struct {
	typ    reflect.Type
	suffix string
}

// insertSQL is "INSERT INTO table AS alias (columns) VALUES (?, ...) suffix"
// for T's Bun model.
func insertSQL(db bun.IDB, typ reflect.Type, suffix string) string {
	k := insertKey{typ, suffix}
	if v, ok := insertStatements.Load(k); ok {
		return v.(string)
	}
	t := db.Dialect().Tables().Get(typ)
	cols := make([]string, len(t.Fields))
	marks := make([]string, len(t.Fields))
	for i, f := range t.Fields {
		cols[i], marks[i] = string(f.SQLName), "?"
	}
	q := fmt.Sprintf("INSERT INTO %s AS %s (%s) VALUES (%s) %s", t.SQLName, t.SQLAlias, strings.Join(cols, ", "), strings.Join(marks, ", "), suffix)
	insertStatements.Store(k, q)
	return q
}

// sqliteInsert writes rows (structs of one Bun model) one statement each.
func sqliteInsert[T any](ctx context.Context, db bun.IDB, ex execer, rows []*T, suffix string) error {
	typ := reflect.TypeFor[T]()
	q := insertSQL(db, typ, suffix)
	t := db.Dialect().Tables().Get(typ)
	args := make([]any, len(t.Fields))
	for _, r := range rows {
		v := reflect.ValueOf(r).Elem()
		for i, f := range t.Fields {
			args[i] = sqliteValue(db, f.Value(v))
		}
		if _, err := ex.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

var timeType = reflect.TypeFor[time.Time]()

// sqliteValue is v as the driver takes it, times written as Bun writes
// them (so every reader and comparison sees one format), nil pointers NULL.
func sqliteValue(db bun.IDB, v reflect.Value) any {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Type() == timeType {
		b := db.Dialect().AppendTime(nil, v.Interface().(time.Time))
		return string(b[1 : len(b)-1])
	}
	return v.Interface()
}
