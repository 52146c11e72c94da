// Package apilimit paces calls to a provider's API per credential with token buckets.
package apilimit

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"golang.org/x/time/rate"
)

// Limiter is a set of token buckets, one per key (a connection), each
// refilling at PerMinute/60 a second up to Burst. Tokens can go below zero:
// those are calls already promised, so later callers wait longer. A nil
// *Limiter never waits.
type Limiter struct {
	perSecond float64
	burst     int
	mem       *memBuckets // nil when the buckets are in the database
	db        bun.IDB
}

// NewMemory returns a limiter for one process (SQLite admits one hub).
// perMinute 0 returns nil: no pacing.
func NewMemory(perMinute, burst int) *Limiter {
	if perMinute <= 0 {
		return nil
	}
	return &Limiter{perSecond: float64(perMinute) / 60, burst: max(1, burst), mem: &memBuckets{m: map[string]*rate.Limiter{}}}
}

// NewShared returns a limiter whose buckets are rows of api_rate_buckets
// (PostgreSQL), so every replica draws on the same budget per credential:
// the provider counts calls per token, not per replica. Each take is one
// statement; the database's clock is the only one used.
func NewShared(db bun.IDB, perMinute, burst int) *Limiter {
	if perMinute <= 0 {
		return nil
	}
	return &Limiter{perSecond: float64(perMinute) / 60, burst: max(1, burst), db: db}
}

// Wait takes n tokens from key's bucket and sleeps until the calls may go.
// When they could not go within maxWait it takes nothing and returns how
// long to come back after (so a job can snooze instead of holding a worker).
func (l *Limiter) Wait(ctx context.Context, key string, n int, maxWait time.Duration) (later time.Duration, err error) {
	if l == nil || n <= 0 {
		return 0, nil
	}
	avail, err := l.available(ctx, key)
	if err != nil {
		return 0, err
	}
	if short := float64(n) - avail; short > 0 {
		if d := l.seconds(short); d > maxWait {
			return d, nil
		}
	}
	left, err := l.take(ctx, key, float64(n))
	if err != nil {
		return 0, err
	}
	if left >= 0 {
		return 0, nil
	}
	t := time.NewTimer(l.seconds(-left))
	defer t.Stop()
	select {
	case <-t.C:
		return 0, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Charge takes n tokens for calls already made beyond what Wait took.
func (l *Limiter) Charge(ctx context.Context, key string, n int) error {
	if l == nil || n <= 0 {
		return nil
	}
	_, err := l.take(ctx, key, float64(n))
	return err
}

// Pause empties key's bucket so that no call goes for d: the provider
// answered 429 and asked to come back after d.
func (l *Limiter) Pause(ctx context.Context, key string, d time.Duration) error {
	if l == nil || d <= 0 {
		return nil
	}
	debt := d.Seconds() * l.perSecond
	if l.mem != nil {
		lim := l.mem.get(key, l.perSecond, l.burst)
		now := time.Now()
		l.mem.takeN(lim, now, lim.TokensAt(now)+debt, l.burst)
		return nil
	}
	_, err := l.db.ExecContext(ctx, `INSERT INTO api_rate_buckets AS b (key, tokens, updated_at)
VALUES (?, -CAST(? AS DOUBLE PRECISION), clock_timestamp())
ON CONFLICT (key) DO UPDATE SET tokens = LEAST(`+refill+`, -CAST(? AS DOUBLE PRECISION)), updated_at = clock_timestamp()`,
		key, debt, float64(l.burst), l.perSecond, debt)
	if err != nil {
		return fmt.Errorf("pausing API calls: %w", err)
	}
	return nil
}

func (l *Limiter) seconds(tokens float64) time.Duration {
	return time.Duration(math.Ceil(tokens / l.perSecond * float64(time.Second)))
}

// refill is a bucket's tokens now (parameters: burst, tokens per second).
const refill = `LEAST(CAST(? AS DOUBLE PRECISION), b.tokens + CAST(? AS DOUBLE PRECISION) * EXTRACT(EPOCH FROM clock_timestamp() - b.updated_at))`

// available is how many tokens key's bucket holds now (negative: owed).
func (l *Limiter) available(ctx context.Context, key string) (float64, error) {
	if l.mem != nil {
		return l.mem.get(key, l.perSecond, l.burst).TokensAt(time.Now()), nil
	}
	var tokens []float64
	err := l.db.NewRaw(`SELECT `+refill+` FROM api_rate_buckets AS b WHERE b.key = ?`, float64(l.burst), l.perSecond, key).Scan(ctx, &tokens)
	if err != nil {
		return 0, fmt.Errorf("reading the API call budget: %w", err)
	}
	if len(tokens) == 0 {
		return float64(l.burst), nil
	}
	return tokens[0], nil
}

// take removes n tokens and returns what is left (negative: owed).
func (l *Limiter) take(ctx context.Context, key string, n float64) (float64, error) {
	if l.mem != nil {
		lim := l.mem.get(key, l.perSecond, l.burst)
		now := time.Now()
		l.mem.takeN(lim, now, n, l.burst)
		return lim.TokensAt(now), nil
	}
	var left float64
	err := l.db.NewRaw(`INSERT INTO api_rate_buckets AS b (key, tokens, updated_at)
VALUES (?, CAST(? AS DOUBLE PRECISION) - CAST(? AS DOUBLE PRECISION), clock_timestamp())
ON CONFLICT (key) DO UPDATE SET tokens = `+refill+` - CAST(? AS DOUBLE PRECISION), updated_at = clock_timestamp()
RETURNING tokens`, key, float64(l.burst), n, float64(l.burst), l.perSecond, n).Scan(ctx, &left)
	if err != nil {
		return 0, fmt.Errorf("taking from the API call budget: %w", err)
	}
	return left, nil
}

// memBuckets are x/time/rate limiters by key.
type memBuckets struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func (b *memBuckets) get(key string, perSecond float64, burst int) *rate.Limiter {
	b.mu.Lock()
	defer b.mu.Unlock()
	lim := b.m[key]
	if lim == nil {
		lim = rate.NewLimiter(rate.Limit(perSecond), burst)
		b.m[key] = lim
	}
	return lim
}

// takeN reserves n tokens (rounded up) in reservations of at most burst
// (rate.Limiter refuses larger ones); reservations are never cancelled,
// so the bucket goes below zero and later reservations wait longer.
func (b *memBuckets) takeN(lim *rate.Limiter, now time.Time, n float64, burst int) {
	for left := int(math.Ceil(n)); left > 0; {
		k := min(left, burst)
		lim.ReserveN(now, k)
		left -= k
	}
}
