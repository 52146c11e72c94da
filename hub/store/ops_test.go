package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/hashicorp/go-hclog"
)

// TestReasonClassifiesDriverErrors classifies errors from real databases.
func TestReasonClassifiesDriverErrors(t *testing.T) {
	ctx := context.Background()
	type errCase struct {
		name   string
		err    func(t *testing.T) error
		reason string
	}
	cases := []errCase{
		{"sqlite read-only file", func(t *testing.T) error {
			st := storetest.Open(t, "sqlite")
			path := filepath.Join(t.TempDir(), "ro.db")
			if _, err := st.Bun().ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
				t.Fatal(err)
			}
			ro, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			_, err = ro.ExecContext(ctx, "INSERT INTO settings (owner_kind, owner_id, updated_at) VALUES ('user', 'u', CURRENT_TIMESTAMP)")
			return err
		}, store.ReasonReadOnly},
		{"sqlite constraint", func(t *testing.T) error {
			st := storetest.Open(t, "sqlite")
			_, err := st.Bun().ExecContext(ctx, "INSERT INTO hub_health (id, checked_at) VALUES (1, CURRENT_TIMESTAMP)")
			return err
		}, ""},
		{"context canceled", func(t *testing.T) error {
			st := storetest.Open(t, "sqlite")
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			_, err := st.Bun().ExecContext(cctx, "SELECT 1")
			return err
		}, ""},
		{"plain error", func(t *testing.T) error { return errors.New("boom") }, ""},
	}
	if os.Getenv(storetest.PostgresEnv) != "" {
		cases = append(cases,
			errCase{"postgres read-only transaction", func(t *testing.T) error {
				st := storetest.Open(t, "postgres")
				tx, err := st.Bun().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback()
				_, err = tx.ExecContext(ctx, "UPDATE hub_health SET checked_by = 'x'")
				return err
			}, store.ReasonReadOnly},
			errCase{"postgres unreachable", func(t *testing.T) error {
				_, err := store.Open(ctx, store.Options{Driver: "postgres", URL: "postgres://u:p@127.0.0.1:1/db?sslmode=disable&connect_timeout=2"})
				return err
			}, store.ReasonUnreachable},
			errCase{"postgres terminated session", func(t *testing.T) error {
				st := storetest.Open(t, "postgres")
				conn, err := st.Bun().Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				var pid int
				if err := conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
					t.Fatal(err)
				}
				if _, err := st.Bun().ExecContext(ctx, "SELECT pg_terminate_backend(?)", pid); err != nil {
					t.Fatal(err)
				}
				time.Sleep(100 * time.Millisecond)
				_, err = conn.ExecContext(ctx, "SELECT 1")
				return err
			}, store.ReasonUnreachable},
			errCase{"postgres constraint", func(t *testing.T) error {
				st := storetest.Open(t, "postgres")
				_, err := st.Bun().ExecContext(ctx, "INSERT INTO hub_health (id, checked_at) VALUES (1, now())")
				return err
			}, ""},
		)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err(t)
			if tc.reason != "" && err == nil {
				t.Fatal("no error")
			}
			if got := store.Reason(err); got != tc.reason {
				t.Fatalf("Reason(%v) = %q, want %q", err, got, tc.reason)
			}
			u := store.Unavailable(err)
			if (u != nil) != (tc.reason != "") {
				t.Fatalf("Unavailable = %v", u)
			}
			if u != nil && (u.Code != hub.EUnavailable || u.RetryAfter <= 0 || !errors.Is(u, err)) {
				t.Fatalf("Unavailable = %+v", u)
			}
		})
	}
}

