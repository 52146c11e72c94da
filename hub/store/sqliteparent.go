package store

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
var sqliteParentWithoutForeignKey = definitionEdit("20261202100000", "incidents_parent_without_foreign_key",
	"incidents", parentWithForeignKey, parentWithoutForeignKey, nil)

// The column as migration 20261127000003 created it, and without its key.
const (
	parentWithForeignKey    = "parent_incident_id     TEXT REFERENCES incidents (id) ON DELETE SET NULL,"
	parentWithoutForeignKey = "parent_incident_id     TEXT,"
)
