package webhooks

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/secrets"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/hashicorp/go-hclog"
	"github.com/uptrace/bun"
)

// newTestService is a Service on a fresh database of driver's.
func newTestService(t *testing.T, driver string) (*Service, *store.Store) {
	t.Helper()
	st := storetest.Open(t, driver)
	sealer, err := secrets.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return New(st, sealer, nil, hclog.NewNullLogger(), Options{}), st
}

// saveConnection stores a connected PagerDuty connection of owner's, with
// the id "c-" and the owner's id.
func saveConnection(t *testing.T, st *store.Store, o hub.Owner) *hub.Connection {
	t.Helper()
	now := time.Now().UTC()
	c := &hub.Connection{ID: "c-" + o.ID(), Provider: "pagerduty", OwnerKind: o.Kind(), OwnerID: o.ID(), CreatedBy: o.UserID,
		DisplayName: "PD", AuthType: "api_token", Secret: []byte{1}, Status: hub.StatusConnected,
		ValidatedAt: now, CreatedAt: now, UpdatedAt: now}
	if err := st.SaveConnection(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLookupCandidates checks which connections a webhook URL reaches, on
// real databases: the user's own, every organisation the user was seen in
// (no later membership removes one), and with a URL key that one alone.
func TestLookupCandidates(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			s, st := newTestService(t, driver)
			conns := map[string]*hub.Connection{}
			for _, o := range []hub.Owner{{UserID: "u1"}, {UserID: "u1", OrgID: "org-a"}, {UserID: "u2", OrgID: "org-b"}} {
				conns[o.ID()] = saveConnection(t, st, o)
				if err := s.RememberMembership(ctx, o.UserID, o.OrgID); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.PutSecret(ctx, conns["org-a"], "secret-a", SourceManual); err != nil {
				t.Fatal(err)
			}
			keyA, err := s.URLKey(ctx, conns["org-a"])
			if err != nil {
				t.Fatal(err)
			}
			if again, err := s.URLKey(ctx, conns["org-a"]); err != nil || again != keyA || len(keyA) != 32 {
				t.Fatalf("URL key = %q then %q, %v", keyA, again, err)
			}
			keyB, err := s.URLKey(ctx, conns["org-b"])
			if err != nil || keyB == keyA {
				t.Fatalf("org-b's key = %q, %v", keyB, err)
			}
			// u1 is then seen acting in org-b: org-a stays reachable.
			if _, err := s.lookup(ctx, "pagerduty", "u1", ""); err != nil { // cached before the change
				t.Fatal(err)
			}
			if err := s.RememberMembership(ctx, "u1", "org-b"); err != nil {
				t.Fatal(err)
			}
			tests := []struct {
				user, key string
				want      []string
			}{
				{"u1", "", []string{"c-org-a", "c-org-b", "c-u1"}},
				{"u2", "", []string{"c-org-b"}},
				{"u3", "", nil},
				{"u1", keyA, []string{"c-org-a"}},
				{"u1", keyB, []string{"c-org-b"}},
				{"u2", keyA, nil}, // u2 does not reach org-a
				{"u1", keyA + "x", nil},
			}
			for _, tt := range tests {
				hash := ""
				if tt.key != "" {
					hash = hashURLKey(tt.key)
				}
				e, err := s.lookup(ctx, "pagerduty", tt.user, hash)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, c := range e.cands {
					got = append(got, c.conn.ID)
					if want := c.conn.ID == "c-org-a"; (len(c.secrets) == 1 && c.secrets[0] == "secret-a") != want {
						t.Errorf("%s's secrets = %v", c.conn.ID, c.secrets)
					}
				}
				if len(got) != len(tt.want) || (len(got) > 0 && fmt.Sprint(got) != fmt.Sprint(tt.want)) {
					t.Errorf("lookup(%s, key %q) = %v, want %v", tt.user, tt.key, got, tt.want)
				}
			}
		})
	}
}

// queryCounter counts the statements run through a Bun DB.
type queryCounter struct{ n atomic.Int64 }

func (q *queryCounter) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	q.n.Add(1)
	return ctx
}

func (*queryCounter) AfterQuery(context.Context, *bun.QueryEvent) {}

// TestConcurrentLookupsShareOneLoad: deliveries that miss the lookup cache
// at the same moment (as every delivery in flight does when its entry
// expires under load) load it from the database once, not once each; after
// Invalidate the next lookup loads again.
func TestConcurrentLookupsShareOneLoad(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			s, st := newTestService(t, driver)
			c := saveConnection(t, st, hub.Owner{UserID: "u1"})
			if err := s.PutSecret(ctx, c, "secret", SourceManual); err != nil {
				t.Fatal(err)
			}
			// One load alone, to know what one load costs.
			var q queryCounter
			st.Bun().AddQueryHook(&q)
			if _, err := s.lookup(ctx, "pagerduty", "u1", ""); err != nil {
				t.Fatal(err)
			}
			perLoad := q.n.Swap(0)
			s.Invalidate()

			const n = 32
			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := make(chan error, n)
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					e, err := s.lookup(ctx, "pagerduty", "u1", "")
					if err == nil && (len(e.cands) != 1 || len(e.cands[0].secrets) != 1) {
						err = fmt.Errorf("lookup = %+v", e.cands)
					}
					errs <- err
				}()
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			// Exactly one load: a goroutine that checked the cache before
			// the shared load filled it, and joins the group after the
			// load left it, finds the entry when its own turn starts (on a
			// loaded machine that happened to 8 of 32).
			t.Logf("%d concurrent lookups ran %d statements; one load runs %d", n, q.n.Load(), perLoad)
			if got := q.n.Load(); got != perLoad {
				t.Fatalf("%d concurrent lookups ran %d statements; one load runs %d", n, got, perLoad)
			}
			q.n.Store(0)
			s.Invalidate()
			if _, err := s.lookup(ctx, "pagerduty", "u1", ""); err != nil {
				t.Fatal(err)
			}
			if got := q.n.Load(); got != perLoad {
				t.Fatalf("lookup after Invalidate ran %d statements, want a new load (%d)", got, perLoad)
			}
		})
	}
}
