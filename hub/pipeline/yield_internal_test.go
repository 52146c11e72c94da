package pipeline

import (
	"context"
	"testing"
	"time"
)

// TestYieldToApply: early correlation waits for as long as the apply
// worker has a backlog, and no longer; without one it goes on at once when
// no webhook arrives, and rests ingestRest times as long as its work took
// while webhooks arrive (a steady stream slows it, never stops it).
func TestYieldToApply(t *testing.T) {
	ctx := context.Background()
	t.Run("backlog", func(t *testing.T) {
		w := NewWakeups("sqlite")
		w.behind.Store(true)
		done := make(chan error, 1)
		go func() { done <- w.yieldToApply(ctx, time.Now()) }()
		select {
		case err := <-done:
			t.Fatalf("returned (%v) while the apply worker was behind", err)
		case <-time.After(200 * time.Millisecond):
		}
		w.behind.Store(false)
		returns(t, done, "still waiting after the backlog was applied")
	})
	t.Run("backlog, cancelled", func(t *testing.T) {
		w := NewWakeups("sqlite")
		w.behind.Store(true)
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := w.yieldToApply(ctx, time.Now()); err == nil {
			t.Fatal("a cancelled wait returned no error")
		}
	})
	t.Run("webhooks arriving", func(t *testing.T) {
		w := NewWakeups("sqlite")
		w.SetIngestWindow(time.Hour)
		w.Committed()
		const work = 100 * time.Millisecond
		began := time.Now().Add(-work)
		start := time.Now()
		if err := w.yieldToApply(ctx, began); err != nil {
			t.Fatal(err)
		}
		if waited, want := time.Since(start), ingestRest*work; waited < want*9/10 {
			t.Fatalf("waited %v after %v of work while webhooks arrive, want %v", waited, work, want)
		}
	})
	t.Run("quiet", func(t *testing.T) {
		w := NewWakeups("sqlite")
		done := make(chan error, 1)
		go func() { done <- w.yieldToApply(ctx, time.Now().Add(-time.Hour)) }()
		returns(t, done, "waited with no backlog and no webhook arriving")
	})
}

// returns fails the test unless done delivers nil within 10 s (late says
// what not returning means).
func returns(t *testing.T, done <-chan error, late string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal(late)
	}
}
