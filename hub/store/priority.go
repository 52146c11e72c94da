package store

import (
	"context"
	"sync"
	"time"

	"github.com/uptrace/bun"
)

// maxDefer bounds how long a deferring transaction (the apply worker's, a
// checkpoint's) stands back for urgent ones, so a steady stream of webhooks
// cannot starve it.
const maxDefer = 50 * time.Millisecond

// priority orders the work on SQLite's one connection: while an urgent
// transaction (the inbox's group commit, which webhooks' answers wait on)
// waits for the connection or runs, deferring work does not take it.
// database/sql hands a freed connection to a random waiter, so without
// this an inbox commit waited behind whatever else was queued.
type priority struct {
	mu   sync.Mutex
	n    int           // urgent transactions waiting or running
	idle chan struct{} // closed while n == 0
	// limit is how long deferring work stands back at most (maxDefer).
	limit time.Duration
}

func newPriority() *priority {
	idle := make(chan struct{})
	close(idle)
	return &priority{idle: idle, limit: maxDefer}
}

func (p *priority) enter() {
	p.mu.Lock()
	if p.n == 0 {
		p.idle = make(chan struct{})
	}
	p.n++
	p.mu.Unlock()
}

func (p *priority) leave() {
	p.mu.Lock()
	p.n--
	if p.n == 0 {
		close(p.idle)
	}
	p.mu.Unlock()
}

func (p *priority) busy() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n > 0
}

// wait returns when no urgent transaction is pending, at the deadline, or
// when ctx ends.
func (p *priority) wait(ctx context.Context, deadline time.Time) error {
	p.mu.Lock()
	idle := p.idle
	p.mu.Unlock()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// InTxUrgent is InTx for work that requests wait on (the inbox's group
// commit): on SQLite, deferring work does not take the connection while it
// waits for it.
func (s *Store) InTxUrgent(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	if s.prio == nil {
		return s.InTx(ctx, fn)
	}
	s.prio.enter()
	defer s.prio.leave()
	return s.InTx(ctx, fn)
}

// InTxDeferring is InTx for background work (the apply worker): on SQLite it
// stands back, up to 50 ms, while an urgent transaction waits for the
// connection.
func (s *Store) InTxDeferring(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	if s.prio == nil {
		return s.InTx(ctx, fn)
	}
	conn, err := s.connDeferring(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.RunInTx(ctx, nil, fn)
}

// connDeferring takes SQLite's one connection once no urgent transaction
// waits for it (or maxDefer has passed). A connection it was handed while
// one arrived goes back to the pool.
func (s *Store) connDeferring(ctx context.Context) (bun.Conn, error) {
	deadline := time.Now().Add(s.prio.limit)
	for {
		if err := s.prio.wait(ctx, deadline); err != nil {
			return bun.Conn{}, err
		}
		conn, err := s.db.Conn(ctx)
		if err != nil {
			return bun.Conn{}, err
		}
		if !s.prio.busy() || !time.Now().Before(deadline) {
			return conn, nil
		}
		conn.Close()
	}
}
