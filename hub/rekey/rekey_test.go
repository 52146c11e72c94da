package rekey_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/rekey"
	"github.com/aurora-hub/aurora-hub/hub/secrets"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/hashicorp/go-hclog"
)

func sealer(t *testing.T, cur []byte, prev ...[]byte) *secrets.Sealer {
	t.Helper()
	s, err := secrets.New(cur, prev...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sealV1 writes the format stored before key rotation existed.
func sealV1(t *testing.T, key, plaintext []byte, binding string) []byte {
	t.Helper()
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return aead.Seal(append([]byte{1}, nonce...), nonce, plaintext, []byte(binding))
}

// seeded is a store with n connections, each with a webhook secret, and an
// OAuth state, all sealed with key a (connection 0 in the old format).
func seed(t *testing.T, st *store.Store, a []byte, n int) {
	t.Helper()
	ctx := context.Background()
	sa := sealer(t, a)
	now := time.Now().UTC().Truncate(time.Second)
	for i := range n {
		id := fmt.Sprintf("conn-%03d", i)
		sealed, _ := sa.Seal([]byte("token-"+id), secrets.ConnectionBinding(id))
		if i == 0 {
			sealed = sealV1(t, a, []byte("token-"+id), secrets.ConnectionBinding(id))
		}
		c := &hub.Connection{
			ID: id, Provider: "pagerduty", OwnerKind: "user", OwnerID: "u-" + id, CreatedBy: "u",
			DisplayName: "PD", AuthType: "api_token", Secret: sealed, Status: hub.StatusConnected,
			ValidatedAt: now, CreatedAt: now, UpdatedAt: now,
		}
		if err := st.SaveConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		sid := "sec-" + id
		ws, _ := sa.Seal([]byte("whsec-"+id), secrets.WebhookSecretBinding(id, sid))
		if err := st.AddWebhookSecret(ctx, &store.WebhookSecret{ID: sid, ConnectionID: id, Secret: ws, Source: "manual", CreatedAt: now}, time.Hour); err != nil {
			t.Fatal(err)
		}
		if i == 0 { // one webhook URL key
			k, _ := sa.Seal([]byte("url-key-"+id), secrets.WebhookKeyBinding(id))
			if err := st.AddWebhookKey(ctx, &store.WebhookKey{ConnectionID: id, KeyHash: "hash-" + id, KeySealed: k, CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
	}
	v, _ := sa.Seal([]byte("verifier"), secrets.OAuthVerifierBinding("h1"))
	if err := st.CreateOAuthState(ctx, &store.OAuthState{StateHash: "h1", Provider: "pagerduty", UserID: "u", Verifier: v, RedirectURI: "http://x", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

// openAll opens every stored value with s and checks its plaintext.
func openAll(t *testing.T, st *store.Store, s *secrets.Sealer, n int) error {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		id := fmt.Sprintf("conn-%03d", i)
		c, err := st.ConnectionByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := s.Open(c.Secret, secrets.ConnectionBinding(id))
		if err != nil {
			return err
		}
		if string(pt) != "token-"+id {
			t.Fatalf("connection %s opens to %q", id, pt)
		}
		secs, err := st.ActiveWebhookSecrets(ctx, id, time.Now())
		if err != nil || len(secs) != 1 {
			t.Fatalf("webhook secrets of %s: %d, %v", id, len(secs), err)
		}
		if pt, err := s.Open(secs[0].Secret, secrets.WebhookSecretBinding(id, secs[0].ID)); err != nil || string(pt) != "whsec-"+id {
			return fmt.Errorf("webhook secret %s: %q, %w", id, pt, err)
		}
		if i == 0 {
			k, err := st.WebhookKeyOf(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if pt, err := s.Open(k.KeySealed, secrets.WebhookKeyBinding(id)); err != nil || string(pt) != "url-key-"+id {
				return fmt.Errorf("webhook URL key %s: %q, %w", id, pt, err)
			}
		}
	}
	return nil
}

func TestRotate(t *testing.T) {
	a, b, c := bytes.Repeat([]byte{0xa}, 32), bytes.Repeat([]byte{0xb}, 32), bytes.Repeat([]byte{0xc}, 32)
	const n = 7 // with batches of 3: two full batches and a partial one
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			st := storetest.Open(t, driver)
			seed(t, st, a, n)
			ba := sealer(t, b, a)

			// Before: everything is stale under B+A, and B alone opens nothing.
			survey, err := rekey.Survey(ctx, st, ba)
			if err != nil {
				t.Fatal(err)
			}
			want := []rekey.Count{
				{Table: "connections", Total: n, Stale: n},
				{Table: "webhook_secrets", Total: n, Stale: n},
				{Table: "webhook_keys", Total: 1, Stale: 1},
				{Table: "oauth_states", Total: 1, Stale: 1},
			}
			if fmt.Sprint(survey) != fmt.Sprint(want) {
				t.Fatalf("survey before = %+v\nwant %+v", survey, want)
			}
			if err := openAll(t, st, sealer(t, b), n); err == nil {
				t.Fatal("key B alone opened values sealed with A")
			}
			if err := openAll(t, st, ba, n); err != nil {
				t.Fatalf("B with previous A: %v", err)
			}

			got, err := rekey.Rotate(ctx, st, ba, rekey.Options{Batch: 3})
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				want[i].Resealed = want[i].Total
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("rotate = %+v\nwant %+v", got, want)
			}
			// After: B alone opens everything; a second run has nothing to do.
			if err := openAll(t, st, sealer(t, b), n); err != nil {
				t.Fatalf("after rotate, B alone: %v", err)
			}
			again, err := rekey.Rotate(ctx, st, ba, rekey.Options{Batch: 3})
			if err != nil {
				t.Fatal(err)
			}
			wantAgain := []rekey.Count{
				{Table: "connections", Total: n, Current: n},
				{Table: "webhook_secrets", Total: n, Current: n},
				{Table: "webhook_keys", Total: 1, Current: 1},
				{Table: "oauth_states", Total: 1, Current: 1},
			}
			if fmt.Sprint(again) != fmt.Sprint(wantAgain) {
				t.Fatalf("second rotate = %+v", again)
			}

			// A wrong key: every value fails, is left unchanged, and the
			// log names rows, not secrets.
			var logs bytes.Buffer
			log := hclog.New(&hclog.LoggerOptions{Output: &logs})
			failed, err := rekey.Rotate(ctx, st, sealer(t, c), rekey.Options{Logger: log})
			if err == nil || !strings.Contains(err.Error(), "could not be opened") {
				t.Fatalf("rotate with a wrong key: err = %v", err)
			}
			if failed[0].Failed != n || failed[0].Unknown != n || failed[0].Resealed != 0 {
				t.Fatalf("rotate with a wrong key = %+v", failed)
			}
			if !strings.Contains(logs.String(), "conn-000") || strings.Contains(logs.String(), "token-") || strings.Contains(logs.String(), "whsec-") {
				t.Fatalf("log:\n%s", logs.String())
			}
			if err := openAll(t, st, sealer(t, b), n); err != nil {
				t.Fatalf("a failed rotate changed stored values: %v", err)
			}
		})
	}
}

func TestLazily(t *testing.T) {
	a, b := bytes.Repeat([]byte{0xa}, 32), bytes.Repeat([]byte{0xb}, 32)
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			st := storetest.Open(t, driver)
			seed(t, st, a, 2)
			ba := sealer(t, b, a)
			c0, _ := st.ConnectionByID(ctx, "conn-000")
			c1, _ := st.ConnectionByID(ctx, "conn-001")

			// conn-000 is re-sealed; conn-001 changed since it was read, so
			// the writer's value stays.
			got, err := rekey.Lazily(ctx, st.Bun(), ba, rekey.Connections, c0.Secret, c0.ID)
			if err != nil || bytes.Equal(got, c0.Secret) || ba.Stale(got) {
				t.Fatalf("Lazily = stale %v, %v", ba.Stale(got), err)
			}
			newer, _ := ba.Seal([]byte("token-conn-001"), secrets.ConnectionBinding(c1.ID))
			if err := st.WithLockedConnection(ctx, c1.ID, func(ctx context.Context, c *hub.Connection, save func(*hub.Connection) error) error {
				c.Secret = newer
				return save(c)
			}); err != nil {
				t.Fatal(err)
			}
			if got, err := rekey.Lazily(ctx, st.Bun(), ba, rekey.Connections, c1.Secret, c1.ID); err != nil || !bytes.Equal(got, c1.Secret) {
				t.Fatalf("Lazily over a changed row = %v", err)
			}
			stored, _ := st.ConnectionByID(ctx, c1.ID)
			if !bytes.Equal(stored.Secret, newer) {
				t.Fatal("Lazily overwrote a concurrent write")
			}
			stored0, _ := st.ConnectionByID(ctx, c0.ID)
			if pt, err := sealer(t, b).Open(stored0.Secret, secrets.ConnectionBinding(c0.ID)); err != nil || string(pt) != "token-conn-000" {
				t.Fatalf("re-sealed value under B alone: %q, %v", pt, err)
			}
			// Current values are left alone without a write.
			if got, err := rekey.Lazily(ctx, st.Bun(), ba, rekey.Connections, stored0.Secret, c0.ID); err != nil || !bytes.Equal(got, stored0.Secret) {
				t.Fatalf("Lazily on a current value: %v", err)
			}
		})
	}
}
