package store_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/hashicorp/go-hclog"
)

// TestSQLiteCheckpointHoldsConnectionOnlyForALargeLog: a checkpoint that
// holds the hub's one connection (RESTART) delays every webhook's commit,
// so it must run only when the log has grown past a quarter of
// HUB_SQLITE_WAL_LIMIT. Once the log has been that large, SQLite keeps the
// file at exactly a quarter (journal_size_limit) when it starts the log
// over; the loop took that file size for a full log and ran a RESTART
// every 50 ms under any write load (122 in 10 s at 1,000 webhooks/s).
func TestSQLiteCheckpointHoldsConnectionOnlyForALargeLog(t *testing.T) {
	const limit = 4 << 20
	ctx := context.Background()
	st := fillerStore(t, limit)
	db := st.Bun()
	insert := func(n int) {
		t.Helper()
		if _, err := db.ExecContext(ctx, "INSERT INTO filler (b) VALUES (?)", strings.Repeat("x", n)); err != nil {
			t.Fatal(err)
		}
	}

	// A burst takes the log past a quarter of the limit: the loop must copy
	// it back and start it over.
	for range 64 {
		insert(32 << 10)
	}
	deadline := time.Now().Add(10 * time.Second)
	for st.ExclusiveCheckpoints() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no RESTART checkpoint after a %d KiB log (limit %d KiB)", 2<<10, limit>>10)
		}
		time.Sleep(10 * time.Millisecond)
	}
	insert(100) // starts the log over: the file is cut back to a quarter of the limit

	// A light load (a few pages a commit, far below a quarter of the limit
	// in all) needs no checkpoint holding the connection.
	before := st.ExclusiveCheckpoints()
	for range 25 {
		insert(100)
		time.Sleep(20 * time.Millisecond)
	}
	if n := st.ExclusiveCheckpoints() - before; n > 1 {
		t.Errorf("%d checkpoints held the hub's connection during 0.5 s of light writes (log file %d bytes, limit %d): want at most 1", n, st.WALSize(), limit)
	}
}

// TestSQLiteIdleLargeLogIsTruncated: a burst that ends with the log file at
// more than half of HUB_SQLITE_WAL_LIMIT leaves no writer to start the log
// over, so the checkpoints must cut the file themselves. The loop ran a
// RESTART every 50 ms (each holding the hub's connection) and never got to
// its idle TRUNCATE: the idle log kept its size (webhooks'
// TestSQLiteWALStaysBounded failed, now and then, with 16.3 MiB left of a
// 32 MiB limit after 30 s, everything copied).
func TestSQLiteIdleLargeLogIsTruncated(t *testing.T) {
	const limit = 4 << 20
	ctx := context.Background()
	st := fillerStore(t, limit)
	db := st.Bun()
	// One commit of 3 MiB: the log file ends at three quarters of the limit.
	if _, err := db.ExecContext(ctx, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 96) INSERT INTO filler (b) SELECT ? FROM n", strings.Repeat("x", 32<<10)); err != nil {
		t.Fatal(err)
	}
	if size := st.WALSize(); size < limit/2 {
		t.Fatalf("the log file is %d bytes after the burst; the test needs at least half of %d", size, limit)
	}
	deadline := time.Now().Add(10 * time.Second)
	for st.WALSize() > 1<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("the idle log file is still %d bytes after 10 s (%d checkpoints held the connection)", st.WALSize(), st.ExclusiveCheckpoints())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fillerStore opens a SQLite store whose log limit is limit, with a table
// "filler (b TEXT)" to write to; it is closed when the test ends.
func fillerStore(t *testing.T, limit uint64) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Driver: "sqlite", SQLitePath: filepath.Join(t.TempDir(), "hub.db"), WALLimit: limit, Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Bun().ExecContext(ctx, "CREATE TABLE filler (b TEXT)"); err != nil {
		t.Fatal(err)
	}
	return st
}
