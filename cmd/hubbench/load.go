package main

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/aurora-hub/aurora-hub/cmd/internal/loadgen"
	"github.com/aurora-hub/aurora-hub/tools/pdsim"
)

var pdStatus = map[string]string{"incident.triggered": "triggered", "incident.acknowledged": "acknowledged", "incident.resolved": "resolved"}

// lifecycleBodies builds n distinct signed events over 1,000 incidents:
// each triggered, then acknowledged, then resolved (and again), so every
// request is a new event the hub must store and apply.
func lifecycleBodies(n int) []loadgen.Body {
	out := make([]loadgen.Body, n)
	base := time.Now().Add(-time.Hour)
	types := []string{"incident.triggered", "incident.acknowledged", "incident.resolved"}
	for i := range out {
		id := fmt.Sprintf("PBENCH%04d", i%1000)
		typ := types[(i/1000)%3]
		inc := pdsim.WebhookIncident{
			ID: id, Number: i%1000 + 1, Title: "Bench incident " + id, Status: pdStatus[typ], Urgency: "high",
			Service:  &pdsim.Reference{ID: "PSVC001", Type: "service_reference", Summary: "payments-api"},
			Priority: &pdsim.Reference{ID: "PPRIO01", Type: "priority_reference", Summary: "P1"},
		}
		out[i] = sign(inc, typ, base.Add(time.Duration(i)*time.Millisecond), fmt.Sprintf("01BENCH%019d", i))
	}
	return out
}

// stormBodies builds n signed incident.triggered events, each of a new
// incident, over 20 services: what an outage sends.
func stormBodies(n int) []loadgen.Body {
	out := make([]loadgen.Body, n)
	base := time.Now().Add(-time.Minute)
	for i := range out {
		id := fmt.Sprintf("PSTORM%07d", i)
		svc := i % 20
		inc := pdsim.WebhookIncident{
			ID: id, Number: i + 1, Title: fmt.Sprintf("Storm: checkout errors on svc-%02d (%d)", svc, i), Status: "triggered", Urgency: "high",
			Service:  &pdsim.Reference{ID: fmt.Sprintf("PSVC%03d", svc), Type: "service_reference", Summary: fmt.Sprintf("svc-%02d", svc)},
			Priority: &pdsim.Reference{ID: "PPRIO01", Type: "priority_reference", Summary: "P1"},
		}
		out[i] = sign(inc, "incident.triggered", base.Add(time.Duration(i)*time.Microsecond), fmt.Sprintf("01STORM%019d", i))
	}
	return out
}

func sign(inc pdsim.WebhookIncident, typ string, at time.Time, eventID string) loadgen.Body {
	ev := pdsim.IncidentEvent(typ, inc).At(at)
	ev.ID = eventID
	b := ev.Body()
	return loadgen.Body{Body: b, Sig: pdsim.Sign(secret, b), Incident: inc.ID}
}

// load sends bodies in order (one pass, then again from the start) through
// the shared load generator, and remembers when each body was accepted.
type load struct {
	url    string
	bodies []loadgen.Body
	// accepted[i] is when body i was answered 202 (unix ns), when recorded.
	accepted []atomic.Int64
	// sent counts requests over the load's phases.
	sent atomic.Int64
}

func newLoad(url string, bodies []loadgen.Body, record bool) *load {
	l := &load{url: url, bodies: bodies}
	if record {
		l.accepted = make([]atomic.Int64, len(bodies))
	}
	return l
}

// tally collects one phase's outcomes: latencies per worker, counts.
type tally struct {
	l       *load
	lat     [][]time.Duration
	ok, err atomic.Int64
}

func (l *load) tally(workers int) *tally {
	return &tally{l: l, lat: make([][]time.Duration, workers)}
}

func (t *tally) record(w, body int, _ time.Time, latency time.Duration, ok bool) {
	t.l.sent.Add(1)
	if ok {
		t.ok.Add(1)
		if t.l.accepted != nil {
			t.l.accepted[body].Store(time.Now().UnixNano())
		}
	} else {
		t.err.Add(1)
	}
	t.lat[w] = append(t.lat[w], latency)
}

// closedLoop keeps conns requests in flight for d.
func (l *load) closedLoop(conns int, d time.Duration) (ok, errs int64, p percentiles) {
	t := l.tally(conns)
	loadgen.New([]string{l.url}, userID, l.bodies, conns).ClosedLoop(conns, d, t.record)
	return t.ok.Load(), t.err.Load(), loadgen.Summarize(t.lat...)
}

// openLoop sends rate requests per second for d on a fixed schedule and
// measures each from its scheduled time (no coordinated omission). It
// returns when every request is answered.
func (l *load) openLoop(rate int, d time.Duration) (p percentiles, ok, errs int64) {
	const workers = 256
	t := l.tally(workers)
	loadgen.New([]string{l.url}, userID, l.bodies, workers).OpenLoop(rate, workers, d, nil, t.record)
	return loadgen.Summarize(t.lat...), t.ok.Load(), t.err.Load()
}

type percentiles = loadgen.Percentiles
