package webhooks

import (
	"maps"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/hashicorp/go-hclog"
)

// maxSampleConnections bounds the connection ids a sample names.
const maxSampleConnections = 4

// maxSampleValue bounds each request-supplied value a sample carries (the
// user id of the URL, delivery and subscription headers): they come from
// the internet.
const maxSampleValue = 64

// rejection is one refused delivery.
type rejection struct {
	provider    string
	reason      string // short and fixed: too_large, unknown_user, unauthenticated, ...
	userID      string
	header      map[string][]string
	connections []string
	err         *hub.Error
}

// rejectLog counts rejected deliveries per provider and reason and logs
// them at a bounded rate: a rejection after a quiet interval is logged at
// once; the ones that follow within the interval are only counted, and one
// summary line (counts per reason and one sample, the interval's first)
// is written when the interval ends. So an endless flood writes one line
// per interval, whatever its rate. Nothing secret is logged: no signature,
// no body, no header but the delivery and subscription ids.
type rejectLog struct {
	log   hclog.Logger
	every time.Duration

	mu      sync.Mutex
	last    time.Time        // when the last line was written
	pending map[string]int64 // provider/reason -> rejections not yet logged
	sample  []any            // key/values of the first pending rejection
	timer   *time.Timer      // the pending summary, nil when none
	totals  map[string]int64 // provider/reason -> rejections since start
}

func newRejectLog(log hclog.Logger, every time.Duration) *rejectLog {
	return &rejectLog{log: log, every: every, pending: map[string]int64{}, totals: map[string]int64{}}
}

// add counts r and logs it, or schedules the summary that will.
func (l *rejectLog) add(r rejection) {
	key := r.provider + "/" + r.reason
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.totals[key]++
	if l.timer == nil && now.Sub(l.last) >= l.every {
		l.last = now
		l.log.Warn("webhook rejected", append(r.fields(), "total_rejected", l.totals[key])...)
		return
	}
	l.pending[key]++
	if l.sample == nil {
		l.sample = r.fields()
	}
	if l.timer == nil {
		l.timer = time.AfterFunc(l.last.Add(l.every).Sub(now), l.flush)
	}
}

// flush writes the summary of the pending rejections.
func (l *rejectLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.timer = nil
	if len(l.pending) == 0 {
		return
	}
	var n int64
	for _, c := range l.pending {
		n += c
	}
	l.last = time.Now()
	kv := []any{"rejected", n, "by_reason", maps.Clone(l.pending), "interval", l.every.String()}
	for i := 0; i+1 < len(l.sample); i += 2 {
		kv = append(kv, "sample_"+l.sample[i].(string), l.sample[i+1])
	}
	l.log.Warn("webhooks rejected", kv...)
	clear(l.pending)
	l.sample = nil
}

// Totals returns how many deliveries were rejected since start, per
// "provider/reason".
func (l *rejectLog) Totals() map[string]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.totals)
}

// fields are r's key/values for a log line.
func (r rejection) fields() []any {
	kv := []any{"provider", r.provider, "reason", r.reason, "user_id", bounded(r.userID)}
	if r.err != nil {
		kv = append(kv, "code", r.err.Code, "message", r.err.Message)
	}
	if len(r.connections) > 0 {
		kv = append(kv, "connections", strings.Join(r.connections, ","))
	}
	if v := r.header["X-Webhook-Id"]; len(v) > 0 {
		kv = append(kv, "delivery_id", bounded(v[0]))
	}
	if v := r.header["X-Webhook-Subscription"]; len(v) > 0 {
		kv = append(kv, "subscription", bounded(v[0]))
	}
	return kv
}

// bounded cuts s to maxSampleValue bytes (on a rune boundary).
func bounded(s string) string {
	if len(s) <= maxSampleValue {
		return s
	}
	cut := maxSampleValue
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
