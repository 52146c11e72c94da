package store_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/hashicorp/go-hclog"
	"github.com/uptrace/bun"
)

// TestReadsDoNotWaitForTheWriter: on SQLite the API's reads have
// connections of their own. While a write transaction holds the hub's one
// connection, a read is answered at once, from the last commit (the
// transaction's uncommitted row is not seen), and a write through the
// read handle is refused.
func TestReadsDoNotWaitForTheWriter(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Driver: "sqlite", SQLitePath: filepath.Join(t.TempDir(), "hub.db"), Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Bun().ExecContext(ctx, "CREATE TABLE notes (body TEXT)"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Bun().ExecContext(ctx, "INSERT INTO notes VALUES ('committed')"); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	holding := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- st.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO notes VALUES ('uncommitted')"); err != nil {
				return err
			}
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	readCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var bodies []string
	if err := st.Reads().NewSelect().Table("notes").Column("body").Scan(readCtx, &bodies); err != nil {
		t.Fatalf("reading while a write transaction holds the writer: %v", err)
	}
	if strings.Join(bodies, ",") != "committed" {
		t.Errorf("read %v, want only the committed row", bodies)
	}
	if _, err := st.Reads().ExecContext(readCtx, "INSERT INTO notes VALUES ('through reads')"); err == nil {
		t.Error("a write through Reads succeeded; want it refused (query_only)")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var n int
	if err := st.Reads().NewSelect().Table("notes").ColumnExpr("count(*)").Scan(ctx, &n); err != nil || n != 2 {
		t.Fatalf("after the commit: %d rows (%v), want 2", n, err)
	}
}

// TestReadTxReadsOneMoment: the statements of a ReadTx read the database
// as it was when the first of them ran, whatever commits meanwhile; the
// next ReadTx sees the commit.
func TestReadTxReadsOneMoment(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			st := storetest.Open(t, driver)
			if _, err := st.Bun().ExecContext(ctx, "CREATE TABLE notes (body TEXT)"); err != nil {
				t.Fatal(err)
			}
			count := func(db bun.IDB) int {
				var n int
				if err := db.NewSelect().Table("notes").ColumnExpr("count(*)").Scan(ctx, &n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			err := st.ReadTx(ctx, func(ctx context.Context, tx bun.Tx) error {
				before := count(tx)
				if _, err := st.Bun().ExecContext(ctx, "INSERT INTO notes VALUES ('meanwhile')"); err != nil {
					return err
				}
				if after := count(tx); after != before {
					t.Errorf("inside one ReadTx: %d rows, then %d after another connection's commit", before, after)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			err = st.ReadTx(ctx, func(ctx context.Context, tx bun.Tx) error {
				if n := count(tx); n != 1 {
					t.Errorf("the next ReadTx reads %d rows, want the commit's 1", n)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
