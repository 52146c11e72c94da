// Package storetest gives tests real databases: a fresh SQLite file or a
// fresh PostgreSQL database per test, dropped when the test ends.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/uptrace/bun"
)

// PostgresEnv names the admin URL of the test PostgreSQL server.
const PostgresEnv = "HUB_TEST_POSTGRES_URL"

// Backends lists the drivers to test: sqlite always, postgres when
// HUB_TEST_POSTGRES_URL is set. In CI (CI set) a missing URL fails the test.
func Backends(t testing.TB) []string {
	t.Helper()
	if os.Getenv(PostgresEnv) == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set in CI: the PostgreSQL half of the suite would not run", PostgresEnv)
		}
		t.Logf("%s unset: PostgreSQL cases skipped", PostgresEnv)
		return []string{"sqlite"}
	}
	return []string{"sqlite", "postgres"}
}

// PostgresURL creates an empty database and returns its URL.
func PostgresURL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(PostgresEnv)
	if admin == "" {
		t.Skipf("%s unset", PostgresEnv)
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "aurora_test_" + hex.EncodeToString(b)
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		db.Close()
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		db.Close()
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Options returns store options for a fresh database of driver.
func Options(t testing.TB, driver string) store.Options {
	t.Helper()
	if driver == "postgres" {
		return store.Options{Driver: "postgres", URL: PostgresURL(t)}
	}
	return store.Options{Driver: "sqlite", SQLitePath: filepath.Join(t.TempDir(), "hub.db")}
}

// Open returns a migrated store on a fresh database of driver.
func Open(t testing.TB, driver string) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, Options(t, driver))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// CountQueries counts, from now on, the statements run through db whose
// text match accepts. Bun's hooks see them; SQLite statements the store
// runs on the connection's prepared statements (store.Select, store.Exec)
// pass by, so counts are meaningful on PostgreSQL.
func CountQueries(db *bun.DB, match func(query string) bool) *atomic.Int64 {
	h := &queryCounter{match: match}
	db.AddQueryHook(h)
	return &h.n
}

type queryCounter struct {
	match func(string) bool
	n     atomic.Int64
}

func (h *queryCounter) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	return ctx
}

func (h *queryCounter) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	if h.match(e.Query) {
		h.n.Add(1)
	}
}
