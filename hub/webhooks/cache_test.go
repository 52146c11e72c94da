package webhooks

import (
	"fmt"
	"testing"
	"time"
)

func TestLookupCacheIsBounded(t *testing.T) {
	s := &Service{cache: map[string]cacheEntry{}, opts: Options{CacheTTL: 2 * time.Second}}
	now := time.Now()
	tests := []struct {
		name    string
		at      time.Time
		keys    int
		wantLen int
	}{
		{"fills up to the bound", now, maxCacheEntries + 500, maxCacheEntries},
		{"full of live entries: nothing more is cached", now.Add(time.Second), 100, maxCacheEntries},
		{"expired entries are swept to make room", now.Add(5 * time.Second), 10, 10},
	}
	n := 0
	for _, tt := range tests {
		for i := 0; i < tt.keys; i++ {
			n++
			s.remember(fmt.Sprint("pagerduty\x00user-", n), cacheEntry{expires: tt.at.Add(s.opts.CacheTTL)}, tt.at)
		}
		if len(s.cache) != tt.wantLen {
			t.Fatalf("%s: %d entries, want %d", tt.name, len(s.cache), tt.wantLen)
		}
	}
}
