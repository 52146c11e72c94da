// Package webhooks receives provider webhooks: it finds the connection,
// has the plugin verify and parse the delivery, and records the events
// durably (with their processing job) before the hub answers.
package webhooks

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/rekey"
	"github.com/aurora-hub/aurora-hub/hub/secrets"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/host"
	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/sync/singleflight"
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
	// gen counts Invalidate calls: a load started before one is neither
	// shared with lookups after it nor cached.
	gen uint64
	// loads shares one load of an expired or missing entry among the
	// deliveries that need it at the same time.
	loads singleflight.Group
	// lastErrorWrite throttles writes of rejected deliveries per connection.
	lastErrorWrite map[string]time.Time
	// rejects counts rejected deliveries and logs them at a bounded rate.
	rejects *rejectLog
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
	// RejectLogInterval is the least time between two log lines about
	// rejected deliveries (default 10s): the first rejection is logged at
	// once, then at most one summary per interval, with counts per reason
	// and one sample.
	RejectLogInterval time.Duration
}

// cacheEntry is what a webhook URL's user id reaches.
type cacheEntry struct {
	cands   []candidate // none: no connection
	expires time.Time
}

// candidate is a connection a delivery may belong to, with its open secrets.
type candidate struct {
	conn    *hub.Connection
	secrets []string
}

// New returns a Service recording into inbox.
func New(st *store.Store, sealer *secrets.Sealer, inbox *Inbox, log hclog.Logger, o Options) *Service {
	if o.SecretGrace == 0 {
		o.SecretGrace = 24 * time.Hour
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = 2 * time.Second
	}
	if o.RejectLogInterval == 0 {
		o.RejectLogInterval = 10 * time.Second
	}
	return &Service{
		store: st, sealer: sealer, log: log, inbox: inbox, opts: o,
		cache: map[string]cacheEntry{}, lastErrorWrite: map[string]time.Time{},
		rejects: newRejectLog(log, o.RejectLogInterval),
	}
}

// Invalidate forgets cached lookups; call it after a connection or its
// secrets change.
func (s *Service) Invalidate() {
	s.mu.Lock()
	clear(s.cache)
	s.gen++
	s.mu.Unlock()
}

// RememberMembership records that userID acts in orgID (append-only, see
// store.ConnectionsReachableBy), so the user's webhook URL also reaches the
// organisation's connection. A new membership invalidates cached lookups.
func (s *Service) RememberMembership(ctx context.Context, userID, orgID string) error {
	if orgID == "" {
		return nil
	}
	added, err := s.store.AddOrgMembership(ctx, userID, orgID)
	if added {
		s.Invalidate()
	}
	return err
}

// lookup returns the connections webhooks for userID may belong to, with
// their open secrets, from a short-lived cache.
// With keyHash (a keyed URL), the one that is the connection whose URL key
// hashes to it, if userID reaches it.
func (s *Service) lookup(ctx context.Context, provider, userID, keyHash string) (cacheEntry, error) {
	key := provider + "\x00" + userID + "\x00" + keyHash
	now := time.Now()
	s.mu.Lock()
	e, ok := s.cache[key]
	gen := s.gen
	s.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e, nil
	}
	// When an entry expires under load, every delivery in flight misses it
	// at once: they share one load (its queries and secret openings) instead
	// of each doing it. The load outlives a caller that gives up, and fills
	// the cache for the others.
	ch := s.loads.DoChan(strconv.FormatUint(gen, 10)+"\x00"+key, func() (any, error) {
		return s.load(context.WithoutCancel(ctx), provider, userID, keyHash, key, gen)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return cacheEntry{}, r.Err
		}
		return r.Val.(cacheEntry), nil
	case <-ctx.Done():
		return cacheEntry{}, ctx.Err()
	}
}

