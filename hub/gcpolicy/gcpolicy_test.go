package gcpolicy

import (
	"context"
	"os"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"
)

// waitPercent waits up to a second for the percent to become want.
func waitPercent(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for Percent() != want {
		if time.Now().After(deadline) {
			t.Fatalf("GC percent %d, want %d", Percent(), want)
		}
		time.Sleep(Interval / 4)
	}
}

func TestRun(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	if v, ok := os.LookupEnv("GOGC"); ok {
		os.Unsetenv("GOGC")
		t.Cleanup(func() { os.Setenv("GOGC", v) })
	}
	for _, tt := range []struct {
		name      string
		gogc      string // GOGC in the environment, "" for none
		base      int    // the percent in force when Run starts
		saturated int    // the percent while saturated
	}{
		{"default", "", 100, 200},
		{"operator's percent", "", 150, 300},
		{"GOGC set: left alone", "100", 100, 100},
		{"collector off: left alone", "", -1, -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.gogc != "" {
				t.Setenv("GOGC", tt.gogc)
			}
			debug.SetGCPercent(tt.base)
			var saturated atomic.Bool
			ctx, stop := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { Run(ctx, saturated.Load); close(done) }()
			saturated.Store(true)
			waitPercent(t, tt.saturated)
			saturated.Store(false)
			waitPercent(t, tt.base)
			saturated.Store(true)
			waitPercent(t, tt.saturated)
			stop() // still saturated: stopping restores the percent
			<-done
			if got := Percent(); got != tt.base {
				t.Errorf("GC percent %d after Run returned, want %d", got, tt.base)
			}
		})
	}
}
