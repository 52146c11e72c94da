// Package webhooks receives provider webhooks: it finds the connection,
// has the plugin verify and parse the delivery, and records the events
// durably (with their processing job) before the hub answers.
package webhooks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/connections"
	"github.com/aurora-hub/aurora-hub/hub/rekey"
	"github.com/aurora-hub/aurora-hub/hub/secrets"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
)

// MaxBodyBytes is the largest delivery accepted: PagerDuty sends at most 256 KB.
const MaxBodyBytes = 256 << 10

// Handler is the plugin capability deliveries go through.
type Handler interface {
	HandleWebhook(ctx context.Context, req *sdk.WebhookRequest) (*sdk.WebhookResult, error)
}

// Service receives webhooks and manages signing secrets.
type Service struct {
	store  *store.Store
	sealer *secrets.Sealer
	log    hclog.Logger
	inbox  *Inbox
	opts   Options

	mu        sync.Mutex
	cache     map[string]cacheEntry
	nextSweep time.Time
	// lastErrorWrite throttles writes of rejected deliveries per connection.
	lastErrorWrite map[string]time.Time
}

// Options tune the service.
type Options struct {
	// SecretGrace is how long a replaced secret stays valid (default 24h).
	SecretGrace time.Duration
	// CacheTTL bounds how long a connection lookup is reused (default 2s);
	// changes made through this process invalidate it at once.
	CacheTTL time.Duration
	// Env is the hub's environment: <PROVIDER>_WEBHOOK_ALLOW_UNSIGNED=true
	// there lets that provider's deliveries be accepted, marked unverified,
	// when the connection has no secret (read per delivery, so a plugin
	// added later by SIGHUP is covered too).
	Env map[string]string
}

type cacheEntry struct {
	conn    *hub.Connection // nil: no connection
	secrets []string
	expires time.Time
}

// New returns a Service recording into inbox.
func New(st *store.Store, sealer *secrets.Sealer, inbox *Inbox, log hclog.Logger, o Options) *Service {
	if o.SecretGrace == 0 {
		o.SecretGrace = 24 * time.Hour
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = 2 * time.Second
	}
	return &Service{
		store: st, sealer: sealer, log: log, inbox: inbox, opts: o,
		cache: map[string]cacheEntry{}, lastErrorWrite: map[string]time.Time{},
	}
}

// Invalidate forgets cached lookups; call it after a connection or its
// secrets change.
func (s *Service) Invalidate() {
	s.mu.Lock()
	clear(s.cache)
	s.mu.Unlock()
}

// lookup returns the connection webhooks for userID go to, with its open
// secrets, from a short-lived cache.
func (s *Service) lookup(ctx context.Context, provider, userID string) (cacheEntry, error) {
	key := provider + "\x00" + userID
	now := time.Now()
	s.mu.Lock()
	e, ok := s.cache[key]
	s.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e, nil
	}
	e = cacheEntry{expires: now.Add(s.opts.CacheTTL)}
	conn, err := s.store.ConnectionForUser(ctx, provider, userID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return e, err
	default:
		e.conn = conn
		secs, err := s.store.ActiveWebhookSecrets(ctx, conn.ID, now)
		if err != nil {
			return e, err
		}
		for _, sec := range secs {
			pt, err := s.sealer.Open(sec.Secret, secretBinding(conn.ID, sec.ID))
			if err != nil {
				return e, fmt.Errorf("opening webhook secret %s: %w", sec.ID, err)
			}
			if _, err := rekey.Lazily(ctx, s.store.DB, s.sealer, rekey.WebhookSecrets, sec.Secret, sec.ID, conn.ID); err != nil {
				s.log.Warn("re-sealing a webhook secret with the current key failed; the next lookup retries", "secret", sec.ID, "error", err)
			}
			e.secrets = append(e.secrets, string(pt))
		}
	}
	s.mu.Lock()
	s.remember(key, e, now)
	s.mu.Unlock()
	return e, nil
}

// maxCacheEntries bounds the lookup cache: its keys come from the public
// webhook URL, so unknown user ids must not grow it without limit.
const maxCacheEntries = 10_000

// remember caches e; when the cache is full it first drops expired entries
// (at most once per TTL), and caches nothing while it stays full.
func (s *Service) remember(key string, e cacheEntry, now time.Time) {
	if len(s.cache) >= maxCacheEntries && now.After(s.nextSweep) {
		for k, v := range s.cache {
			if now.After(v.expires) {
				delete(s.cache, k)
			}
		}
		s.nextSweep = now.Add(s.opts.CacheTTL)
	}
	if len(s.cache) < maxCacheEntries {
		s.cache[key] = e
	}
}

func secretBinding(connID, secretID string) string {
	return secrets.WebhookSecretBinding(connID, secretID)
}

// Receipt says what happened to a delivery.
type Receipt struct {
	Recorded   int
	Duplicates int
	Verified   bool
	Reason     string
}

