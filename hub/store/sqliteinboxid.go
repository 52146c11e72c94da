package store

import (
	"context"
	"database/sql"
)

// sqliteInboxWithoutAutoincrement is the SQLite migration that takes
// AUTOINCREMENT off webhook_inbox.id, written in Go because it edits the
// stored schema (see editTableSchema).
//
// Why: with AUTOINCREMENT every insert also wrote the table's row of
// sqlite_sequence, a second b-tree and one more page in the log of each
// of the inbox's group commits, on the path that accepts webhooks.
// BenchmarkInsertInbox (batches of 8), nine alternated pairs: 28.3 µs an
// event on average without it (25.8 to 33.3), 29.9 with it (27.4 to 35.4).
//
// What it guaranteed still holds: an id is never used twice, so the apply
// worker's "ids above the last one read" stays true. Without the keyword
// SQLite takes the largest id plus one; the ids only ever fell back if the
// row with the largest id were deleted, and nothing deletes it (retention
// keeps the newest row, PruneAppliedInbox). A rowid table is stored the
// same way with and without the keyword, so only the definition changes.
//
// Its Down puts the keyword back; SQLite starts a missing sqlite_sequence
// row at the largest id.
var sqliteInboxWithoutAutoincrement = definitionEdit("20261203100000", "webhook_inbox_without_autoincrement",
	"webhook_inbox", inboxIDAutoincrement, inboxIDRowid, forgetInboxSequence)

// The id column as migration 20261127000002 created it, and without the
// keyword.
const (
	inboxIDAutoincrement = "id            INTEGER PRIMARY KEY AUTOINCREMENT,"
	inboxIDRowid         = "id            INTEGER PRIMARY KEY,"
)

// forgetInboxSequence drops the table's sqlite_sequence row, which nothing
// maintains any more.
func forgetInboxSequence(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, "DELETE FROM sqlite_sequence WHERE name = 'webhook_inbox'")
	return err
}