// load reads what key reaches from the database and caches it, unless
// Invalidate was called since generation gen.
func (s *Service) load(ctx context.Context, provider, userID, keyHash, key string, gen uint64) (cacheEntry, error) {
	now := time.Now()
	// A caller that missed the cache just before another's load filled it
	// (and left the group) takes that entry instead of loading again.
	s.mu.Lock()
	cached, ok := s.cache[key]
	fresh := ok && s.gen == gen && now.Before(cached.expires)
	s.mu.Unlock()
	if fresh {
		return cached, nil
	}
	e := cacheEntry{expires: now.Add(s.opts.CacheTTL)}
	conns, err := s.store.ConnectionsReachableBy(ctx, provider, userID)
	if err != nil {
		return e, err
	}
	if keyHash != "" {
		id, err := s.store.ConnectionIDByWebhookKey(ctx, keyHash)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return e, err
		}
		conns = slices.DeleteFunc(conns, func(c *hub.Connection) bool { return c.ID != id })
	}
	for _, conn := range conns {
		c := candidate{conn: conn}
		secs, err := s.store.ActiveWebhookSecrets(ctx, conn.ID, now)
		if err != nil {
			return e, err
		}
		for _, sec := range secs {
			pt, err := s.sealer.Open(sec.Secret, secretBinding(conn.ID, sec.ID))
			if err != nil {
				return e, fmt.Errorf("opening webhook secret %s: %w", sec.ID, err)
			}
			if _, err := rekey.Lazily(ctx, s.store.Bun(), s.sealer, rekey.WebhookSecrets, sec.Secret, sec.ID, conn.ID); err != nil {
				s.log.Warn("re-sealing a webhook secret with the current key failed; the next lookup retries", "secret", sec.ID, "error", err)
			}
			c.secrets = append(c.secrets, string(pt))
		}
		e.cands = append(e.cands, c)
	}
	s.mu.Lock()
	if s.gen == gen {
		s.remember(key, e, now)
	}
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

// maxURLKeyLen bounds a URL key; URLKey makes 32-character ones.
const maxURLKeyLen = 128

// URLKey returns the connection's webhook URL key, made on first use: a
// random value only the connection's owners are shown (GET
// /<provider>/webhook-url), for an unguessable webhook URL that reaches this
// connection alone. The store keeps its SHA-256 to find the connection, and
// the key sealed to show it again.
func (s *Service) URLKey(ctx context.Context, conn *hub.Connection) (string, error) {
	k, err := s.store.WebhookKeyOf(ctx, conn.ID)
	if errors.Is(err, store.ErrNotFound) {
		if err := s.addURLKey(ctx, conn); err != nil {
			return "", err
		}
		k, err = s.store.WebhookKeyOf(ctx, conn.ID) // a concurrent call may have won
	}
	if err != nil {
		return "", err
	}
	pt, err := s.sealer.Open(k.KeySealed, keyBinding(conn.ID))
	if err != nil {
		return "", fmt.Errorf("opening webhook key: %w", err)
	}
	return string(pt), nil
}

// addURLKey makes and stores a URL key for conn unless it has one.
func (s *Service) addURLKey(ctx context.Context, conn *hub.Connection) error {
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("making webhook key: %w", err)
	}
	key := base64.RawURLEncoding.EncodeToString(raw)
	sealed, err := s.sealer.Seal([]byte(key), keyBinding(conn.ID))
	if err != nil {
		return err
	}
	return s.store.AddWebhookKey(ctx, &store.WebhookKey{
		ConnectionID: conn.ID, KeyHash: hashURLKey(key), KeySealed: sealed, CreatedAt: time.Now(),
	})
}

func hashURLKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func keyBinding(connID string) string { return secrets.WebhookKeyBinding(connID) }

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

// ReceiveKeyed is Receive for a keyed URL (/<provider>/webhook/{user_id}/{key}):
// the delivery can only belong to the connection whose URL key is key (see
// URLKey), so unsigned mode applies whenever that connection has no secret.
func (s *Service) ReceiveKeyed(ctx context.Context, h Handler, provider, displayName, userID, key string, body []byte, header map[string][]string) (*Receipt, error) {
	if key == "" || len(key) > maxURLKeyLen {
		err := hub.Errorf(hub.ENotFound, "%s not connected for this user", displayName)
		s.rejects.add(rejection{provider: provider, reason: "unknown_key", userID: userID, header: header, err: err})
		return nil, err
	}
	return s.receive(ctx, h, provider, displayName, userID, hashURLKey(key), body, header)
}

// Receive verifies, parses and records one delivery addressed to userID.
// displayName names the provider in the "not connected" error.
//
// The delivery belongs to the one connection, among those userID reaches
// (store.ConnectionsReachableBy), whose signing secrets verify it. Unsigned
// mode (<PROVIDER>_WEBHOOK_ALLOW_UNSIGNED) applies only when userID reaches
// exactly one connection and it has no secret. Anything else that does not
// single out one connection is refused, never guessed.
func (s *Service) Receive(ctx context.Context, h Handler, provider, displayName, userID string, body []byte, header map[string][]string) (*Receipt, error) {
	return s.receive(ctx, h, provider, displayName, userID, "", body, header)
}

