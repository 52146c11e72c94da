package apilimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/apilimit"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
)

// TestLimiter drives a bucket of 60 calls a minute (one a second), burst 5,
// in memory and shared through PostgreSQL. It asserts the waits the limiter
// computes, never sleeps: the tolerance covers the refill while it runs.
func TestLimiter(t *testing.T) {
	for _, backend := range storetest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			var l *apilimit.Limiter
			if backend == "postgres" {
				st := storetest.Open(t, "postgres")
				l = apilimit.NewShared(st.Bun(), 60, 5)
			} else {
				l = apilimit.NewMemory(60, 5)
			}
			ctx := context.Background()
			steps := []struct {
				name   string
				do     func() (time.Duration, error)
				want   time.Duration
				within time.Duration
			}{
				{"the burst goes at once", func() (time.Duration, error) { return l.Wait(ctx, "a", 5, 0) }, 0, 0},
				{"then three more are 3s away", func() (time.Duration, error) { return l.Wait(ctx, "a", 3, time.Second) }, 3 * time.Second, time.Second},
				{"a refused wait took nothing", func() (time.Duration, error) { return l.Wait(ctx, "a", 3, time.Second) }, 3 * time.Second, time.Second},
				{"calls beyond the estimate are owed", func() (time.Duration, error) {
					if err := l.Charge(ctx, "a", 10); err != nil {
						return 0, err
					}
					return l.Wait(ctx, "a", 1, 0)
				}, 11 * time.Second, time.Second},
				{"another credential has its own bucket", func() (time.Duration, error) { return l.Wait(ctx, "b", 1, 0) }, 0, 0},
				{"a 429 pauses the credential", func() (time.Duration, error) {
					if err := l.Pause(ctx, "b", 30*time.Second); err != nil {
						return 0, err
					}
					return l.Wait(ctx, "b", 1, time.Second)
				}, 31 * time.Second, time.Second},
			}
			for _, s := range steps {
				got, err := s.do()
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				if got < s.want-s.within || got > s.want+s.within {
					t.Errorf("%s: come back after %s, want %s ± %s", s.name, got, s.want, s.within)
				}
			}
		})
	}
}

func TestNilLimiterNeverWaits(t *testing.T) {
	l := apilimit.NewMemory(0, 5)
	if l != nil {
		t.Fatal("a limit of 0 should switch pacing off")
	}
	ctx := context.Background()
	if d, err := l.Wait(ctx, "a", 1000, 0); d != 0 || err != nil {
		t.Errorf("Wait = %s, %v", d, err)
	}
	if err := l.Charge(ctx, "a", 5); err != nil {
		t.Error(err)
	}
	if err := l.Pause(ctx, "a", time.Minute); err != nil {
		t.Error(err)
	}
}
