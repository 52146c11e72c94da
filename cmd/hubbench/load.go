package main

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aurora-hub/aurora-hub/plugins/pagerduty/pdsim"
	"github.com/valyala/fasthttp"
)

type signedBody struct {
	body []byte
	sig  string
	// incident is the PagerDuty incident id the body is about.
	incident string
}

var pdStatus = map[string]string{"incident.triggered": "triggered", "incident.acknowledged": "acknowledged", "incident.resolved": "resolved"}

// lifecycleBodies builds n distinct signed events over 1,000 incidents:
// each triggered, then acknowledged, then resolved (and again), so every
// request is a new event the hub must store and apply.
func lifecycleBodies(n int) []signedBody {
	out := make([]signedBody, n)
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
func stormBodies(n int) []signedBody {
	out := make([]signedBody, n)
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

func sign(inc pdsim.WebhookIncident, typ string, at time.Time, eventID string) signedBody {
	ev := pdsim.IncidentEvent(typ, inc).At(at)
	ev.ID = eventID
	b := ev.Body()
	return signedBody{body: b, sig: pdsim.Sign(secret, b), incident: inc.ID}
}

// load sends bodies in order (one pass at most, then again from the start).
type load struct {
	url    string
	bodies []signedBody
	next   atomic.Int64
	// accepted[i] is when body i was answered 202 (unix ns), when recorded.
	accepted []atomic.Int64
}

func newLoad(url string, bodies []signedBody, record bool) *load {
	l := &load{url: url, bodies: bodies}
	if record {
		l.accepted = make([]atomic.Int64, len(bodies))
	}
	return l
}

func (l *load) send(client *fasthttp.HostClient) bool {
	i := int(l.next.Add(1)-1) % len(l.bodies)
	b := l.bodies[i]
	req := fasthttp.AcquireRequest()
	res := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(res)
	req.SetRequestURI(l.url + "/pagerduty/webhook/" + userID)
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/json")
	req.Header.Set("X-PagerDuty-Signature", b.sig)
	req.Header.Set("User-Agent", pdsim.UserAgentV3)
	req.SetBodyRaw(b.body)
	if err := client.DoTimeout(req, res, 10*time.Second); err != nil {
		return false
	}
	ok := res.StatusCode() == fasthttp.StatusAccepted
	if ok && l.accepted != nil {
		l.accepted[i].Store(time.Now().UnixNano())
	}
	return ok
}

func hostClient(url string, conns int) *fasthttp.HostClient {
	return &fasthttp.HostClient{Addr: strings.TrimPrefix(url, "http://"), MaxConns: conns, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
}

// closedLoop keeps conns requests in flight for d.
func (l *load) closedLoop(conns int, d time.Duration) (ok, errs int64, p percentiles) {
	client := hostClient(l.url, conns)
	deadline := time.Now().Add(d)
	lat := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	var nOK, nErr atomic.Int64
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if l.send(client) {
					nOK.Add(1)
				} else {
					nErr.Add(1)
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	return nOK.Load(), nErr.Load(), summarize(lat)
}

// openLoop sends rate requests per second for d on a fixed schedule and
// measures each from its scheduled time (no coordinated omission). It
// returns when every request is answered.
func (l *load) openLoop(rate int, d time.Duration) (p percentiles, ok, errs int64) {
	const workers = 256
	client := hostClient(l.url, workers)
	jobs := make(chan time.Time, rate)
	lat := make([][]time.Duration, workers)
	var nOK, nErr atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for at := range jobs {
				if l.send(client) {
					nOK.Add(1)
				} else {
					nErr.Add(1)
				}
				lat[w] = append(lat[w], time.Since(at))
			}
		}(w)
	}
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= d {
			break
		}
		time.Sleep(time.Until(at))
		jobs <- at
	}
	close(jobs)
	wg.Wait()
	return summarize(lat), nOK.Load(), nErr.Load()
}

type percentiles struct{ p50, p99 time.Duration }

func summarize(parts [][]time.Duration) percentiles {
	var all []time.Duration
	for _, p := range parts {
		all = append(all, p...)
	}
	return quantiles(all)
}

func quantiles(all []time.Duration) percentiles {
	if len(all) == 0 {
		return percentiles{}
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	at := func(q float64) time.Duration { return all[min(len(all)-1, int(q*float64(len(all))))] }
	return percentiles{p50: at(0.50), p99: at(0.99)}
}
