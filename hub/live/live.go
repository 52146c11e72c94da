// Package live fans incident events out to the hub's server-sent-event
// streams, across replicas through PostgreSQL LISTEN/NOTIFY when the hub
// runs on PostgreSQL, in-process on SQLite.
package live

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"
)

// Event types, as the frontend knows them.
const (
	IncidentUpdate  = "incident_update"
	AlertCorrelated = "alert_correlated"
	RCAComplete     = "rca_complete"
)

// Event is one live update; the JSON is what an SSE client receives.
type Event struct {
	Type             string   `json:"type"`
	IncidentID       string   `json:"incident_id"`
	Source           string   `json:"source,omitempty"`
	CorrelationScore *float64 `json:"correlation_score,omitempty"`
	// CorrelatedIncidentID is the incident that was attached to IncidentID.
	CorrelatedIncidentID string `json:"correlated_incident_id,omitempty"`
	// AlertTitle is the title of the correlated incident (alert_correlated).
	AlertTitle string `json:"alert_title,omitempty"`
	// CustomFieldsUpdated: the update set custom fields (incident_update).
	CustomFieldsUpdated bool   `json:"custom_fields_updated,omitempty"`
	Status              string `json:"status,omitempty"`
}

// Update is an event for one tenant's subscribers; its JSON is what
// travels between replicas.
type Update struct {
	OwnerKind string `json:"k"`
	OwnerID   string `json:"o"`
	Event     Event  `json:"e"`
}

const channel = "aurora_hub_live"

// maxPayload is PostgreSQL's limit on a notification's payload (bytes,
// exclusive).
const maxPayload = 8000

// subscriberBuffer events may wait for a slow client; past that the
// client's stream is ended (it reconnects and refetches).
const subscriberBuffer = 64

// Broker delivers events to subscribers of the same tenant.
type Broker struct {
	db  Notifier // nil: in-process only
	log hclog.Logger

	mu     sync.Mutex
	subs   map[string]map[*Subscription]struct{}
	closed bool
}

// Subscription is one client's stream of events.
type Subscription struct {
	C    chan Event
	key  string
	once sync.Once
}

// Notifier sends PostgreSQL notifications, in order, in one transaction;
// *store.Store is one.
type Notifier interface {
	Notify(ctx context.Context, channel string, payloads ...string) error
}

// New returns a broker. On PostgreSQL (postgres true) events travel through
// NOTIFY (sent by db) to every replica, this one included; run Listen to
// receive them.
func New(db Notifier, postgres bool, log hclog.Logger) *Broker {
	b := &Broker{log: log, subs: map[string]map[*Subscription]struct{}{}}
	if postgres {
		b.db = db
	}
	return b
}

func key(kind, id string) string { return kind + "\x00" + id }

// Listen receives other replicas' events until ctx ends (PostgreSQL only;
// on SQLite it returns at once).
func (b *Broker) Listen(ctx context.Context, postgresURL string) error {
	if b.db == nil {
		return nil
	}
	l := &pgxlisten.Listener{
		Connect:        func(ctx context.Context) (*pgx.Conn, error) { return pgx.Connect(ctx, postgresURL) },
		LogError:       func(_ context.Context, err error) { b.log.Warn("live events listener", "error", err) },
		ReconnectDelay: 2 * time.Second,
	}
	l.Handle(channel, pgxlisten.HandlerFunc(func(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
		updates, err := unpack(n.Payload)
		if err != nil {
			b.log.Warn("undecodable live event", "error", err)
			return nil
		}
		for _, u := range updates {
			b.deliver(u)
		}
		return nil
	}))
	err := l.Listen(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Publish sends ev to the tenant's subscribers on every replica. It never
// fails the caller's work: a lost live update only delays the UI.
func (b *Broker) Publish(ctx context.Context, ownerKind, ownerID string, ev Event) {
	b.PublishAll(ctx, []Update{{OwnerKind: ownerKind, OwnerID: ownerID, Event: ev}})
}

// PublishAll sends updates, in order, as Publish does; on PostgreSQL in one
// statement (a transaction's updates: one round trip, not one each), as
// few notifications as hold them (pack).
func (b *Broker) PublishAll(ctx context.Context, updates []Update) {
	if len(updates) == 0 {
		return
	}
	if b.db == nil {
		for _, u := range updates {
			b.deliver(u)
		}
		return
	}
	encoded := make([][]byte, 0, len(updates))
	for _, u := range updates {
		payload, err := json.Marshal(u)
		if err != nil {
			b.log.Error("encoding live event", "error", err)
			continue
		}
		if len(payload)+2 >= maxPayload {
			// It would fail the statement, and the others with it.
			b.log.Warn("live event too large for a notification", "incident_id", u.Event.IncidentID, "bytes", len(payload))
			continue
		}
		encoded = append(encoded, payload)
	}
	if err := b.db.Notify(ctx, channel, pack(encoded)...); err != nil {
		b.log.Warn("publishing live events", "events", len(encoded), "error", err)
	}
}

// pack joins encoded updates, in order, into as few notifications as hold
// them: JSON arrays under maxPayload. Every replica's listener receives
// every notification, and PostgreSQL queues each: one per update was 15%
// of early correlation's time in a storm of 50,000 (each correlation is an
// update).
func pack(encoded [][]byte) []string {
	var out []string
	var buf []byte
	for _, e := range encoded {
		if len(buf) > 0 && len(buf)+len(e)+2 >= maxPayload {
			out = append(out, string(append(buf, ']')))
			buf = buf[:0]
		}
		if len(buf) == 0 {
			buf = append(buf, '[')
		} else {
			buf = append(buf, ',')
		}
		buf = append(buf, e...)
	}
	if len(buf) > 0 {
		out = append(out, string(append(buf, ']')))
	}
	return out
}

// unpack decodes a notification: an array of updates, or one update (as
// replicas before pack sent them, during a rolling upgrade).
func unpack(payload string) ([]Update, error) {
	if strings.HasPrefix(payload, "[") {
		var us []Update
		err := json.Unmarshal([]byte(payload), &us)
		return us, err
	}
	var u Update
	if err := json.Unmarshal([]byte(payload), &u); err != nil {
		return nil, err
	}
	return []Update{u}, nil
}

func (b *Broker) deliver(e Update) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs[key(e.OwnerKind, e.OwnerID)] {
		select {
		case s.C <- e.Event:
		default:
			// A client that does not read is dropped rather than slowing
			// everyone; it reconnects and refetches.
			b.removeLocked(s)
		}
	}
}

// Subscribe opens a stream of the tenant's events; call Close when done.
func (b *Broker) Subscribe(ownerKind, ownerID string) (*Subscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, fmt.Errorf("live: broker closed")
	}
	s := &Subscription{C: make(chan Event, subscriberBuffer), key: key(ownerKind, ownerID)}
	if b.subs[s.key] == nil {
		b.subs[s.key] = map[*Subscription]struct{}{}
	}
	b.subs[s.key][s] = struct{}{}
	return s, nil
}

// Unsubscribe ends s; its channel is closed.
func (b *Broker) Unsubscribe(s *Subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.removeLocked(s)
}

func (b *Broker) removeLocked(s *Subscription) {
	if m := b.subs[s.key]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(b.subs, s.key)
		}
	}
	s.once.Do(func() { close(s.C) })
}

// Close ends every stream (at shutdown, so the HTTP server can drain).
func (b *Broker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for _, m := range b.subs {
		for s := range m {
			b.removeLocked(s)
		}
	}
}