// Receive verifies, parses and records one delivery. displayName names the
// provider in the "not connected" error.
func (s *Service) Receive(ctx context.Context, h Handler, provider, displayName, userID string, body []byte, header map[string][]string) (*Receipt, error) {
	if len(body) > MaxBodyBytes {
		return nil, hub.Errorf(hub.ETooLarge, "Webhook body exceeds %d KB", MaxBodyBytes>>10)
	}
	e, err := s.lookup(ctx, provider, userID)
	if err != nil {
		return nil, err
	}
	if e.conn == nil {
		return nil, hub.Errorf(hub.ENotFound, "%s not connected for this user", displayName)
	}
	res, err := h.HandleWebhook(ctx, &sdk.WebhookRequest{
		Body: body, Header: header, Secrets: e.secrets, AllowUnsigned: s.AllowsUnsigned(provider),
	})
	if err != nil {
		herr := connections.FromPluginError(err)
		s.rejected(ctx, e.conn, provider, header, herr)
		return nil, herr
	}
	now := time.Now().UTC()
	rows := make([]store.InboxEvent, 0, len(res.Events))
	for _, ev := range res.Events {
		row, err := inboxRow(e.conn, res, ev, now)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	inserted, err := s.inbox.Record(ctx, e.conn.ID, rows)
	if err != nil {
		return nil, err
	}
	r := &Receipt{Recorded: inserted, Duplicates: len(rows) - inserted, Verified: res.Verified}
	switch {
	case len(rows) > 0 && inserted == 0:
		r.Reason = "duplicate delivery: already recorded"
	case len(res.Events) == 1 && res.Events[0].Incident == nil:
		r.Reason = "recorded: " + res.Events[0].Type + " does not change incidents"
	}
	return r, nil
}

func (s *Service) rejected(ctx context.Context, conn *hub.Connection, provider string, header map[string][]string, err *hub.Error) {
	sub := ""
	if v := header["X-Webhook-Subscription"]; len(v) > 0 {
		sub = v[0]
	}
	s.log.Warn("webhook rejected", "provider", provider, "connection", conn.ID, "subscription", sub, "code", err.Code, "reason", err.Message)
	now := time.Now()
	s.mu.Lock()
	recent := now.Sub(s.lastErrorWrite[conn.ID]) < time.Second
	if !recent {
		s.lastErrorWrite[conn.ID] = now
	}
	s.mu.Unlock()
	if recent {
		return // a flood of bad deliveries must not become a flood of writes
	}
	if werr := s.store.RecordWebhookError(context.WithoutCancel(ctx), conn.ID, err.Message, now); werr != nil {
		s.log.Error("recording webhook error", "error", werr)
	}
}

func inboxRow(conn *hub.Connection, res *sdk.WebhookResult, ev sdk.Event, now time.Time) (store.InboxEvent, error) {
	id := ev.ID
	if id == "" {
		id = res.DeliveryID
	}
	if id == "" {
		return store.InboxEvent{}, hub.Errorf(hub.EInvalid, "Missing event id")
	}
	enc, err := encodeEvent(ev)
	if err != nil {
		return store.InboxEvent{}, err
	}
	row := store.InboxEvent{
		Provider: conn.Provider, ConnectionID: conn.ID, OwnerKind: conn.OwnerKind, OwnerID: conn.OwnerID,
		EventID: id, WebhookID: res.DeliveryID, EventType: ev.Type, Verified: res.Verified,
		Event: enc, ReceivedAt: now,
	}
	if !ev.OccurredAt.IsZero() {
		t := ev.OccurredAt.UTC()
		row.OccurredAt = &t
	}
	return row, nil
}

// PutSecret stores a signing secret for the connection; the previous ones
// stay valid for the grace period.
func (s *Service) PutSecret(ctx context.Context, conn *hub.Connection, secret, source string) error {
	secret = strings.TrimSpace(secret)
	if secret == "" {
		return hub.Errorf(hub.EInvalid, "Secret required")
	}
	if len(secret) > 1024 {
		return hub.Errorf(hub.EInvalid, "Secret too long")
	}
	id := uuid.NewString()
	sealed, err := s.sealer.Seal([]byte(secret), secretBinding(conn.ID, id))
	if err != nil {
		return err
	}
	err = s.store.AddWebhookSecret(ctx, &store.WebhookSecret{
		ID: id, ConnectionID: conn.ID, Secret: sealed, Source: source, CreatedAt: time.Now().UTC(),
	}, s.opts.SecretGrace)
	s.Invalidate()
	return err
}

// Secret sources.
const (
	SourceManual       = "manual"
	SourceSubscription = "subscription"
)

// DeleteSecrets removes the connection's signing secrets of source (all when "").
func (s *Service) DeleteSecrets(ctx context.Context, conn *hub.Connection, source string) error {
	err := s.store.DeleteWebhookSecrets(ctx, conn.ID, source)
	s.Invalidate()
	return err
}

// SecretCount is how many secrets currently verify deliveries.
func (s *Service) SecretCount(ctx context.Context, conn *hub.Connection) (int, error) {
	secs, err := s.store.ActiveWebhookSecrets(ctx, conn.ID, time.Now())
	return len(secs), err
}

// AllowsUnsigned reports whether provider's deliveries may go unverified.
func (s *Service) AllowsUnsigned(provider string) bool {
	return s.opts.Env[AllowUnsignedEnv(provider)] == "true"
}

// AllowUnsignedEnv names the variable that lets provider's webhooks be
// accepted unsigned, e.g. PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED.
func AllowUnsignedEnv(provider string) string {
	return strings.ToUpper(strings.ReplaceAll(provider, "-", "_")) + "_WEBHOOK_ALLOW_UNSIGNED"
}
