// Package loadgen drives signed PagerDuty webhooks at running hubs: the
// load generator of hubbench (throughput, latency) and hubsoak (hours of
// steady load). Every target is a URL on this machine.
package loadgen

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aurora-hub/aurora-hub/tools/pdsim"
	"github.com/valyala/fasthttp"
)

// Body is one signed webhook delivery.
type Body struct {
	Body []byte
	Sig  string
	// Incident is the PagerDuty incident id the body is about.
	Incident string
}

// MakeBodies builds n distinct incident events over 1,000 incidents,
// signed with secret, so every request is a new event that the hub must
// store. prefix keeps event ids of different runs against one database apart.
func MakeBodies(n int, secret, prefix string) []Body {
	out := make([]Body, n)
	base := time.Now().Add(-time.Hour)
	types := []string{"incident.triggered", "incident.acknowledged", "incident.resolved"}
	status := map[string]string{"incident.triggered": "triggered", "incident.acknowledged": "acknowledged", "incident.resolved": "resolved"}
	for i := range out {
		id := fmt.Sprintf("P%sBENCH%04d", prefix, i%1000)
		typ := types[(i/1000)%3]
		inc := pdsim.WebhookIncident{
			ID: id, Number: i%1000 + 1, Title: "Bench incident " + id, Status: status[typ], Urgency: "high",
			Service:  &pdsim.Reference{ID: "PSVC001", Type: "service_reference", Summary: "payments-api"},
			Priority: &pdsim.Reference{ID: "PPRIO01", Type: "priority_reference", Summary: "P1"},
		}
		ev := pdsim.IncidentEvent(typ, inc).At(base.Add(time.Duration(i) * time.Millisecond))
		ev.ID = fmt.Sprintf("01%sBENCH%019d", prefix, i)
		b := ev.Body()
		out[i] = Body{Body: b, Sig: pdsim.Sign(secret, b), Incident: id}
	}
	return out
}

// Generator sends Bodies, in turn, to the webhook URL of UserID on each of
// its targets (round robin: a stand-in for a load balancer).
type Generator struct {
	targets []string
	clients []*fasthttp.HostClient
	bodies  []Body
	userID  string
	next    atomic.Int64
}

// New returns a generator over targets (http://host:port) with up to conns
// connections to each.
func New(targets []string, userID string, bodies []Body, conns int) *Generator {
	g := &Generator{targets: targets, bodies: bodies, userID: userID}
	for _, t := range targets {
		g.clients = append(g.clients, &fasthttp.HostClient{
			Addr: strings.TrimPrefix(t, "http://"), MaxConns: conns,
			ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		})
	}
	return g
}

// send delivers the next body (in order, then again from the start) and
// reports which it was and whether the hub accepted it (202).
func (g *Generator) send() (body int, ok bool) {
	i := int(g.next.Add(1) - 1)
	body = i % len(g.bodies)
	b := g.bodies[body]
	t := i % len(g.targets)
	req := fasthttp.AcquireRequest()
	res := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(res)
	req.SetRequestURI(g.targets[t] + "/pagerduty/webhook/" + g.userID)
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/json")
	req.Header.Set("X-PagerDuty-Signature", b.Sig)
	req.Header.Set("User-Agent", pdsim.UserAgentV3)
	req.SetBodyRaw(b.Body)
	if err := g.clients[t].DoTimeout(req, res, 10*time.Second); err != nil {
		return body, false
	}
	return body, res.StatusCode() == fasthttp.StatusAccepted
}

// Record receives each request's outcome from worker w (one goroutine per
// worker, so a recorder may keep per-worker state without locks); body is
// the index of the body sent.
type Record func(w, body int, sent time.Time, latency time.Duration, ok bool)

// ClosedLoop keeps conns requests in flight until d has passed.
func (g *Generator) ClosedLoop(conns int, d time.Duration, rec Record) {
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for time.Now().Before(deadline) {
				t0 := time.Now()
				body, ok := g.send()
				rec(w, body, t0, time.Since(t0), ok)
			}
		}(w)
	}
	wg.Wait()
}

// OpenLoop sends rate requests per second for d on a fixed schedule, from
// up to workers goroutines, and measures each request from its scheduled
// time (no coordinated omission). It stops early when stop is closed.
func (g *Generator) OpenLoop(rate, workers int, d time.Duration, stop <-chan struct{}, rec Record) {
	jobs := make(chan time.Time, rate)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for at := range jobs {
				body, ok := g.send()
				rec(w, body, at, time.Since(at), ok)
			}
		}(w)
	}
	interval := time.Second / time.Duration(rate)
	start := time.Now()
loop:
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= d {
			break
		}
		select {
		case <-stop:
			break loop
		case <-time.After(time.Until(at)):
		}
		jobs <- at
	}
	close(jobs)
	wg.Wait()
}

// Percentiles of a set of latencies.
type Percentiles struct{ P50, P99 time.Duration }

// Summarize sorts the latencies of all parts and returns their percentiles.
func Summarize(parts ...[]time.Duration) Percentiles {
	var all []time.Duration
	for _, p := range parts {
		all = append(all, p...)
	}
	if len(all) == 0 {
		return Percentiles{}
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	at := func(q float64) time.Duration { return all[min(len(all)-1, int(q*float64(len(all))))] }
	return Percentiles{P50: at(0.50), P99: at(0.99)}
}
