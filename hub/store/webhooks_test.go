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

func TestWebhookKeys(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			s := storetest.Open(t, driver)
			now := time.Now().UTC()
			for _, id := range []string{"c1", "c2"} {
				c := &hub.Connection{ID: id, Provider: "pagerduty", OwnerKind: "user", OwnerID: "u-" + id, CreatedBy: "u-" + id,
					DisplayName: "PD", AuthType: "api_token", Secret: []byte{1}, Status: hub.StatusConnected,
					ValidatedAt: now, CreatedAt: now, UpdatedAt: now}
				if err := s.SaveConnection(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.WebhookKeyOf(ctx, "c1"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("no key yet: %v", err)
			}
			for _, k := range []store.WebhookKey{
				{ConnectionID: "c1", KeyHash: "h1", KeySealed: []byte("s1"), CreatedAt: now},
				{ConnectionID: "c1", KeyHash: "h1-late", KeySealed: []byte("s1-late"), CreatedAt: now}, // loses: c1 has one
				{ConnectionID: "c2", KeyHash: "h2", KeySealed: []byte("s2"), CreatedAt: now},
			} {
				if err := s.AddWebhookKey(ctx, &k); err != nil {
					t.Fatal(err)
				}
			}
			if k, err := s.WebhookKeyOf(ctx, "c1"); err != nil || k.KeyHash != "h1" || string(k.KeySealed) != "s1" {
				t.Fatalf("c1's key = %+v, %v", k, err)
			}
			tests := []struct {
				hash, want string
				err        error
			}{{"h1", "c1", nil}, {"h2", "c2", nil}, {"h1-late", "", store.ErrNotFound}, {"", "", store.ErrNotFound}}
			for _, tt := range tests {
				if id, err := s.ConnectionIDByWebhookKey(ctx, tt.hash); id != tt.want || !errors.Is(err, tt.err) {
					t.Errorf("ConnectionIDByWebhookKey(%q) = %q, %v", tt.hash, id, err)
				}
			}
			// Disconnecting removes the key with the connection.
			if err := s.DeleteConnection(ctx, "pagerduty", "user", "u-c1"); err != nil {
				t.Fatal(err)
			}
			if id, err := s.ConnectionIDByWebhookKey(ctx, "h1"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("after disconnect: %q, %v", id, err)
			}
		})
	}
}
