package store_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/hashicorp/go-hclog"
	"github.com/uptrace/bun"
)

// TestUrgentTransactionGoesFirstOnSQLite: when SQLite's one connection is
// freed, an inbox commit (urgent) that waits for it runs before background
// transactions (the apply worker's) that were waiting longer. database/sql
// hands a freed connection to a random waiter, so with eight background
// waiters the inbox commit, which webhooks' answers wait on, used to run
// first only about one time in nine.
func TestUrgentTransactionGoesFirstOnSQLite(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Driver: "sqlite", SQLitePath: filepath.Join(t.TempDir(), "hub.db"), Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetMaxDefer(time.Minute) // a slow machine must not let them through

	var (
		mu    sync.Mutex
		order []string
		wg    sync.WaitGroup
	)
	ran := func(who string) func(context.Context, bun.Tx) error {
		return func(ctx context.Context, tx bun.Tx) error {
			mu.Lock()
			order = append(order, who)
			mu.Unlock()
			_, err := tx.ExecContext(ctx, "SELECT 1")
			return err
		}
	}
	held, release := make(chan struct{}), make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := st.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			close(held)
			<-release
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	}()
	<-held
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := st.InTxDeferring(ctx, ran("background")); err != nil {
				t.Error(err)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond) // the background ones queue for the connection
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := st.InTxUrgent(ctx, ran("urgent")); err != nil {
			t.Error(err)
		}
	}()
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if len(order) != 9 || order[0] != "urgent" {
		t.Fatalf("transactions ran in the order %v, want the urgent one first and all nine", order)
	}
}