// RejectUnread counts and logs, like every other rejection, a delivery
// refused before its body could be read (too large once decoded, or in a
// content coding the route does not take).
func (s *Service) RejectUnread(provider, userID string, err error) {
	var he *hub.Error
	if !errors.As(err, &he) {
		return
	}
	reason := "unreadable_body"
	if he.Code == hub.ETooLarge {
		reason = "too_large"
	}
	s.rejects.add(rejection{provider: provider, reason: reason, userID: userID, err: he})
}

func (s *Service) receive(ctx context.Context, h Handler, provider, displayName, userID, keyHash string, body []byte, header map[string][]string) (*Receipt, error) {
	if len(body) > MaxBodyBytes {
		err := hub.Errorf(hub.ETooLarge, "Webhook body exceeds %d KB", MaxBodyBytes>>10)
		s.rejects.add(rejection{provider: provider, reason: "too_large", userID: userID, header: header, err: err})
		return nil, err
	}
	e, err := s.lookup(ctx, provider, userID, keyHash)
	if err != nil {
		return nil, err
	}
	var tried []candidate
	switch signed := signedCandidates(e.cands); {
	case len(e.cands) == 0:
		reason := "unknown_user"
		if keyHash != "" {
			reason = "unknown_key"
		}
		err := hub.Errorf(hub.ENotFound, "%s not connected for this user", displayName)
		s.rejects.add(rejection{provider: provider, reason: reason, userID: userID, header: header, err: err})
		return nil, err
	case len(e.cands) > store.MaxReachable:
		err := hub.Errorf(hub.EConflict, "This webhook URL reaches more than %d %s connections: refused", store.MaxReachable, displayName)
		s.rejected(ctx, e.cands, rejection{provider: provider, reason: "too_many_connections", userID: userID, header: header, err: err})
		return nil, err
	case len(signed) == 0 && len(e.cands) > 1:
		err := hub.Errorf(hub.EUnauthorized, "Webhook refused: this URL reaches several %s connections and none has a signing secret, so an unsigned delivery cannot be attributed. Set a secret with PUT /%s/webhook-secret, or use the keyed URL of GET /%s/webhook-url.", displayName, provider, provider)
		s.rejected(ctx, e.cands, rejection{provider: provider, reason: "unsigned_ambiguous", userID: userID, header: header, err: err})
		return nil, err
	case len(signed) == 0:
		tried = e.cands // one connection, no secret: the plugin applies unsigned mode
	default:
		tried = signed
	}
	req := &sdk.WebhookRequest{Body: body, Header: header, AllowUnsigned: len(tried) == 1 && len(tried[0].secrets) == 0 && s.AllowsUnsigned(provider)}
	res, inserted, refused, err := s.deliver(ctx, h, tried, req)
	if refused != nil {
		s.rejected(ctx, tried, rejection{provider: provider, reason: string(refused.Code), userID: userID, header: header, err: refused})
		return nil, refused
	}
	if err != nil {
		return nil, err
	}
	r := &Receipt{Recorded: inserted, Duplicates: len(res.Events) - inserted, Verified: res.Verified}
	switch {
	case len(res.Events) > 0 && inserted == 0:
		r.Reason = "duplicate delivery: already recorded"
	case len(res.Events) == 1 && res.Events[0].Incident == nil:
		r.Reason = "recorded: " + res.Events[0].Type + " does not change incidents"
	}
	return r, nil
}

// deliver has the plugin verify and parse req for one of cands and records
// its events: res is the plugin's answer and inserted how many events were
// new, refused the plugin's refusal (or that no single candidate took it),
// err a failure to record.
func (s *Service) deliver(ctx context.Context, h Handler, cands []candidate, req *sdk.WebhookRequest) (res *sdk.WebhookResult, inserted int, refused *hub.Error, err error) {
	if plugin, ok := h.(host.WebhookSender); ok && len(cands) == 1 {
		// One connection, the common case: the inbox takes the plugin's answer.
		req.Secrets = cands[0].secrets
		res, inserted, err = s.inbox.Send(ctx, plugin, cands[0].conn, req)
		if res == nil && err != nil {
			return nil, 0, hub.AsError(err), nil
		}
		return res, inserted, nil, err
	}
	cand, res, refused := s.verify(ctx, h, cands, req)
	if refused != nil {
		return nil, 0, refused, nil
	}
	rows, err := inboxRows(cand.conn, res, time.Now().UTC())
	if err == nil {
		inserted, err = s.inbox.Record(ctx, cand.conn.ID, rows)
	}
	return res, inserted, nil, err
}

