package store_test

import (
	"context"
	"errors"
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
			if err := s.RememberUserOrg(ctx, "u9", "org-1"); err != nil {
				t.Fatal(err)
			}
			tests := []struct {
				user    string
				wantErr error
			}{{"u9", nil}, {"u-unknown", store.ErrNotFound}}
			for _, tt := range tests {
				c, err := s.ConnectionForUser(ctx, "pagerduty", tt.user)
				if !errors.Is(err, tt.wantErr) || (err == nil && c.ID != "c1") {
					t.Fatalf("ConnectionForUser(%s) = %v, %v", tt.user, c, err)
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
