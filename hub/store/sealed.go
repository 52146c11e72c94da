package store

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// SealedColumn is a column of sealed values in the store's tables.
type SealedColumn struct {
	Table, Column string
	// Keys name a row: Keys[0] is its primary key.
	Keys []string
}

// The sealed columns of the hub's schema.
var (
	SealedConnectionSecrets = SealedColumn{Table: "connections", Column: "secret", Keys: []string{"id"}}
	SealedWebhookSecrets    = SealedColumn{Table: "webhook_secrets", Column: "secret", Keys: []string{"id", "connection_id"}}
	SealedWebhookKeys       = SealedColumn{Table: "webhook_keys", Column: "key_sealed", Keys: []string{"connection_id"}}
	SealedOAuthVerifiers    = SealedColumn{Table: "oauth_states", Column: "verifier", Keys: []string{"state_hash"}}
)

// SealedRow is one sealed value and the keys of its row (in col.Keys' order).
type SealedRow struct {
	Keys   []string
	Sealed []byte
}

// SealedPage reads up to n rows of col whose primary key sorts after
// after, in key order, locking them on PostgreSQL when lock is set (db is
// then a transaction).
func SealedPage(ctx context.Context, db bun.IDB, col SealedColumn, after string, n int, lock bool) ([]SealedRow, error) {
	q := db.NewSelect().
		TableExpr("?", bun.Ident(col.Table)).
		ColumnExpr("? AS k1", bun.Ident(col.Keys[0]))
	if len(col.Keys) > 1 {
		q = q.ColumnExpr("? AS k2", bun.Ident(col.Keys[1]))
	} else {
		q = q.ColumnExpr("'' AS k2")
	}
	q = q.ColumnExpr("? AS sealed", bun.Ident(col.Column)).
		Where("? > ?", bun.Ident(col.Keys[0]), after).
		OrderExpr("? ASC", bun.Ident(col.Keys[0])).
		Limit(int64(n))
	if lock && db.Dialect().Name() == dialect.PG {
		q = q.For("UPDATE")
	}
	var rows []struct {
		K1     string `bun:"k1"`
		K2     string `bun:"k2"`
		Sealed []byte `bun:"sealed"`
	}
	if err := q.Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("reading %s.%s: %w", col.Table, col.Column, err)
	}
	out := make([]SealedRow, len(rows))
	for i, r := range rows {
		out[i] = SealedRow{Keys: []string{r.K1, r.K2}[:len(col.Keys)], Sealed: r.Sealed}
	}
	return out, nil
}

// ReplaceSealed writes resealed over old in col's row pk, only if the row
// still holds old (a concurrent writer wins). It reports whether it wrote.
func ReplaceSealed(ctx context.Context, db bun.IDB, col SealedColumn, pk string, old, resealed []byte) (bool, error) {
	res, err := db.NewUpdate().
		TableExpr("?", bun.Ident(col.Table)).
		Set("? = ?", bun.Ident(col.Column), resealed).
		Where("? = ?", bun.Ident(col.Keys[0]), pk).
		Where("? = ?", bun.Ident(col.Column), old).
		Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("writing re-sealed %s.%s: %w", col.Table, col.Column, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
