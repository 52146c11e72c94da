package incidents

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/sqlitedialect"
)

// On SQLite, ApplyBatch writes each row with one statement whose values are
// arguments: its text is the same every time, so the store's connection
// keeps it compiled, where a multi-row statement with the values inlined
// (as Bun writes it) was parsed and compiled again for every chunk.

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
func sqliteInsert[T any](ctx context.Context, db bun.IDB, ex store.SQLConn, rows []*T, suffix string) error {
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
		return store.SQLiteTime(db, v.Interface().(time.Time))
	}
	return v.Interface()
}

// sqliteLoadIncidents selects the incidents whose keys are in a JSON array
// of [provider, owner_kind, owner_id, external_id] (one text every time).
var sqliteLoadIncidents = sync.OnceValue(func() string {
	t := bun.NewDB(nil, sqlitedialect.New()).Table(reflect.TypeFor[incidentRow]())
	cols := make([]string, len(t.Fields))
	for i, f := range t.Fields {
		cols[i] = "i." + string(f.SQLName)
	}
	return "SELECT " + strings.Join(cols, ", ") + " FROM incidents AS i" +
		" WHERE (i.provider, i.owner_kind, i.owner_id, i.external_id) IN" +
		" (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]') FROM json_each(?))"
})

const sqliteLoadHeld = "SELECT e.incident_id, e.event_id FROM incident_events AS e" +
	" WHERE (e.incident_id, e.event_id) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))"

// loadSQLite is load's select of the batch's incidents on SQLite.
func (b *batch) loadSQLite(ctx context.Context, db bun.IDB, q store.SQLConn, rows *[]incidentRow) error {
	keys := make([][4]string, len(b.incs))
	for i, inc := range b.incs {
		keys[i] = [4]string{inc.key.provider, inc.key.ownerKind, inc.key.ownerID, inc.key.externalID}
	}
	arg, err := json.Marshal(keys)
	if err != nil {
		return err
	}
	rs, err := q.QueryContext(ctx, sqliteLoadIncidents(), string(arg))
	if err != nil {
		return fmt.Errorf("loading %d incidents: %w", len(keys), err)
	}
	defer rs.Close()
	if err := db.NewSelect().DB().ScanRows(ctx, rs, rows); err != nil {
		return fmt.Errorf("loading %d incidents: %w", len(keys), err)
	}
	return nil
}

// loadHeldSQLite marks which of pairs (incident id, event id) the
// incidents' timelines hold.
func (b *batch) loadHeldSQLite(ctx context.Context, q store.SQLConn, pairs []pair) error {
	list := make([][2]string, len(pairs))
	for i, k := range pairs {
		list[i] = [2]string{k.incidentID, k.name}
	}
	arg, err := json.Marshal(list)
	if err != nil {
		return err
	}
	rs, err := q.QueryContext(ctx, sqliteLoadHeld, string(arg))
	if err != nil {
		return fmt.Errorf("loading applied events of %d incidents: %w", len(b.incs), err)
	}
	defer rs.Close()
	for rs.Next() {
		var k pair
		if err := rs.Scan(&k.incidentID, &k.name); err != nil {
			return err
		}
		b.known[k] = true
	}
	return rs.Err()
}
