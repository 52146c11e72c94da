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

// Column is a column of sealed values (which store reads and writes) and
// what binds each value to its row.
type Column struct {
	store.SealedColumn
	// Binding gets the row's Keys, in order.
	Binding func(keys []string) string
}

// The sealed columns of the hub's schema.
var (
	Connections = Column{store.SealedConnectionSecrets,
		func(k []string) string { return secrets.ConnectionBinding(k[0]) }}
	WebhookSecrets = Column{store.SealedWebhookSecrets,
		func(k []string) string { return secrets.WebhookSecretBinding(k[1], k[0]) }}
	WebhookKeys = Column{store.SealedWebhookKeys,
		func(k []string) string { return secrets.WebhookKeyBinding(k[0]) }}
	OAuthStates = Column{store.SealedOAuthVerifiers,
		func(k []string) string { return secrets.OAuthVerifierBinding(k[0]) }}
)

// Columns is every sealed column, in the order Rotate walks them.
var Columns = []Column{Connections, WebhookSecrets, WebhookKeys, OAuthStates}

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

// Survey counts, per column, the values sealed with the current key, with
// a previous key, and with a key that is not configured. It reads headers
// only and decrypts nothing.
func Survey(ctx context.Context, st *store.Store, s *secrets.Sealer) ([]Count, error) {
	var out []Count
	for _, col := range Columns {
		c := Count{Table: col.Table}
		after := ""
		for {
			rows, err := store.SealedPage(ctx, st.Bun(), col.SealedColumn, after, 1000, false)
			if err != nil {
				return nil, err
			}
			for _, r := range rows {
				c.add(s, r.Sealed)
			}
			if len(rows) < 1000 {
				break
			}
			after = rows[len(rows)-1].Keys[0]
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
			err := st.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
				b := c // counts of this batch apply only if it commits
				rows, err := store.SealedPage(ctx, tx, col.SealedColumn, after, o.Batch, true)
				if err != nil {
					return err
				}
				for _, r := range rows {
					b.add(s, r.Sealed)
					if !s.Stale(r.Sealed) {
						continue
					}
					resealed, err := s.Reseal(r.Sealed, col.Binding(r.Keys))
					if err != nil {
						b.Failed++
						o.Logger.Error("cannot re-seal a stored secret; it is left as it is", "table", col.Table, "row", r.Keys[0], "error", err)
						continue
					}
					if _, err := store.ReplaceSealed(ctx, tx, col.SealedColumn, r.Keys[0], r.Sealed, resealed); err != nil {
						return err
					}
					b.Resealed++
				}
				n = len(rows)
				if n > 0 {
					after = rows[n-1].Keys[0]
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
	ok, err := store.ReplaceSealed(ctx, db, col.SealedColumn, keys[0], sealed, resealed)
	if err != nil || !ok {
		return sealed, err
	}
	return resealed, nil
}
