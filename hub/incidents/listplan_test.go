package incidents_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/uptrace/bun"
)

// selects remembers the text of the SELECTs run through a handle.
type selects struct {
	mu      sync.Mutex
	queries []string
}

func (h *selects) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }

func (h *selects) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	if e.Operation() == "SELECT" {
		h.mu.Lock()
		h.queries = append(h.queries, e.Query)
		h.mu.Unlock()
	}
}

// last is the last SELECT whose text contains substr.
func (h *selects) last(substr string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, q := range slices.Backward(h.queries) {
		if strings.Contains(q, substr) {
			return q
		}
	}
	return ""
}

// queryPlan is the database's plan for query, planned as for large tables
// (PostgreSQL scans a small table whole).
func queryPlan(t *testing.T, db *bun.DB, query string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	explain := "EXPLAIN QUERY PLAN "
	if db.Dialect().Name().String() == "pg" {
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
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
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
		hook := &selects{}
		db.AddQueryHook(hook)
		page, _, err := incidents.List(ctx, db, owner1, incidents.Filter{Limit: 2, Cursor: next})
		if err != nil || len(page) != 2 || page[0].ID == first[1].ID {
			t.Fatalf("second page: %+v, %v", page, err)
		}
		query := hook.last("")
		text := queryPlan(t, db, query)
		bounded := strings.Contains(text, "started_at <=") || strings.Contains(text, "started_at<") // PostgreSQL, SQLite
		if !bounded {
			t.Errorf("the second page's read does not start at the cursor:\n%s\nquery: %s", text, query)
		}
	})
}

// TestTimelineReadsByPrimaryKey: an incident's timeline is found through
// incident_events' primary key (incident_id first), not a scan, now that
// no index of its own is written for every event applied; and it still
// comes in the order the events occurred.
func TestTimelineReadsByPrimaryKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		// Recorded out of order: the acknowledgement arrives first.
		id, _ := apply(t, db, src1, event("e2", "incident.acknowledged", at(2), full("P1", "acknowledged")))
		apply(t, db, src1, event("e1", "incident.triggered", at(1), full("P1", "triggered")))
		apply(t, db, src1, event("e3", "incident.resolved", at(3), full("P1", "resolved")))
		apply(t, db, src1, event("o1", "incident.triggered", at(0), full("P2", "triggered")))
		hook := &selects{}
		db.AddQueryHook(hook)
		d, err := incidents.Get(ctx, db, owner1, id)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range d.Timeline {
			got = append(got, e.EventID)
		}
		if want := []string{"e1", "e2", "e3"}; !slices.Equal(got, want) {
			t.Errorf("timeline %v, want %v (by occurred_at)", got, want)
		}
		query := hook.last("incident_events")
		text := queryPlan(t, db, query)
		byKey := strings.Contains(text, "incident_events_pkey") || strings.Contains(text, "USING INDEX sqlite_autoindex_incident_events_1 (incident_id=?)")
		if !byKey {
			t.Errorf("the timeline's read does not search incident_events' primary key:\n%s\nquery: %s", text, query)
		}
	})
}
