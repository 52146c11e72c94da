package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/uptrace/bun"
)

// TestPoolsKeepTheirConnections: a connection given back to a pool stays
// open for the next use, however many were in use at once. database/sql
// keeps two idle by default and closes the rest, so under load every
// statement beyond the second connection opened a new one: on PostgreSQL
// a new server process, its authentication and its statement cache (1.6 s
// of a storm drain's apply jobs went to connecting); on SQLite the read
// connections' compiled statements.
func TestPoolsKeepTheirConnections(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			st := storetest.Open(t, driver)
			pools := []struct {
				name string
				db   *sql.DB
			}{{"writer", st.Bun().DB}, {"reads", st.Reads().DB}}
			for _, p := range pools {
				// Every connection the pool may open, in use at once, then
				// given back.
				max := p.db.Stats().MaxOpenConnections
				ctx := context.Background()
				conns := make([]*sql.Conn, max)
				for i := range conns {
					c, err := p.db.Conn(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if err := c.PingContext(ctx); err != nil {
						t.Fatal(err)
					}
					conns[i] = c
				}
				for _, c := range conns {
					c.Close()
				}
				s := p.db.Stats()
				if s.MaxIdleClosed != 0 || s.OpenConnections != max {
					t.Errorf("%s pool: %d of %d connections closed when given back, %d open; want all %d kept",
						p.name, s.MaxIdleClosed, max, s.OpenConnections, max)
				}
			}
		})
	}
}

// TestSQLitePageCaches: each SQLite connection's page cache is bounded as
// store.go sets it, each below SQLite's default of 2,000 KiB (with the
// default, six caches grew to several MB of the hub's memory in a storm).
func TestSQLitePageCaches(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	for _, c := range []struct {
		name string
		db   *sql.DB
		want int
	}{{"writer", st.Bun().DB, -1000}, {"reads", st.Reads().DB, -256}, {"checkpoints", st.CheckpointDB(), -64}} {
		t.Run(c.name, func(t *testing.T) {
			var got int
			if err := c.db.QueryRowContext(context.Background(), "PRAGMA cache_size").Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("cache_size = %d, want %d (KiB when negative)", got, c.want)
			}
		})
	}
}

// TestPostgresKeepsFewPreparedStatements: statements Bun wrote values into
// (new text every time) are sent unprepared, in one round trip, instead of
// prepared first and kept (by the hundred on each connection, in the hub and
// on the server, before the cache was cut to 16; two round trips each
// since); a text seen before and queries with arguments (River's) are
// prepared and kept in a cache of 16; a URL that chooses the cache keeps
// pgx's own behaviour.
func TestPostgresKeepsFewPreparedStatements(t *testing.T) {
	admin := storetest.PostgresURL(t)
	for _, tc := range []struct {
		name  string
		query string
		// prepared after 100 distinct queries without arguments, after one
		// of them again, and after 100 more with an argument
		bun, again, args int
	}{
		{"default", "", 0, 2, 16},
		{"set in the URL", "statement_cache_capacity=64", 64, 64, 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := admin
			if tc.query != "" {
				u += map[bool]string{true: "&", false: "?"}[strings.Contains(u, "?")] + tc.query
			}
			ctx := context.Background()
			conn := postgresConn(t, u)
			prepared := func() int {
				t.Helper()
				var n int
				if err := conn.Conn.QueryRowContext(ctx, "SELECT count(*) FROM pg_prepared_statements").Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			selectInt := func(i int) {
				t.Helper()
				var n int
				if err := conn.NewSelect().ColumnExpr("?::int", i).Scan(ctx, &n); err != nil || n != i {
					t.Fatalf("select %d: %d, %v", i, n, err)
				}
			}
			for i := range 100 {
				selectInt(i)
			}
			// The counting query has no arguments either: prepared the
			// second time it runs, or each time with the URL's cache (and
			// pgx gives an evicted statement back to the server with the
			// next query).
			if got := prepared(); got < tc.bun || got > tc.bun+1 {
				t.Errorf("%d statements prepared on the connection after 100 distinct queries without arguments, want %d or %d", got, tc.bun, tc.bun+1)
			}
			selectInt(7)
			if got := prepared(); got < tc.again || got > tc.again+1 {
				t.Errorf("%d statements prepared on the connection after a query without arguments ran again, want %d or %d", got, tc.again, tc.again+1)
			}
			for i := range 100 {
				var n int
				q := fmt.Sprintf("SELECT $1::int + %d", i)
				if err := conn.Conn.QueryRowContext(ctx, q, 1).Scan(&n); err != nil || n != i+1 {
					t.Fatalf("%s: %d, %v", q, n, err)
				}
			}
			if got := prepared(); got < tc.args || got > tc.args+1 {
				t.Errorf("%d statements prepared on the connection after 100 distinct queries with an argument, want %d or %d", got, tc.args, tc.args+1)
			}
		})
	}
}

// TestSetsStatementCache: only a setting of that name counts, in a URL or a
// key=value string, not the words anywhere in the string (a password, a
// database name).
func TestSetsStatementCache(t *testing.T) {
	for _, tc := range []struct {
		dsn  string
		want bool
	}{
		{"postgres://aurora:pw@db:5432/aurora", false},
		{"postgres://aurora:pw@db:5432/aurora?sslmode=disable&statement_cache_capacity=64", true},
		{"postgres://aurora:pw@db:5432/aurora?default_query_exec_mode=describe_exec", true},
		{"postgres://aurora:statement_cache_capacity@db:5432/default_query_exec_mode?sslmode=disable", false},
		{"host=db user=aurora dbname=aurora statement_cache_capacity=0", true},
		{"host=db user=aurora password='default_query_exec_mode=x' dbname=aurora", false},
	} {
		if got := store.SetsStatementCache(tc.dsn); got != tc.want {
			t.Errorf("SetsStatementCache(%q) = %v, want %v", tc.dsn, got, tc.want)
		}
	}
}

// BenchmarkPostgresQueryWithValues: a Bun select with its value written
// into the text, a new text each time, as nearly all of the hub's are: sent
// unprepared (the default) against prepared first (what pgx does when the
// URL sets its statement cache, and what the hub did before).
func BenchmarkPostgresQueryWithValues(b *testing.B) {
	admin := storetest.PostgresURL(b)
	sep := map[bool]string{true: "&", false: "?"}[strings.Contains(admin, "?")]
	for _, bc := range []struct{ name, url string }{
		{"unprepared", admin},
		{"prepared", admin + sep + "statement_cache_capacity=16"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			conn := postgresConn(b, bc.url)
			i := 0
			for b.Loop() {
				var n int
				if err := conn.NewSelect().ColumnExpr("?::int", i).Scan(ctx, &n); err != nil || n != i {
					b.Fatalf("select %d: %d, %v", i, n, err)
				}
				i++
			}
		})
	}
}

// postgresConn opens a store on url and one of its connections, both
// closed when tb ends.
func postgresConn(tb testing.TB, url string) bun.Conn {
	tb.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Driver: "postgres", URL: url})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	conn, err := st.Bun().Conn(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}
