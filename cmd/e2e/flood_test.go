package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/tools/pdsim"
)

// TestRejectedWebhookFloodLogsBounded replays issue #10 item 3: a flood of
// rejected deliveries to a known user id (and some to an unknown one, and
// oversized ones) against the real hub and plugin at the production log
// level. Every rejection is counted in the log, but the log (the hub's
// lines and the plugin's, which reach the hub's output through go-plugin)
// grows by a bounded number of lines, not one or two per request.
func TestRejectedWebhookFloodLogsBounded(t *testing.T) {
	const n = 2000
	const interval = time.Second
	sim := startSim(t)
	seedAccount(sim)
	h := startHub(t, sim, hubOpts{backend: "sqlite", env: map[string]string{
		"HUB_LOG_LEVEL": "info", "HUB_WEBHOOK_REJECT_LOG_INTERVAL": interval.String(),
	}})
	connectWithSecret(t, h, whSecret)
	body := incidentBody("incident.triggered", "PFLOOD1", time.Now(), nil)
	big := bytes.Repeat([]byte("x"), 300<<10)
	before := len(h.Logs())

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	var next, unexpected atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > n {
					return
				}
				user, b, secret, want := alice.user, body, "not-the-secret", 401
				switch {
				case i%100 == 0:
					b, want = big, 413
				case i%10 == 0:
					user, want = "user-nobody", 404
				}
				req, err := pdsim.NewWebhookRequest(ctxT(t), h.URL+"/pagerduty/webhook/"+user, b, secret)
				if err != nil {
					t.Error(err)
					return
				}
				req.Header.Set("X-Webhook-Id", "flood")
				res, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
				if res.StatusCode != want {
					unexpected.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if u := unexpected.Load(); u != 0 {
		t.Fatalf("%d deliveries answered other than expected", u)
	}

	// Every rejection is counted: the immediate lines count one each, the
	// summaries their "rejected" field. Wait for the last summary.
	var counted int64
	var lines, rejectLines int
	var grown string
	count := func() bool {
		grown = h.Logs()[before:]
		counted, lines, rejectLines = 0, 0, 0
		for _, line := range strings.Split(strings.TrimSpace(grown), "\n") {
			if line == "" {
				continue
			}
			lines++
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) != nil {
				continue
			}
			switch m["@message"] {
			case "webhook rejected":
				counted++
				rejectLines++
			case "webhooks rejected":
				r, _ := m["rejected"].(float64)
				counted += int64(r)
				rejectLines++
			}
		}
		return counted >= n
	}
	for deadline := time.Now().Add(5 * interval); !count() && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if counted != n {
		t.Errorf("log counts %d rejections, want %d", counted, n)
	}
	perRequest := float64(len(grown)) / n
	t.Logf("%d rejected deliveries in %v: %d log lines (%d about rejections), %d bytes, %.2f bytes per request",
		n, elapsed.Round(time.Millisecond), lines, rejectLines, len(grown), perRequest)
	// One line at once, then at most one per interval (plus one for the
	// interval the flood ended in); before, every rejection wrote two lines
	// (about 765 bytes).
	if maxLines := 2 + int(elapsed/interval) + 1; rejectLines > maxLines {
		t.Errorf("%d log lines about rejections in %v, want at most %d", rejectLines, elapsed, maxLines)
	}
	if perRequest > 16 {
		t.Errorf("%.1f bytes of log per rejected request, want at most 16:\n%s", perRequest, grown[:min(len(grown), 4000)])
	}
	if strings.Contains(grown, whSecret) || strings.Contains(grown, "not-the-secret") {
		t.Error("a secret reached the log")
	}
}
