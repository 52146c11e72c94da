package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
)

func ptr(s string) *string { return &s }

func TestConnections(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			s := storetest.Open(t, driver)
			if err := s.Migrate(ctx); err != nil { // migrating twice is a no-op
				t.Fatal(err)
			}
			now := time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)
			c := &hub.Connection{
				ID: "c1", Provider: "pagerduty", OwnerKind: "org", OwnerID: "org-1", CreatedBy: "u1",
				DisplayName: "PD", AuthType: "api_token", Secret: []byte{1, 2, 3},
				ExternalUserEmail: ptr("john@example.com"), AccountSubdomain: "acme",
				Capabilities: map[string]bool{"can_read_incidents": true},
				Status:       hub.StatusConnected, ValidatedAt: now, CreatedAt: now, UpdatedAt: now,
			}
			if err := s.SaveConnection(ctx, c); err != nil {
				t.Fatal(err)
			}
			// Saving again for the same owner replaces the row but keeps its id.
			c2 := *c
			c2.ID, c2.DisplayName, c2.ExternalUserEmail = "c2", "PD 2", nil
			if err := s.SaveConnection(ctx, &c2); err != nil {
				t.Fatal(err)
			}
			if c2.ID != "c1" {
				t.Fatalf("upsert changed the id to %q", c2.ID)
			}
			got, err := s.Connection(ctx, "pagerduty", "org", "org-1")
			if err != nil {
				t.Fatal(err)
			}
			if got.DisplayName != "PD 2" || got.ExternalUserEmail != nil || !got.ValidatedAt.Equal(now) || !got.Capabilities["can_read_incidents"] || string(got.Secret) != "\x01\x02\x03" {
				t.Fatalf("got %+v", got)
			}
			// u9 acts in org-1, then in org-2: both stay reachable (the record
			// is append-only), with u9's own connection.
			for _, o := range []string{"org-1", "org-2", "org-1"} {
				if _, err := s.AddOrgMembership(ctx, "u9", o); err != nil {
					t.Fatal(err)
				}
			}
			if added, err := s.AddOrgMembership(ctx, "u9", "org-2"); err != nil || added {
				t.Fatalf("adding a known membership = %v, %v; want false, nil", added, err)
			}
			for _, o := range []hub.Owner{{UserID: "u9", OrgID: "org-2"}, {UserID: "u9"}, {UserID: "u8"}} {
				oc := *c
				oc.ID, oc.OwnerKind, oc.OwnerID = "c-"+o.Kind()+"-"+o.ID(), o.Kind(), o.ID()
				if err := s.SaveConnection(ctx, &oc); err != nil {
					t.Fatal(err)
				}
			}
			tests := []struct {
				provider, user string
				want           []string
			}{
				{"pagerduty", "u9", []string{"c-org-org-2", "c-user-u9", "c1"}},
				{"pagerduty", "u8", []string{"c-user-u8"}},
				{"pagerduty", "u1", nil}, // created org-1's connection, never seen acting in org-1
				{"pagerduty", "org-1", nil},
				{"pagerduty", "u-unknown", nil},
				{"alertmanager", "u9", nil},
			}
			for _, tt := range tests {
				got, err := s.ConnectionsReachableBy(ctx, tt.provider, tt.user)
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, c := range got {
					ids = append(ids, c.ID)
				}
				if strings.Join(ids, ",") != strings.Join(tt.want, ",") {
					t.Errorf("ConnectionsReachableBy(%s, %s) = %v, want %v", tt.provider, tt.user, ids, tt.want)
				}
			}
			if err := s.DeleteConnection(ctx, "pagerduty", "org", "org-1"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Connection(ctx, "pagerduty", "org", "org-1"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("after delete: %v", err)
			}
		})
	}
}

// TestMembershipMigrationKeepsRouting upgrades a database as the previous
// release left it (one user -> organisation mapping in user_orgs): the
// organisation a user's webhook URL reached before stays reachable, and so
// does the organisation whose connection the user created.
func TestMembershipMigrationKeepsRouting(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			s, err := store.Open(ctx, storetest.Options(t, driver))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			if err := s.MigrateBefore(ctx, "20261201000200"); err != nil {
				t.Fatal(err)
			}
			now := time.Now().UTC()
			for _, o := range []struct{ org, creator string }{{"org-a", "u-creator"}, {"org-b", "u-other"}} {
				c := &hub.Connection{ID: "c-" + o.org, Provider: "pagerduty", OwnerKind: "org", OwnerID: o.org, CreatedBy: o.creator,
					DisplayName: "PD", AuthType: "api_token", Secret: []byte{1}, Status: hub.StatusConnected,
					ValidatedAt: now, CreatedAt: now, UpdatedAt: now}
				if err := s.SaveConnection(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.Bun().NewInsert().TableExpr("user_orgs").
				Model(&map[string]any{"user_id": "u-mapped", "org_id": "org-b", "updated_at": now}).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			for user, want := range map[string]string{"u-mapped": "c-org-b", "u-creator": "c-org-a", "u-other": "c-org-b", "u-none": ""} {
				got, err := s.ConnectionsReachableBy(ctx, "pagerduty", user)
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, c := range got {
					ids = append(ids, c.ID)
				}
				if strings.Join(ids, ",") != want {
					t.Errorf("%s reaches %v after the upgrade, want %q", user, ids, want)
				}
			}
		})
	}
}
