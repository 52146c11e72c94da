package metrics

import (
	"context"
	"strings"

	"github.com/uptrace/bun"
)

// QueryHook counts the hub's failed statements (aurora_database_errors_total);
// add it with db.AddQueryHook.
func (m *Metrics) QueryHook() bun.QueryHook { return queryHook{m} }

type queryHook struct{ m *Metrics }

func (queryHook) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }

func (h queryHook) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	if e.Err != nil {
		h.m.DatabaseError(operation(e.Operation()), e.Err)
	}
}

// operation bounds the label to a few values.
func operation(op string) string {
	switch op = strings.ToLower(op); op {
	case "select", "insert", "update", "delete", "begin", "commit", "rollback":
		return op
	}
	return "other"
}