// signedCandidates are the candidates with at least one signing secret
// (cands itself, without allocating, when all have one: the common case).
func signedCandidates(cands []candidate) []candidate {
	if !slices.ContainsFunc(cands, func(c candidate) bool { return len(c.secrets) == 0 }) {
		return cands
	}
	var out []candidate
	for _, c := range cands {
		if len(c.secrets) > 0 {
			out = append(out, c)
		}
	}
	return out
}

// verify has the plugin verify and parse the delivery against each
// candidate's secrets (concurrently when there are several: the plugin
// client batches calls in flight together) and returns the one candidate
// that accepted it. A candidate is ruled out only by CodeUnauthenticated;
// any other failure is returned as is, since without that candidate's
// answer the delivery cannot be attributed. Several candidates accepting
// is a conflict, refused.
func (s *Service) verify(ctx context.Context, h Handler, cands []candidate, req *sdk.WebhookRequest) (candidate, *sdk.WebhookResult, *hub.Error) {
	type outcome struct {
		res *sdk.WebhookResult
		err error
	}
	outs := make([]outcome, len(cands))
	call := func(i int) {
		r := *req
		r.Secrets = cands[i].secrets
		res, err := h.HandleWebhook(ctx, &r)
		outs[i] = outcome{res, err}
	}
	if len(cands) == 1 {
		call(0)
	} else {
		var wg sync.WaitGroup
		for i := range cands {
			wg.Add(1)
			go func() { defer wg.Done(); call(i) }()
		}
		wg.Wait()
	}
	var firstDenied *hub.Error
	match := -1
	for i, o := range outs {
		if o.err != nil {
			herr := hub.AsError(o.err)
			if herr.Code != hub.EUnauthorized {
				return candidate{}, nil, herr
			}
			if firstDenied == nil {
				firstDenied = herr
			}
			continue
		}
		if match >= 0 {
			return candidate{}, nil, hub.Errorf(hub.EConflict, "Webhook signature matches more than one connection: refused")
		}
		match = i
	}
	if match < 0 {
		return candidate{}, nil, firstDenied
	}
	return cands[match], outs[match].res, nil
}

// rejected counts and logs a refused delivery and records it as the last
// webhook error of the connections it was tried against (at most once a
// second per connection: a flood of bad deliveries must not become a flood
// of writes).
func (s *Service) rejected(ctx context.Context, cands []candidate, r rejection) {
	now := time.Now()
	r.connections = make([]string, 0, min(len(cands), maxSampleConnections))
	var write []string
	s.mu.Lock()
	for i, c := range cands {
		if i < maxSampleConnections {
			r.connections = append(r.connections, c.conn.ID)
		}
		if now.Sub(s.lastErrorWrite[c.conn.ID]) >= time.Second {
			s.lastErrorWrite[c.conn.ID] = now
			write = append(write, c.conn.ID)
		}
	}
	if len(s.lastErrorWrite) > maxCacheEntries {
		for id, at := range s.lastErrorWrite {
			if now.Sub(at) >= time.Second {
				delete(s.lastErrorWrite, id)
			}
		}
	}
	s.mu.Unlock()
	s.rejects.add(r)
	for _, id := range write {
		if werr := s.store.RecordWebhookError(context.WithoutCancel(ctx), id, r.err.Message, now); werr != nil {
			s.log.Error("recording webhook error", "connection", id, "error", werr)
		}
	}
}

// inboxRows are the inbox rows of a delivery's events, received at now.
func inboxRows(conn *hub.Connection, res *sdk.WebhookResult, now time.Time) ([]store.InboxEvent, error) {
	rows := make([]store.InboxEvent, 0, len(res.Events))
	for i := range res.Events {
		row, err := inboxRow(conn, res, &res.Events[i], now)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func inboxRow(conn *hub.Connection, res *sdk.WebhookResult, ev *sdk.Event, now time.Time) (store.InboxEvent, error) {
	id := ev.ID
	if id == "" {
		id = res.DeliveryID
	}
	if id == "" {
		return store.InboxEvent{}, hub.Errorf(hub.EInvalid, "Missing event id")
	}
	enc, err := store.EncodeInboxEvent(ev) // the hub's versioned record
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
