// Package rekey re-seals the hub's stored secrets with the current
// encryption key: all at once (aurora-hub rotate-key), or one value at a
// time as the hub reads it.
package rekey

import (
	"context"
	"errors"
	"fmt"

	"github.com/aurora-hub/aurora-hub/hub/secrets"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/hashicorp/go-hclog"
	"github.com/uptrace/bun"
)

// Column is a column of sealed values and what binds each to its row.
type Column struct {
	Table, Column string
	// Keys name the row: Keys[0] is its primary key; all of them, in
	// order, are what Binding gets.
	Keys    []string
	Binding func(keys []string) string
}

// The sealed columns of the hub's schema.
var (
	Connections = Column{Table: "connections", Column: "secret", Keys: []string{"id"},
		Binding: func(k []string) string { return secrets.ConnectionBinding(k[0]) }}
	WebhookSecrets = Column{Table: "webhook_secrets", Column: "secret", Keys: []string{"id", "connection_id"},
		Binding: func(k []string) string { return secrets.WebhookSecretBinding(k[1], k[0]) }}
	OAuthStates = Column{Table: "oauth_states", Column: "verifier", Keys: []string{"state_hash"},
		Binding: func(k []string) string { return secrets.OAuthVerifierBinding(k[0]) }}
)

// Columns is every sealed column, in the order Rotate walks them.
var Columns = []Column{Connections, WebhookSecrets, OAuthStates}

// Count is what Survey or Rotate found in one column.
type Count struct {
	Table string
	// Total values; of them Current were sealed with the current key,
	// Stale with a previous key or in the old format, and Unknown name a
	// key that is not configured (Unknown values are also Stale).
	Total, Current, Stale, Unknown int
	// Resealed (Rotate): stale values sealed again with the current key.
	// Failed: values that could not be opened; they are left as they are.
	Resealed, Failed int
}

// DefaultBatch is how many rows Rotate re-seals per transaction.
const DefaultBatch = 200

// Options tune Rotate.
type Options struct {
	// Batch is the number of rows per transaction (default DefaultBatch).
	Batch int
	// Logger is told of every value that cannot be opened (its table and
	// row, never its content).
	Logger hclog.Logger
}

type sealedRow struct {
	K1     string `bun:"k1"`
	K2     string `bun:"k2"`
	Sealed []byte `bun:"sealed"`
}

func (r sealedRow) keys(col Column) []string {
	if len(col.Keys) == 1 {
		return []string{r.K1}
	}
	return []string{r.K1, r.K2}
}

// page reads up to n rows of col whose primary key sorts after after,
// locking them on PostgreSQL when lock is set.
func page(ctx context.Context, db bun.IDB, driver string, col Column, after string, n int, lock bool) ([]sealedRow, error) {
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
	if lock && driver == "postgres" {
		q = q.For("UPDATE")
	}
	var rows []sealedRow
	if err := q.Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("reading %s.%s: %w", col.Table, col.Column, err)
	}
	return rows, nil
}

// Survey counts, per column, the values sealed with the current key, with
// a previous key, and with a key that is not configured. It reads headers
// only and decrypts nothing.
func Survey(ctx context.Context, st *store.Store, s *secrets.Sealer) ([]Count, error) {
	var out []Count
	for _, col := range Columns {
		c := Count{Table: col.Table}
		after := ""
		for {
			rows, err := page(ctx, st.DB, st.Driver, col, after, 1000, false)
			if err != nil {
				return nil, err
			}
			for _, r := range rows {
				c.add(s, r.Sealed)
			}
			if len(rows) < 1000 {
				break
			}
			after = rows[len(rows)-1].K1
		}
		out = append(out, c)
	}
	return out, nil
}

func (c *Count) add(s *secrets.Sealer, sealed []byte) {
	c.Total++
	switch {
	case !s.Stale(sealed):
		c.Current++
	case !s.Known(sealed):
		c.Stale++
		c.Unknown++
	default:
		c.Stale++
	}
}

// Rotate seals every stale value of every sealed column again with the
// current key, one transaction per batch of rows (locked on PostgreSQL, so
// it can run beside serving hubs). A value that cannot be opened is counted
// as Failed, logged by row, and left unchanged; Rotate goes on with the
// rest and returns an error at the end. Running it again is harmless.
func Rotate(ctx context.Context, st *store.Store, s *secrets.Sealer, o Options) ([]Count, error) {
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	var out []Count
	failed := 0
	for _, col := range Columns {
		c := Count{Table: col.Table}
		after := ""
		for {
			var n int
			err := st.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
				b := c // counts of this batch apply only if it commits
				rows, err := page(ctx, tx, st.Driver, col, after, o.Batch, true)
				if err != nil {
					return err
				}
				for _, r := range rows {
					b.add(s, r.Sealed)
					if !s.Stale(r.Sealed) {
						continue
					}
					resealed, err := s.Reseal(r.Sealed, col.Binding(r.keys(col)))
					if err != nil {
						b.Failed++
						o.Logger.Error("cannot re-seal a stored secret; it is left as it is", "table", col.Table, "row", r.K1, "error", err)
						continue
					}
					if _, err := replace(ctx, tx, col, r.K1, r.Sealed, resealed); err != nil {
						return err
					}
					b.Resealed++
				}
				n = len(rows)
				if n > 0 {
					after = rows[n-1].K1
				}
				c = b
				return nil
			})
			if err != nil {
				return out, fmt.Errorf("re-sealing %s: %w", col.Table, err)
			}
			if n < o.Batch {
				break
			}
		}
		failed += c.Failed
		out = append(out, c)
	}
	if failed > 0 {
		return out, fmt.Errorf("%d stored secrets could not be opened with HUB_ENCRYPTION_KEY or HUB_ENCRYPTION_PREVIOUS_KEYS; keep the keys they were sealed with configured", failed)
	}
	return out, nil
}

// replace writes resealed over old in col's row pk, only if the row still
// holds old (a concurrent writer wins). It reports whether it wrote.
func replace(ctx context.Context, db bun.IDB, col Column, pk string, old, resealed []byte) (bool, error) {
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

// Lazily re-seals one value the hub has just opened if it is stale, and
// stores it unless the row changed meanwhile. keys are the row's Keys. It
// returns the value now stored for the row (sealed itself when nothing was
// written).
func Lazily(ctx context.Context, db bun.IDB, s *secrets.Sealer, col Column, sealed []byte, keys ...string) ([]byte, error) {
	if !s.Stale(sealed) {
		return sealed, nil
	}
	if len(keys) != len(col.Keys) {
		return sealed, errors.New("rekey: wrong number of row keys")
	}
	resealed, err := s.Reseal(sealed, col.Binding(keys))
	if err != nil {
		return sealed, err
	}
	ok, err := replace(ctx, db, col, keys[0], sealed, resealed)
	if err != nil || !ok {
		return sealed, err
	}
	return resealed, nil
}
