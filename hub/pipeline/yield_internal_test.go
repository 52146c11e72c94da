package pipeline

import (
	"context"
	"slices"
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
		w.Committed(1)
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

// TestApplyRest: after a full chunk while webhooks arrive, the apply worker
// rests half as long as the chunk took; while the inbox's commits gather
// saturatedPerCommit deliveries or more each (the hub takes webhooks as
// fast as it can), saturatedRest times as long, until the chunk's events
// have waited maxDeferral.
func TestApplyRest(t *testing.T) {
	const took = 2 * time.Millisecond
	tests := []struct {
		name       string
		perCommit  []int // deliveries of the inbox's commits, in order
		waited     time.Duration
		quiet      bool // no commit within the ingest window
		wantFactor float64
	}{
		{name: "1,000 a second", perCommit: slices.Repeat([]int{1}, 40), waited: 10 * time.Millisecond, wantFactor: 0.5},
		{name: "occasional pairs", perCommit: slices.Repeat([]int{2}, 40), waited: 10 * time.Millisecond, wantFactor: 0.5},
		{name: "saturated", perCommit: slices.Repeat([]int{7}, 40), waited: time.Second, wantFactor: saturatedRest},
		{name: "saturated, events waited too long", perCommit: slices.Repeat([]int{7}, 40), waited: maxDeferral + time.Second, wantFactor: 0.5},
		{name: "saturation ending", perCommit: append(slices.Repeat([]int{7}, 40), slices.Repeat([]int{1}, 60)...), waited: time.Second, wantFactor: 0.5},
		{name: "one large commit", perCommit: append(slices.Repeat([]int{1}, 40), 30), waited: time.Second, wantFactor: 0.5},
		{name: "after the burst", perCommit: slices.Repeat([]int{7}, 40), quiet: true, waited: time.Second, wantFactor: 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWakeups("sqlite")
			for _, n := range tt.perCommit {
				w.Committed(n)
			}
			if tt.quiet {
				w.lastCommit.Store(time.Now().Add(-time.Minute).UnixNano())
			}
			got := w.rest(took, time.Now().Add(-tt.waited))
			if want := time.Duration(tt.wantFactor * float64(took)); got != want {
				t.Errorf("rest after a %v chunk = %v, want %v", took, got, want)
			}
		})
	}
}
