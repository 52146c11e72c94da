package incidents_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/uptrace/bun"
)

// lastSelect remembers the text of the last SELECT run through a handle.
type lastSelect struct {
	mu    sync.Mutex
	query string
}

func (h *lastSelect) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }

func (h *lastSelect) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	if e.Operation() == "SELECT" {
		h.mu.Lock()
		h.query = e.Query
		h.mu.Unlock()
	}
}

// TestListPageReadsFromTheCursor: the read of a later page starts its index
// range at the cursor on both databases. Without the range's bound,
// PostgreSQL read the index from the newest incident and filtered, so
// paging through a storm's incidents cost the square of their number.
func TestListPageReadsFromTheCursor(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		for i := range 6 {
			ext := fmt.Sprintf("P%d", i)
			apply(t, db, src1, event("e"+ext, "incident.triggered", at(i), full(ext, "triggered")))
		}
		first, next, err := incidents.List(ctx, db, owner1, incidents.Filter{Limit: 2})
		if err != nil || len(first) != 2 || next == "" {
			t.Fatalf("first page: %d incidents, cursor %q, %v", len(first), next, err)
		}
		hook := &lastSelect{}
		db.AddQueryHook(hook)
		page, _, err := incidents.List(ctx, db, owner1, incidents.Filter{Limit: 2, Cursor: next})
		if err != nil || len(page) != 2 || page[0].ID == first[1].ID {
			t.Fatalf("second page: %+v, %v", page, err)
		}
		hook.mu.Lock()
		query := hook.query
		hook.mu.Unlock()
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		explain := "EXPLAIN QUERY PLAN "
		if db.Dialect().Name().String() == "pg" {
			// A small table makes PostgreSQL scan it whole: plan, on this
			// connection, as for a large one.
			if _, err := conn.ExecContext(ctx, "SET enable_seqscan = off"); err != nil {
				t.Fatal(err)
			}
			defer conn.ExecContext(ctx, "RESET enable_seqscan") //nolint:errcheck // the test's own database
			explain = "EXPLAIN "
		}
		var plan []string
		rows, err := conn.QueryContext(ctx, explain+query)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			cols, _ := rows.Columns()
			vals := make([]any, len(cols))
			for i := range vals {
				vals[i] = new(any)
			}
			if err := rows.Scan(vals...); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, fmt.Sprint(*(vals[len(vals)-1].(*any))))
		}
		text := strings.Join(plan, "\n")
		bounded := strings.Contains(text, "started_at <=") || strings.Contains(text, "started_at<") // PostgreSQL, SQLite
		if !bounded {
			t.Errorf("the second page's read does not start at the cursor:\n%s\nquery: %s", text, query)
		}
	})
}
