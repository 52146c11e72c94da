package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/uptrace/bun/migrate"
)

// definitionEdit is a migration that replaces before with after in table's
// stored definition, and after with before when it is undone; up, if
// given, runs in the same transaction as the edit (see editTableSchema).
func definitionEdit(name, comment, table, before, after string, up func(context.Context, *sql.Tx) error) migrate.Migration {
	return migrate.Migration{
		Name:    name,
		Comment: comment,
		Up: func(ctx context.Context, m *migrate.Migrator, _ *migrate.Migration) error {
			return editTableSchema(ctx, m, table, before, after, up)
		},
		Down: func(ctx context.Context, m *migrate.Migrator, _ *migrate.Migration) error {
			return editTableSchema(ctx, m, table, after, before, nil)
		},
	}
}

// editTableSchema replaces from with to in table's stored definition
// (SQLite's sqlite_schema), then runs then, if given, in the same
// transaction. It fails, changing nothing, unless from is there once.
//
// It is for the changes SQLite stores in the definition alone, not in the
// rows or indexes (https://sqlite.org/lang_altertable.html#otheralter): the
// schema version is incremented, so every connection reads the new
// definition, and the edit takes no time on a large database.
func editTableSchema(ctx context.Context, m *migrate.Migrator, table, from, to string, then func(context.Context, *sql.Tx) error) error {
	// writable_schema is a setting of one connection.
	conn, err := m.DB().Conn(ctx)
	if err != nil {
		return fmt.Errorf("editing the %s table: %w", table, err)
	}
	defer conn.Close()
	tx, err := conn.Conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("editing the %s table: %w", table, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	if err := editSchema(ctx, tx, table, from, to); err != nil {
		return fmt.Errorf("editing the %s table: %w", table, err)
	}
	if then != nil {
		if err := then(ctx, tx); err != nil {
			return fmt.Errorf("editing the %s table: %w", table, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("editing the %s table: %w", table, err)
	}
	return nil
}

func editSchema(ctx context.Context, tx *sql.Tx, table, from, to string) error {
	var version int64
	if err := tx.QueryRowContext(ctx, "PRAGMA schema_version").Scan(&version); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "PRAGMA writable_schema = ON"); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, "UPDATE sqlite_schema SET sql = replace(sql, ?, ?)"+
		" WHERE type = 'table' AND name = ? AND length(sql) - length(replace(sql, ?, '')) = length(?)", from, to, table, from, from)
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
