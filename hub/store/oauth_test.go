package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
)

func TestOAuthStates(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			s := storetest.Open(t, driver)
			var winner atomic.Value
			now := time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)
			for _, st := range []*store.OAuthState{
				{StateHash: "live", Provider: "pagerduty", UserID: "u1", OrgID: "o1", Verifier: []byte{1, 2}, RedirectURI: "http://h/cb", CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)},
				{StateHash: "old", Provider: "pagerduty", UserID: "u1", Verifier: []byte{3}, RedirectURI: "http://h/cb", CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute)},
			} {
				if err := s.CreateOAuthState(ctx, st); err != nil {
					t.Fatal(err)
				}
			}
			if n, err := s.PruneOAuthStates(ctx, now); err != nil || n != 1 {
				t.Fatalf("prune = %d, %v", n, err)
			}
			if _, err := s.BindOAuthState(ctx, "old", "browser", now); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("pruned state bound: %v", err)
			}
			if _, err := s.ConsumeOAuthState(ctx, "old", "browser"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("pruned state consumed: %v", err)
			}
			// Not bound yet: nothing consumes it.
			if _, err := s.ConsumeOAuthState(ctx, "live", ""); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("unbound state consumed: %v", err)
			}
			// Expired at now: not bound.
			if _, err := s.BindOAuthState(ctx, "live", "browser", now.Add(10*time.Minute)); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("expired state bound: %v", err)
			}
			// Of concurrent binders exactly one binds it.
			var binds atomic.Int32
			var wg sync.WaitGroup
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					st, err := s.BindOAuthState(ctx, "live", fmt.Sprintf("browser-%d", i), now)
					switch {
					case err == nil:
						if st.BrowserHash != fmt.Sprintf("browser-%d", i) || st.UserID != "u1" {
							t.Errorf("bound %+v", st)
						}
						binds.Add(1)
						winner.Store(st.BrowserHash)
					case !errors.Is(err, store.ErrNotFound):
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if binds.Load() != 1 {
				t.Fatalf("%d binders bound the state", binds.Load())
			}
			browser := winner.Load().(string)
			// Another browser's secret consumes nothing.
			if _, err := s.ConsumeOAuthState(ctx, "live", "browser-other"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("consumed with another browser: %v", err)
			}
			// Of concurrent consumers exactly one gets the state.
			var wins atomic.Int32
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					st, err := s.ConsumeOAuthState(ctx, "live", browser)
					switch {
					case err == nil:
						if st.UserID != "u1" || st.OrgID != "o1" || string(st.Verifier) != "\x01\x02" || !st.ExpiresAt.Equal(now.Add(10*time.Minute)) {
							t.Errorf("consumed %+v", st)
						}
						wins.Add(1)
					case !errors.Is(err, store.ErrNotFound):
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Fatalf("%d consumers got the state", wins.Load())
			}
		})
	}
}
