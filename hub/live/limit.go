package live

import "sync"

// Limiter caps the concurrent streams of each tenant on this replica, so one
// user or organisation cannot hold every connection and its memory.
type Limiter struct {
	max int

	mu sync.Mutex
	n  map[string]int
}

// NewLimiter allows max concurrent streams per tenant.
func NewLimiter(max int) *Limiter {
	return &Limiter{max: max, n: map[string]int{}}
}

// Acquire takes one of the tenant's stream slots. ok is false when all are
// taken; otherwise release gives the slot back (more calls do nothing).
func (l *Limiter) Acquire(ownerKind, ownerID string) (release func(), ok bool) {
	k := key(ownerKind, ownerID)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[k] >= l.max {
		return nil, false
	}
	l.n[k]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.n[k]--; l.n[k] <= 0 {
				delete(l.n, k)
			}
		})
	}, true
}

// Streams is how many slots the tenant holds.
func (l *Limiter) Streams(ownerKind, ownerID string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[key(ownerKind, ownerID)]
}
