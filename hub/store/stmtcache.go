package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"

	"modernc.org/sqlite"
)

// sqliteCachedDriver is the name the store opens SQLite with: modernc's
// driver, with each connection keeping the statements it ran with
// arguments prepared. SQLite compiles a statement every time its text is
// given; River's queries (and the hub's hot ones, which pass their values
// as arguments) are the same text every time, so compiling each once per
// connection saves most of that work. Statements without arguments (Bun
// inlines values, so their text differs every time) are not kept.
const sqliteCachedDriver = "sqlite-stmtcache"

// stmtCacheSize bounds the statements one connection keeps prepared.
const stmtCacheSize = 128

func init() {
	sql.Register(sqliteCachedDriver, cachingDriver{&sqlite.Driver{}})
}

type cachingDriver struct{ d *sqlite.Driver }

func (d cachingDriver) Open(name string) (driver.Conn, error) {
	c, err := d.d.Open(name)
	if err != nil {
		return nil, err
	}
	return &cachingConn{inner: c, stmts: map[string]*cachedStmt{}}, nil
}

// innerConn is what modernc's connection implements.
type innerConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

type cachingConn struct {
	inner driver.Conn
	stmts map[string]*cachedStmt
	// order is the statements by first use, for eviction.
	order []string
}

type cachedStmt struct {
	st    driver.Stmt
	inUse bool // rows of a query are still open on it
}

func (c *cachingConn) conn() innerConn { return c.inner.(innerConn) }

func (c *cachingConn) Prepare(query string) (driver.Stmt, error) { return c.inner.Prepare(query) }
func (c *cachingConn) Begin() (driver.Tx, error) {
	return c.conn().BeginTx(context.Background(), driver.TxOptions{})
}
func (c *cachingConn) BeginTx(ctx context.Context, o driver.TxOptions) (driver.Tx, error) {
	return c.conn().BeginTx(ctx, o)
}
func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.conn().PrepareContext(ctx, query)
}
func (c *cachingConn) Ping(ctx context.Context) error         { return c.conn().Ping(ctx) }
func (c *cachingConn) ResetSession(ctx context.Context) error { return c.conn().ResetSession(ctx) }
func (c *cachingConn) IsValid() bool                          { return c.conn().IsValid() }
func (c *cachingConn) Close() error {
	var errs []error
	for _, s := range c.stmts {
		errs = append(errs, s.st.Close())
	}
	clear(c.stmts)
	c.order = nil
	return errors.Join(append(errs, c.inner.Close())...)
}

// stmt returns query prepared (cached, or, while the cached one is busy,
// a fresh one the caller closes: fresh says so).
func (c *cachingConn) stmt(ctx context.Context, query string) (s *cachedStmt, fresh bool, err error) {
	if s := c.stmts[query]; s != nil {
		if !s.inUse {
			return s, false, nil
		}
		st, err := c.conn().PrepareContext(ctx, query)
		return &cachedStmt{st: st}, true, err
	}
	st, err := c.conn().PrepareContext(ctx, query)
	if err != nil {
		return nil, false, err
	}
	if len(c.order) >= stmtCacheSize {
		old := c.order[0]
		if o := c.stmts[old]; o != nil && !o.inUse {
			o.st.Close()
			delete(c.stmts, old)
			c.order = c.order[1:]
		}
	}
	if len(c.order) >= stmtCacheSize {
		return &cachedStmt{st: st}, true, nil
	}
	s = &cachedStmt{st: st}
	c.stmts[query] = s
	c.order = append(c.order, query)
	return s, false, nil
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) == 0 {
		return c.conn().ExecContext(ctx, query, args)
	}
	s, fresh, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if fresh {
		defer s.st.Close()
	}
	return s.st.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) == 0 {
		return c.conn().QueryContext(ctx, query, args)
	}
	s, fresh, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := s.st.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		if fresh {
			s.st.Close()
		}
		return nil, err
	}
	s.inUse = true
	return &cachedRows{Rows: rows, s: s, fresh: fresh}, nil
}

// cachedRows gives its statement back when closed.
type cachedRows struct {
	driver.Rows
	s     *cachedStmt
	fresh bool
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.s.inUse = false
	if r.fresh {
		err = errors.Join(err, r.s.st.Close())
	}
	return err
}

// ColumnTypeDatabaseTypeName and the other column type methods are
// forwarded when the driver's rows have them (Bun and River read them).
func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}
