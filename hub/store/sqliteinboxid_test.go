package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
)

// TestSQLiteInboxWithoutAutoincrement: every webhook recorded on SQLite
// also wrote webhook_inbox's row of sqlite_sequence (AUTOINCREMENT). The
// migration takes the keyword off an existing database, keeping its rows
// and ids; new rows then continue above the largest id and sqlite_sequence
// is not written. Its Down puts the keyword back.
func TestSQLiteInboxWithoutAutoincrement(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, storetest.Options(t, "sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.MigrateBefore(ctx, "20261203100000"); err != nil {
		t.Fatal(err)
	}
	db := s.Bun().DB
	record := func(ids ...string) []int64 {
		t.Helper()
		var events []store.InboxEvent
		for _, id := range ids {
			events = append(events, store.InboxEvent{Provider: "pagerduty", ConnectionID: "c1", OwnerKind: "user", OwnerID: "u1",
				EventID: id, EventType: "incident.triggered", Event: "{}", ReceivedAt: time.Now()})
		}
		ins, err := store.InsertInbox(ctx, s.Bun(), events)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, e := range ins {
			out = append(out, e.ID)
		}
		return out
	}
	sequence := func() string {
		t.Helper()
		var n int
		var seq int64
		if err := db.QueryRowContext(ctx, "SELECT count(*), coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'webhook_inbox'").Scan(&n, &seq); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d rows, seq %d", n, seq)
	}
	definition := func() string {
		t.Helper()
		var sql string
		if err := db.QueryRowContext(ctx, "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'webhook_inbox'").Scan(&sql); err != nil {
			t.Fatal(err)
		}
		return sql
	}

	if got := record("e1", "e2", "e3"); fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("ids before the migration: %v", got)
	}
	if got := sequence(); got != "1 rows, seq 3" {
		t.Fatalf("before the migration, sqlite_sequence has %s: the reproduction expects the row every insert writes", got)
	}

	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if d := definition(); strings.Contains(d, "AUTOINCREMENT") || !strings.Contains(d, "INTEGER PRIMARY KEY,") {
		t.Errorf("definition after the migration:\n%s", d)
	}
	if got := sequence(); got != "0 rows, seq 0" {
		t.Errorf("after the migration, sqlite_sequence has %s for the inbox, want none", got)
	}
	if got := record("e4", "e5"); fmt.Sprint(got) != "[4 5]" {
		t.Errorf("ids after the migration: %v, want [4 5]", got)
	}
	if got := sequence(); got != "0 rows, seq 0" {
		t.Errorf("inserts after the migration wrote sqlite_sequence: %s", got)
	}
	var n int
	if err := s.Reads().DB.QueryRowContext(ctx, "SELECT count(*) FROM webhook_inbox").Scan(&n); err != nil || n != 5 {
		t.Errorf("rows seen by a read connection: %d %v, want 5", n, err)
	}
	var check string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check: %q %v", check, err)
	}

	if err := s.UndoInboxWithoutAutoincrement(ctx); err != nil {
		t.Fatal(err)
	}
	if d := definition(); !strings.Contains(d, "INTEGER PRIMARY KEY AUTOINCREMENT,") {
		t.Errorf("definition after Down:\n%s", d)
	}
	if got := record("e6"); fmt.Sprint(got) != "[6]" {
		t.Errorf("id after Down: %v, want [6]", got)
	}
	if got := sequence(); got != "1 rows, seq 6" {
		t.Errorf("after Down, sqlite_sequence has %s", got)
	}
	if err := s.UndoInboxWithoutAutoincrement(ctx); err == nil {
		t.Error("Down on a definition without the column it edits: no error")
	}
}
