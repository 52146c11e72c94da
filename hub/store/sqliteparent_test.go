package store_test

import (
	"context"
	"database/sql"
	"slices"
	"testing"

	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/uptrace/bun"
)

// TestSQLiteParentWithoutForeignKey: on SQLite, attaching an incident to
// its parent rewrote all six index entries of the child (incidents
// referenced itself through a foreign key, so every UPDATE needing the
// key's check deleted and re-inserted every index entry). The migration
// removes that key from an existing database, keeping its rows; the
// statement then touches only the parent index. Its Down puts the key
// back, and refuses a definition it does not recognise.
func TestSQLiteParentWithoutForeignKey(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, storetest.Options(t, "sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.MigrateBefore(ctx, "20261202100000"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ id, parent any }{{"p1", nil}, {"c1", "p1"}} {
		if _, err := s.Bun().DB.ExecContext(ctx, "INSERT INTO incidents (id, provider, owner_kind, owner_id, external_id, status, severity,"+
			" alert_fired_at, started_at, created_at, updated_at, parent_incident_id)"+
			" VALUES (?, 'pagerduty', 'user', 'u1', ?, 'investigating', 'high', '2026-12-02', '2026-12-02', '2026-12-02', '2026-12-02', ?)",
			r.id, r.id, r.parent); err != nil {
			t.Fatal(err)
		}
	}
	if got := rewrittenIndexes(t, s.Bun()); got != 6 {
		t.Fatalf("before the migration, setting a parent rewrites %d index entries, want the 6 this test reproduces", got)
	}

	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, db := range []*bun.DB{s.Bun(), s.Reads()} {
		if got := foreignKeys(t, db); !slices.Equal(got, []string{"merged_into_incident_id"}) {
			t.Errorf("foreign keys of incidents: %v, want merged_into_incident_id's only", got)
		}
	}
	if got := rewrittenIndexes(t, s.Bun()); got != 1 {
		t.Errorf("after the migration, setting a parent rewrites %d index entries, want 1 (incidents_parent)", got)
	}
	var parent sql.NullString
	if err := s.Bun().DB.QueryRowContext(ctx, "SELECT parent_incident_id FROM incidents WHERE id = 'c1'").Scan(&parent); err != nil || parent.String != "p1" {
		t.Errorf("the child's parent after the migration: %v %v", parent, err)
	}
	var check string
	if err := s.Bun().DB.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check: %q %v", check, err)
	}

	if err := s.UndoParentWithoutForeignKey(ctx); err != nil {
		t.Fatal(err)
	}
	if got := foreignKeys(t, s.Bun()); !slices.Equal(got, []string{"merged_into_incident_id", "parent_incident_id"}) {
		t.Errorf("foreign keys after Down: %v", got)
	}
	if err := s.UndoParentWithoutForeignKey(ctx); err == nil {
		t.Error("Down on a definition without the column it edits: no error")
	}
	if got := foreignKeys(t, s.Bun()); !slices.Equal(got, []string{"merged_into_incident_id", "parent_incident_id"}) {
		t.Errorf("foreign keys after a refused Down: %v", got)
	}
}

// foreignKeys lists the incidents columns that have a foreign key.
func foreignKeys(t *testing.T, db *bun.DB) []string {
	t.Helper()
	rows, err := db.DB.QueryContext(context.Background(), `SELECT "from" FROM pragma_foreign_key_list('incidents') ORDER BY "from"`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// rewrittenIndexes counts the index entries SQLite's program for the
// attach statement deletes (each is re-inserted).
func rewrittenIndexes(t *testing.T, db *bun.DB) int {
	t.Helper()
	rows, err := db.DB.QueryContext(context.Background(), "EXPLAIN UPDATE incidents SET parent_incident_id = ?, correlated_alert_count = 0, updated_at = ? WHERE id = ?", "p1", "2026-12-02", "c1")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		if op, _ := vals[1].(string); op == "IdxDelete" {
			n++
		}
	}
	return n
}