func TestAvailabilityTracksStateChanges(t *testing.T) {
	var logs strings.Builder
	a := store.NewAvailability(testLogger(&logs))
	full := fakeFull(t)
	for range 3 {
		if err := a.Observe(full); hub.ErrorCode(err) != hub.EUnavailable {
			t.Fatalf("Observe = %v", err)
		}
	}
	if s := a.State(); s.Reason != store.ReasonFull || s.Failures != 3 {
		t.Fatalf("state = %+v", s)
	}
	a.OK()
	a.OK()
	if s := a.State(); s.Reason != "" {
		t.Fatalf("state after OK = %+v", s)
	}
	if n := strings.Count(logs.String(), "database unavailable"); n != 1 {
		t.Errorf("logged unavailable %d times, want once:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "database available again"); n != 1 {
		t.Errorf("logged recovery %d times, want once:\n%s", n, logs.String())
	}
}

// fakeFull returns a real SQLITE_FULL: a write beyond max_page_count.
func fakeFull(t *testing.T) error {
	st := storetest.Open(t, "sqlite")
	ctx := context.Background()
	conn, err := st.Bun().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var pages int
	if err := conn.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	_, err = conn.ExecContext(ctx, "CREATE TABLE filler AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 100000) SELECT i, randomblob(100) AS b FROM n")
	if store.Reason(err) != store.ReasonFull {
		t.Fatalf("filling the database: %v", err)
	}
	return err
}

func TestDamagedSQLiteIsRefusedAtStart(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(t *testing.T, f *os.File, size int64)
	}{
		{"header overwritten", func(t *testing.T, f *os.File, size int64) {
			f.WriteAt([]byte(strings.Repeat("garbage!", 8)), 0)
		}},
		{"pages overwritten", func(t *testing.T, f *os.File, size int64) {
			junk := []byte(strings.Repeat("\xde\xad\xbe\xef", 1024))
			for off := int64(8192); off < size; off += 3 * 4096 {
				f.WriteAt(junk, off)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "hub.db")
			st, err := store.Open(ctx, store.Options{Driver: "sqlite", SQLitePath: path})
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Bun().ExecContext(ctx, "CREATE TABLE filler AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 20000) SELECT i, randomblob(200) AS b FROM n"); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Bun().ExecContext(ctx, "CREATE INDEX filler_b ON filler (b)"); err != nil {
				t.Fatal(err)
			}
			st.Close()
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			fi, _ := f.Stat()
			tt.corrupt(t, f, fi.Size())
			f.Close()

			_, err = store.Open(ctx, store.Options{Driver: "sqlite", SQLitePath: path})
			if err == nil || !strings.Contains(err.Error(), "is damaged") || !strings.Contains(err.Error(), "refusing to start") {
				t.Fatalf("Open = %v, want a refusal naming the damage", err)
			}
			t.Log(err)
		})
	}
}

func TestSecondHubOnOneSQLiteFileIsRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hub.db")
	first, err := store.Open(ctx, store.Options{Driver: "sqlite", SQLitePath: path, Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.Open(ctx, store.Options{Driver: "sqlite", SQLitePath: path, Exclusive: true})
	if err == nil || !strings.Contains(err.Error(), "another hub is running") {
		t.Fatalf("second Open = %v", err)
	}
	first.Close()
	again, err := store.Open(ctx, store.Options{Driver: "sqlite", SQLitePath: path, Exclusive: true})
	if err != nil {
		t.Fatalf("Open after the first closed: %v", err)
	}
	again.Close()
}

func testLogger(w *strings.Builder) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: w, Level: hclog.Info})
}

// TestDamageFoundWhileRunningStays: a damaged page met after start (a real
// SQLITE_CORRUPT) keeps the database unavailable even when other writes
// succeed: only a restart, with its quick_check, clears it.
func TestDamageFoundWhileRunningStays(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hub.db")
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, "CREATE TABLE filler AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 20000) SELECT i, randomblob(200) AS b FROM n"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte(strings.Repeat("\xde\xad\xbe\xef", 1024)), 40*4096) // one leaf page
	f.Close()
	raw, err = sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	err = raw.QueryRowContext(ctx, "SELECT sum(length(b)) FROM filler").Scan(&n)
	if store.Reason(err) != store.ReasonDamaged {
		t.Fatalf("reading a damaged page: %v (reason %q)", err, store.Reason(err))
	}
	a := store.NewAvailability(nil)
	if hub.ErrorCode(a.Observe(err)) != hub.EUnavailable {
		t.Fatal("damage not classified unavailable")
	}
	a.OK() // another write succeeded
	if s := a.State(); s.Reason != store.ReasonDamaged {
		t.Fatalf("state after a successful write = %+v, want still damaged", s)
	}
}
