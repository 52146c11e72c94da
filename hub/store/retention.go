package store

import (
	"context"
	"fmt"
	"time"
)

// PruneAppliedInbox deletes up to limit webhook inbox rows that were
// received and applied before before, oldest first, in one statement (so
// on SQLite it holds the one connection for one short batch). Rows not
// applied, pending or dead letters, are never deleted, and neither is the
// newest row: SQLite gives a new row the largest id plus one, so keeping it
// keeps the ids rising (the apply worker reads the events above the last
// id it read; see sqliteInboxWithoutAutoincrement).
func (s *Store) PruneAppliedInbox(ctx context.Context, before time.Time, limit int) (int64, error) {
	before = before.UTC()
	ids := s.db.NewSelect().Model((*InboxEvent)(nil)).Column("id").
		Where("applied_at IS NOT NULL").
		Where("received_at < ?", before).
		Where("applied_at < ?", before).
		Where("id < (SELECT max(id) FROM webhook_inbox)").
		Order("received_at").
		Limit(int64(limit))
	res, err := s.db.NewDelete().Model((*InboxEvent)(nil)).Where("id IN (?)", ids).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("pruning applied webhook events: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// PruneExpiredOAuthStates deletes up to limit pending OAuth authorizations
// that expired before before (used ones are deleted when consumed).
func (s *Store) PruneExpiredOAuthStates(ctx context.Context, before time.Time, limit int) (int64, error) {
	hashes := s.db.NewSelect().Model((*OAuthState)(nil)).Column("state_hash").
		Where("expires_at < ?", before.UTC()).
		Order("expires_at").
		Limit(int64(limit))
	res, err := s.db.NewDelete().Model((*OAuthState)(nil)).Where("state_hash IN (?)", hashes).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("pruning expired oauth states: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
