package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/store"
)

// openStore opens the hub's database directly (while the hub is stopped).
func openStore(t *testing.T, h *hubProc) *store.Store {
	t.Helper()
	o := store.Options{Driver: "postgres", URL: h.DBURL}
	if p, ok := strings.CutPrefix(h.DBURL, "sqlite://"); ok {
		o = store.Options{Driver: "sqlite", SQLitePath: p}
	}
	st, err := store.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestRetentionPrunesAtStart: a hub prunes applied webhook events past
// HUB_WEBHOOK_RETENTION as soon as it starts, and keeps recent events,
// pending ones and dead letters.
func TestRetentionPrunesAtStart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		ctx := ctxT(t)
		h := startHub(t, nil, hubOpts{backend: backend})
		h.stop()

		st := openStore(t, h)
		now := time.Now().UTC()
		old, recent := now.Add(-4*24*time.Hour), now.Add(-time.Hour)
		var events []store.InboxEvent
		for _, id := range []string{"old-applied", "old-pending", "old-dead-letter", "recent-applied"} {
			at := old
			if strings.HasPrefix(id, "recent") {
				at = recent
			}
			events = append(events, store.InboxEvent{Provider: "pagerduty", ConnectionID: "c1", OwnerKind: "user", OwnerID: alice.user,
				EventID: id, EventType: "incident.triggered", Event: "{}", ReceivedAt: at})
		}
		if _, err := store.InsertInbox(ctx, st.Bun(), events); err != nil {
			t.Fatal(err)
		}
		for id, set := range map[string]string{"old-applied": "applied_at = received_at, attempts = 1", "recent-applied": "applied_at = received_at, attempts = 1", "old-dead-letter": "attempts = 10"} {
			if _, err := st.Bun().NewUpdate().Model((*store.InboxEvent)(nil)).Set(set).Where("event_id = ?", id).Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		st.Close()

		h.Env["HUB_WEBHOOK_RETENTION"] = "72h"
		h.start()
		waitFor(t, "the prune at start", 60*time.Second, func() bool { return strings.Contains(h.Logs(), `"webhook_events":1`) })
		h.stop()
		st = openStore(t, h)
		defer st.Close()
		var left []string
		if err := st.Bun().NewSelect().Model((*store.InboxEvent)(nil)).Column("event_id").Order("event_id").Scan(ctx, &left); err != nil {
			t.Fatal(err)
		}
		if strings.Join(left, ",") != "old-dead-letter,old-pending,recent-applied" {
			t.Fatalf("inbox after the prune: %v", left)
		}
	})
}
