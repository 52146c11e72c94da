package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/uptrace/bun/migrate"
)

// sqliteParentWithoutForeignKey is the SQLite migration that removes the
// foreign key of incidents.parent_incident_id (incidents to incidents),
// written in Go because it edits the stored schema.
//
// Why: SQLite rewrites every index of a table on an UPDATE that needs
// foreign-key processing when the table references itself (fkey.c,
// sqlite3FkRequired returns 2): attaching an incident to its parent
// deleted and re-inserted all six index entries of the child instead of
// one, 92 µs a statement against 22 µs without the key, the largest part of
// a storm's correlation. The hub never deletes incidents, and the code that
// sets a parent reads it in the same transaction; PostgreSQL keeps the key
// (it checks one index there).
//
// How: SQLite's documented procedure for removing a FOREIGN KEY constraint
// (https://sqlite.org/lang_altertable.html#otheralter): the table's stored
// CREATE TABLE loses the clause, in one transaction that also increments
// the schema version, so every connection reads the new schema. The rows
// and indexes stay as they are, so it takes no time on a large database.
var sqliteParentWithoutForeignKey = migrate.Migration{
	Name:    "20261202100000",
	Comment: "incidents_parent_without_foreign_key",
	Up: func(ctx context.Context, m *migrate.Migrator, _ *migrate.Migration) error {
		return editIncidentsSchema(ctx, m, parentWithForeignKey, parentWithoutForeignKey)
	},
	Down: func(ctx context.Context, m *migrate.Migrator, _ *migrate.Migration) error {
		return editIncidentsSchema(ctx, m, parentWithoutForeignKey, parentWithForeignKey)
	},
}

// The column as migration 20261127000003 created it, and without its key.
const (
	parentWithForeignKey    = "parent_incident_id     TEXT REFERENCES incidents (id) ON DELETE SET NULL,"
	parentWithoutForeignKey = "parent_incident_id     TEXT,"
)

// editIncidentsSchema replaces from with to in the incidents table's stored
// definition. It fails, changing nothing, unless from is there once.
func editIncidentsSchema(ctx context.Context, m *migrate.Migrator, from, to string) error {
	// writable_schema is a setting of one connection.
	conn, err := m.DB().Conn(ctx)
	if err != nil {
		return fmt.Errorf("editing the incidents table: %w", err)
	}
	defer conn.Close()
	tx, err := conn.Conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("editing the incidents table: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	if err := editSchema(ctx, tx, from, to); err != nil {
		return fmt.Errorf("editing the incidents table: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("editing the incidents table: %w", err)
	}
	return nil
}

func editSchema(ctx context.Context, tx *sql.Tx, from, to string) error {
	var version int64
	if err := tx.QueryRowContext(ctx, "PRAGMA schema_version").Scan(&version); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "PRAGMA writable_schema = ON"); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, "UPDATE sqlite_schema SET sql = replace(sql, ?, ?)"+
		" WHERE type = 'table' AND name = 'incidents' AND length(sql) - length(replace(sql, ?, '')) = length(?)", from, to, from, from)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("its definition does not have %q once (%d rows, %v)", from, n, err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA schema_version = %d", version+1)); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "PRAGMA writable_schema = OFF")
	return err
}
